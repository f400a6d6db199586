// record_episodes in a short tiny training run: the rounds and evaluations due are recorded under
// <run>/replays/step-<S>/{rollout,eval}/ (first member of each group for rollouts), report.html gets the viewer, and
// the run's episodes are those of the same run without recording.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl } from '../lib/io/metrics.ts';
import type { ReplayIndex } from '../lib/io/replay-files.ts';
import { trainRun } from '../lib/rl/run.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig } from './trainer-helpers.ts';

afterAll(removeTempRoots);

const SHORT = ['--max_steps', '2', '--warmup_steps', '0', '--per_device_train_batch_size', '4', '--num_generations', '2', '--eval_steps', '2', '--eval_episodes', '2', '--save_steps', '0'];

describe('record_episodes during training', () => {
  it('records due rounds and evaluations, shows them in the report, and trains exactly as without', async () => {
    const root = tempRoot('train-record');
    const recorded = await trainRun(tinyConfig(root, [...SHORT, '--run_name', 'rec', '--record_episodes', '2']), { out: new CaptureStream(), handleSignals: false });
    const plain = await trainRun(tinyConfig(root, [...SHORT, '--run_name', 'plain']), { out: new CaptureStream(), handleSignals: false });
    const replays = join(recorded.runDir, 'replays');
    expect(readdirSync(replays).sort()).toEqual(['step-0', 'step-2']);
    expect(readdirSync(join(replays, 'step-0'))).toEqual(['eval']);
    expect(readdirSync(join(replays, 'step-2')).sort()).toEqual(['eval', 'rollout']);
    const rollout = JSON.parse(readFileSync(join(replays, 'step-2', 'rollout', 'index.json'), 'utf8')) as ReplayIndex;
    expect(rollout).toMatchObject({ source: 'rollout', step: 2 });
    // 2 groups of 2 per round: the first member of each.
    expect(rollout.episodes.map((e) => e.member)).toEqual([0, 0]);
    const ev = JSON.parse(readFileSync(join(replays, 'step-2', 'eval', 'index.json'), 'utf8')) as ReplayIndex;
    expect(ev.episodes).toHaveLength(2);
    expect(existsSync(join(replays, 'step-2', 'eval', 'click-test', 'episode-0', 'step-0.png'))).toBe(true);
    expect(existsSync(join(plain.runDir, 'replays'))).toBe(false);
    const html = readFileSync(recorded.reportPath, 'utf8');
    expect(html).toMatch(/Episode replays/);
    expect(html).toContain('replays/step-2/rollout/click-test/episode-0/step-0.png');
    // Same episodes, same rewards, same evaluation.
    const eps = (dir: string) => readJsonl<Record<string, unknown>>(join(dir, 'episodes.jsonl')).map((r) => [r.seed, r.action, r.reward]);
    expect(eps(recorded.runDir)).toEqual(eps(plain.runDir));
    expect(recorded.lastEval!.episodes.map((e) => e.reward.reward)).toEqual(plain.lastEval!.episodes.map((e) => e.reward.reward));
  }, 120_000);
});
