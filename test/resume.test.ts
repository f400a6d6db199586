// Resume equals uninterrupted: a run stopped after step 2 (as Ctrl-C does: checkpoint, clean exit) and resumed
// reproduces the uninterrupted run's metrics and weights exactly; a half-written newer checkpoint is skipped with a
// warning.
import { afterAll, describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { COMPLETE_MARKER } from '../lib/io/checkpoint.ts';
import { trainRun } from '../lib/rl/run.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig } from './trainer-helpers.ts';

// Four optimizer steps of the tiny run, small rounds so the test stays short; no evaluation (it does not change
// training) except that eval/seconds would differ anyway.
const ARGS = ['--max_steps', '4', '--save_steps', '2', '--save_total_limit', 'null', '--eval_steps', '0', '--per_device_train_batch_size', '8', '--num_generations', '4'];

/** Metric values that must match exactly (everything except wall-clock times). */
function deterministic(rows: MetricRow[]): Array<Record<string, unknown>> {
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'time' && !k.startsWith('timing/') && k !== 'step_time')));
}

afterAll(removeTempRoots);

describe('resume', () => {
  it('a stopped and resumed run equals the uninterrupted run; a half-written checkpoint is skipped', async () => {
    const root = tempRoot('resume');
    const full = await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'full']), { out: new CaptureStream(), handleSignals: false });
    expect(full.state.step).toBe(4);
    expect(full.stopped).toBe(false);

    // Interrupted run: stop requested after step 2 → checkpoint-2 and a clean return.
    let steps = 0;
    const part = await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'part']), {
      out: new CaptureStream(),
      handleSignals: false,
      shouldStop: () => steps++ >= 2,
    });
    expect(part.stopped).toBe(true);
    expect(part.state.step).toBe(2);
    expect(existsSync(join(part.runDir, 'checkpoint-2', COMPLETE_MARKER))).toBe(true);

    // A newer checkpoint whose save was cut short (files, no completion marker).
    const half = join(part.runDir, 'checkpoint-3');
    mkdirSync(half);
    writeFileSync(join(half, 'optimizer.safetensors'), 'partial');

    const out = new CaptureStream();
    const resumed = await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'part', '--resume_from_checkpoint', 'latest']), { out, handleSignals: false });
    expect(out.text).toMatch(/skipping .*checkpoint-3: incomplete/);
    expect(out.text).toMatch(/resumed from .*checkpoint-2 at step 2/);
    expect(resumed.state.step).toBe(4);

    const a = deterministic(readJsonl<MetricRow>(join(full.runDir, 'metrics.jsonl')));
    const b = deterministic(readJsonl<MetricRow>(join(resumed.runDir, 'metrics.jsonl')));
    expect(b.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(b).toEqual(a);
    // Same weights and optimizer state, byte for byte.
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      expect(readFileSync(join(resumed.runDir, 'checkpoint-4', f)).equals(readFileSync(join(full.runDir, 'checkpoint-4', f)))).toBe(true);
    }
    // Episodes logged once per step, none duplicated by the resume.
    const eps = readJsonl<{ step: number }>(join(resumed.runDir, 'episodes.jsonl'));
    const epsFull = readJsonl<{ step: number }>(join(full.runDir, 'episodes.jsonl'));
    expect(eps.length).toBe(epsFull.length);
  }, 240_000);

  it('a curriculum over two tasks resumes exactly: its per-task history travels in the checkpoint', async () => {
    const root = tempRoot('resume-curriculum');
    // Groups of 2 keep the three runs short; reward variance (the curriculum's signal) still varies between groups.
    const args = [...ARGS, '--per_device_train_batch_size', '4', '--num_generations', '2', '--tasks', 'click-test:1,click-button:2', '--task_sampling', 'curriculum', '--curriculum_window', '2'];
    const fullOut = new CaptureStream();
    const full = await trainRun(tinyConfig(root, [...args, '--run_name', 'full']), { out: fullOut, handleSignals: false });
    let steps = 0;
    const part = await trainRun(tinyConfig(root, [...args, '--run_name', 'part']), { out: new CaptureStream(), handleSignals: false, shouldStop: () => steps++ >= 2 });
    expect(part.state.step).toBe(2);
    // Two rounds of two groups are in the checkpoint's loop state.
    const saved = JSON.parse(JSON.parse(readFileSync(join(part.runDir, 'checkpoint-2', 'trainer_state.json'), 'utf8')).extra).loop.taskHistory;
    expect(Object.values(saved as Record<string, { groups: number }>).reduce((a, r) => a + r.groups, 0)).toBe(4);

    const out = new CaptureStream();
    const resumed = await trainRun(tinyConfig(root, [...args, '--run_name', 'part', '--resume_from_checkpoint', 'latest']), { out, handleSignals: false });
    expect(resumed.state.step).toBe(4);
    // Without the saved history the resumed rounds would count only their own groups (4 instead of 8) and draw with
    // a fresh curriculum.
    expect(resumed.state.taskHistory).toEqual(full.state.taskHistory);
    const a = deterministic(readJsonl<MetricRow>(join(full.runDir, 'metrics.jsonl')));
    const b = deterministic(readJsonl<MetricRow>(join(resumed.runDir, 'metrics.jsonl')));
    expect(b).toEqual(a);
    for (const r of a) expect(Number(r['train/click-test/sampling_prob']) + Number(r['train/click-button/sampling_prob'])).toBeCloseTo(1, 12);
    expect(readFileSync(join(resumed.runDir, 'checkpoint-4', 'model.safetensors')).equals(readFileSync(join(full.runDir, 'checkpoint-4', 'model.safetensors')))).toBe(true);
    // The end-of-run table counts the whole run in both.
    const table = (text: string) => text.slice(text.indexOf('per task ('), text.lastIndexOf('finished at step'));
    expect(table(out.text)).toMatch(/^all\s+8\s+/m);
    expect(table(out.text)).toBe(table(fullOut.text));
  }, 240_000);
});
