// Recording episodes on the real environment with a tiny random model: a screenshot outlines the action's target and
// leaves the page as it was; an evaluation gives the same episodes (seeds, actions, rewards) with and without
// recording; `lfm2-rl eval --record DIR` writes the replay folder and a report whose viewer shows it, and refuses a
// folder it must not write into before loading anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { presetConfig } from '../lib/engine/presets.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { decodePngToRgb } from '../lib/env/server/png.ts';
import { loadConfig, type TrainConfig } from '../lib/io/config.ts';
import type { ReplayEpisodeFile, ReplayIndex } from '../lib/io/replay-files.ts';
import { run as evalCli } from '../lib/cli/eval.ts';
import { loadEvalPolicy, type EvalPolicy } from '../lib/rl/engine-policy.ts';
import { openEnvironment, type EnvironmentHandle } from '../lib/rl/environment.ts';
import { evaluate, type EvalResult } from '../lib/rl/evaluate.ts';
import { EpisodeSlots } from '../lib/rl/rollout.ts';
import { rolloutOptions } from '../lib/rl/trainer.ts';
import { tempDir } from './util/temp-dir.ts';

const CONFIG = 'configs/tiny_click_test.yaml';
const root = tempDir('lfm2-eval-record-');
const modelDir = join(root, 'model');
let config: TrainConfig;
let policy: EvalPolicy;
let env: EnvironmentHandle;

beforeAll(async () => {
  writeRandomModel(modelDir, presetConfig('tiny'), { seed: 0, dtype: 'f32' });
  config = loadConfig(CONFIG, ['--model', modelDir]);
  policy = await loadEvalPolicy(modelDir, { device: 'cpu', threads: 2, precision: config.precision });
  env = await openEnvironment(config);
});

afterAll(async () => {
  await env?.close();
  policy?.close();
});

const RED = [255, 32, 96];
const isRed = (img: { width: number; data: Uint8Array }, x: number, y: number) => {
  const i = (Math.round(y) * img.width + Math.round(x)) * 3;
  return img.data[i] === RED[0] && img.data[i + 1] === RED[1] && img.data[i + 2] === RED[2];
};

async function runEval(record: boolean): Promise<EvalResult> {
  const slots = new EpisodeSlots(env.factory);
  try {
    const opts = rolloutOptions(config, policy.tokenizer, policy.generator, () => undefined);
    opts.sampling = { ...opts.sampling, temperature: 1 };
    if (record) opts.record = () => true;
    return await evaluate(opts, slots, { tasks: ['click-test'], episodesPerTask: 4, seed: 3 });
  } finally {
    await slots.close();
  }
}

describe('recording episodes', () => {
  it('a screenshot outlines the target and leaves the page unchanged', async () => {
    const ep = await env.factory.newEpisode();
    try {
      const obs = await ep.reset({ task: 'click-test', seed: 5 });
      const bid = /\[(\d+)\] button/.exec(obs.axtree_txt)![1];
      const shot = await ep.capture!(bid);
      expect(shot.target).not.toBeNull();
      const img = decodePngToRgb(shot.png);
      expect([img.width, img.height]).toEqual([500, 320]);
      const t = shot.target!;
      // The frame is 3 px wide, 2 px outside the box: its middle line is 3.5 px from the box on every side.
      expect(isRed(img, t.x - 3.5, t.y + t.height / 2)).toBe(true);
      expect(isRed(img, t.x + t.width + 3.5, t.y + t.height / 2)).toBe(true);
      expect(isRed(img, t.x + t.width / 2, t.y - 3.5)).toBe(true);
      expect(isRed(img, t.x + t.width / 2, t.y + t.height / 2)).toBe(false);
      // Nothing outlined without a target or for a bid not on the page; the page observes as before.
      const plain = await ep.capture!(null);
      expect(plain.target).toBeNull();
      expect(decodePngToRgb(plain.png).data.some((_, i, d) => i % 3 === 0 && d[i] === RED[0] && d[i + 1] === RED[1] && d[i + 2] === RED[2])).toBe(false);
      expect((await ep.capture!('99999')).target).toBeNull();
      const after = await ep.observe();
      expect(after.axtree_txt).toBe(obs.axtree_txt);
      expect(after.focused_element_bid).toBe(obs.focused_element_bid);
    } finally {
      await ep.close();
    }
  });

  it('an evaluation gives the same episodes with and without recording', async () => {
    const plain = await runEval(false);
    const recorded = await runEval(true);
    const summary = (r: EvalResult) => r.episodes.map((e) => ({ seed: e.seed, actions: e.steps.map((s) => s.action), rewards: e.steps.map((s) => s.reward), reward: e.reward.reward }));
    expect(summary(recorded)).toEqual(summary(plain));
    expect(plain.episodes.every((e) => e.finalScreenshot === undefined && e.steps.every((s) => s.screenshot === undefined))).toBe(true);
    // Every recorded step has its image; a step acting on an element has the element's box.
    const steps = recorded.episodes.flatMap((e) => e.steps);
    expect(steps.every((s) => s.screenshot)).toBe(true);
    expect(recorded.episodes.every((e) => e.finalScreenshot)).toBe(true);
    const targeted = steps.filter((s) => /^(click|hover|focus)\(/.test(s.action));
    expect(targeted.length).toBeGreaterThan(0);
    expect(targeted.every((s) => s.screenshot!.target !== null)).toBe(true);
  });

  it('lfm2-rl eval --record writes the replays and a report; a file or a non-empty folder is refused first', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    const badModel = join(root, 'no-model-here');
    // Refused before the (missing) model is looked at.
    await expect(evalCli(['--model', badModel, '--record', file])).rejects.toThrow(/--record '.*a-file' is a file, not a folder/);
    await expect(evalCli(['--model', badModel, '--record', root])).rejects.toThrow(/--record '.*' is not empty/);
    await expect(evalCli(['--model', badModel, '--record'])).rejects.toThrow(/--record needs a folder/);

    const dir = join(root, 'replays');
    const code = await evalCli(['--model', modelDir, '--config', CONFIG, '--episodes', '3', '--temperature', '1', '--seed', '3', '--json', join(root, 'eval.json'), '--record', dir]);
    expect(code).toBe(0);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as ReplayIndex;
    expect(index).toMatchObject({ source: 'eval', step: null });
    expect(index.episodes.map((e) => e.dir)).toEqual(['click-test/episode-0', 'click-test/episode-1', 'click-test/episode-2']);
    const summary = JSON.parse(readFileSync(join(root, 'eval.json'), 'utf8'));
    expect(index.episodes.filter((e) => e.success).length).toBe(summary.tasks[0].successes);
    expect(index.tasks[0].eval).toMatchObject({ episodes: 3, successRate: summary.tasks[0].successRate });
    const ep = JSON.parse(readFileSync(join(dir, 'click-test', 'episode-0', 'episode.json'), 'utf8')) as ReplayEpisodeFile;
    expect(ep.steps.length).toBeGreaterThan(0);
    expect(ep.steps[0].prompt).toMatch(/Click the button/);
    for (const s of ep.steps) expect(existsSync(join(dir, 'click-test', 'episode-0', s.screenshot!))).toBe(true);
    expect(existsSync(join(dir, 'click-test', 'episode-0', 'final.png'))).toBe(true);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toMatch(/Episode replays/);
    expect(html).toContain('"image":"click-test/episode-0/step-0.png"');
  });
});
