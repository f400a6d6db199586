// async_rollouts end to end on the tiny model and the real browser: a run finishes, runs the same twice (metrics,
// episodes, weights and optimizer state), and a run stopped after step 2 and resumed from its checkpoint (which
// carries the round already collected for step 3) equals the uninterrupted one. With LoRA on the CPU the adapter is
// merged and unmerged as generation and training take turns; that run is deterministic too.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMPLETE_MARKER } from '../lib/io/checkpoint.ts';
import { readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { NEXT_ROUND_FILE, parseRound } from '../lib/rl/collected-round.ts';
import { trainRun } from '../lib/rl/run.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig } from './trainer-helpers.ts';

const ARGS = ['--max_steps', '4', '--save_steps', '2', '--save_total_limit', 'null', '--eval_steps', '0', '--per_device_train_batch_size', '8', '--num_generations', '4', '--async_rollouts', 'true'];

/** Metric values that must match exactly (everything except wall-clock times). */
function deterministic(rows: MetricRow[]): Array<Record<string, unknown>> {
  const clock = (k: string) => k === 'time' || k.startsWith('timing/') || k === 'step_time' || k === 'async/overlap_s' || k === 'async/wait_s';
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !clock(k))));
}

const same = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

afterAll(removeTempRoots);

describe('async rollouts, end to end', () => {
  it('deterministic; a stopped and resumed run equals the uninterrupted one', async () => {
    const root = tempRoot('async');
    const run = (name: string, extra: string[] = [], shouldStop?: () => boolean) =>
      trainRun(tinyConfig(root, [...ARGS, '--run_name', name, ...extra]), { out: new CaptureStream(), handleSignals: false, ...(shouldStop ? { shouldStop } : {}) });
    const full = await run('full');
    expect(full.state.step).toBe(4);
    const rows = readJsonl<MetricRow>(join(full.runDir, 'metrics.jsonl'));
    expect(rows.map((r) => r['async/staleness'])).toEqual([0, 1, 1, 1]);
    expect(rows.slice(0, 3).every((r) => typeof r['async/overlap_s'] === 'number' && r['async/overlap_s'] > 0)).toBe(true);
    // checkpoint-2 carries round 2, collected during step 2 with the weights before it; the last one carries none.
    const ahead = parseRound(readFileSync(join(full.runDir, 'checkpoint-2', NEXT_ROUND_FILE), 'utf8'), NEXT_ROUND_FILE);
    expect([ahead.round, ahead.staleness, ahead.episodes.length]).toEqual([2, 1, 8]);
    expect(existsSync(join(full.runDir, 'checkpoint-4', NEXT_ROUND_FILE))).toBe(false);

    const again = await run('again');
    expect(deterministic(readJsonl<MetricRow>(join(again.runDir, 'metrics.jsonl')))).toEqual(deterministic(rows));
    expect(readFileSync(join(again.runDir, 'episodes.jsonl'), 'utf8')).toBe(readFileSync(join(full.runDir, 'episodes.jsonl'), 'utf8'));
    for (const f of ['model.safetensors', 'optimizer.safetensors']) expect(same(join(again.runDir, 'checkpoint-4', f), join(full.runDir, 'checkpoint-4', f))).toBe(true);

    let steps = 0;
    const part = await run('part', [], () => steps++ >= 2);
    expect(part.state.step).toBe(2);
    expect(existsSync(join(part.runDir, 'checkpoint-2', COMPLETE_MARKER))).toBe(true);
    expect(existsSync(join(part.runDir, 'checkpoint-2', NEXT_ROUND_FILE))).toBe(true);
    const out = new CaptureStream();
    const resumed = await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'part', '--resume_from_checkpoint', 'latest']), { out, handleSignals: false });
    expect(out.text).toMatch(/resumed from .*checkpoint-2 at step 2/);
    expect(out.text).not.toMatch(/collected ahead is not used/);
    expect(resumed.state.step).toBe(4);
    const b = deterministic(readJsonl<MetricRow>(join(resumed.runDir, 'metrics.jsonl')));
    expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(b).toEqual(deterministic(rows));
    for (const f of ['model.safetensors', 'optimizer.safetensors']) expect(same(join(resumed.runDir, 'checkpoint-4', f), join(full.runDir, 'checkpoint-4', f))).toBe(true);
    expect(readFileSync(join(resumed.runDir, 'episodes.jsonl'), 'utf8')).toBe(readFileSync(join(full.runDir, 'episodes.jsonl'), 'utf8'));

    // The same checkpoint resumed without async_rollouts drops the round collected ahead, saying so.
    const syncOut = new CaptureStream();
    await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'part', '--resume_from_checkpoint', join(part.runDir, 'checkpoint-2'), '--async_rollouts', 'false', '--max_steps', '3']), { out: syncOut, handleSignals: false });
    expect(syncOut.text).toMatch(/round collected ahead is not used \(async_rollouts is off\)/);
  }, 400_000);

  it('LoRA on the CPU (adapter merged for each generation turn): the same run twice', async () => {
    const root = tempRoot('async-lora');
    const lora = ['--use_peft', 'true', '--lora.r', '4', '--lora.target_modules', 'q_proj,in_proj,w2', '--learning_rate', '1e-2', '--max_steps', '3', '--save_steps', '0'];
    const a = await trainRun(tinyConfig(root, [...ARGS, ...lora, '--run_name', 'a']), { out: new CaptureStream(), handleSignals: false });
    const b = await trainRun(tinyConfig(root, [...ARGS, ...lora, '--run_name', 'b']), { out: new CaptureStream(), handleSignals: false });
    const rows = readJsonl<MetricRow>(join(a.runDir, 'metrics.jsonl'));
    expect(rows.map((r) => r['async/staleness'])).toEqual([0, 1, 1]);
    expect(deterministic(readJsonl<MetricRow>(join(b.runDir, 'metrics.jsonl')))).toEqual(deterministic(rows));
    expect(same(join(a.runDir, 'checkpoint-3', 'adapter_model.safetensors'), join(b.runDir, 'checkpoint-3', 'adapter_model.safetensors'))).toBe(true);
    expect(readFileSync(join(b.runDir, 'episodes.jsonl'), 'utf8')).toBe(readFileSync(join(a.runDir, 'episodes.jsonl'), 'utf8'));
  }, 300_000);
});
