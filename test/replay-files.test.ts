// Replays without a browser: the outline drawn on screenshots, the action's target, the folder layout written for an
// episode and read back for the report, the checks on a replay folder, the config key, and the viewer's markup.
import { describe, it, expect } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { drawOutline } from '../lib/env/highlight.ts';
import { decodePngToRgb, encodeRgbToPng, type RgbImage } from '../lib/env/server/png.ts';
import { loadConfig } from '../lib/io/config.ts';
import { readReplays } from '../lib/io/replay-catalog.ts';
import { checkReplayDir, taskFolder, type ReplayEpisodeFile, type ReplayIndex } from '../lib/io/replay-files.ts';
import { renderReport } from '../lib/io/report.ts';
import { actionTarget } from '../lib/rl/replay-capture.ts';
import { episodeTableRows, saveReplay } from '../lib/rl/replays.ts';
import type { RolloutEpisode, RolloutStep } from '../lib/rl/rollout.ts';
import { tempDir } from './util/temp-dir.ts';

const blank = (width: number, height: number): RgbImage => ({ width, height, data: new Uint8Array(width * height * 3).fill(255) });
const px = (img: RgbImage, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
const RED = [255, 32, 96];
const WHITE = [255, 255, 255];

/** A 40×20 PNG of one colour, standing in for a screenshot. */
const shot = (v: number) => {
  const img = blank(40, 20);
  img.data.fill(v);
  return encodeRgbToPng(img);
};

function step(action: string, over: Partial<RolloutStep> = {}): RolloutStep {
  return {
    promptIds: [],
    completionIds: [],
    oldLogprobs: [],
    truncated: false,
    promptText: `user: Click the button. </script><b>x</b>`,
    completionText: action,
    action,
    error: '',
    reward: 0,
    done: false,
    ...over,
  };
}

function episode(task: string, member: number, success: boolean, recorded = true): RolloutEpisode {
  const steps = [
    step("hover('4')", recorded ? { screenshot: { png: shot(200), target: { x: 1, y: 2, width: 3, height: 4 } } } : {}),
    step("click('4')", { reward: success ? 1 : 0, done: true, error: success ? '' : 'ValueError: nope', ...(recorded ? { screenshot: null } : {}) }),
  ];
  return {
    group: 0,
    member,
    task,
    seed: 7 + member,
    steps,
    reward: { reward: success ? 1 : 0, success, invalidActions: 0, steps: 2 } as RolloutEpisode['reward'],
    ...(recorded ? { finalScreenshot: { png: shot(100), target: null } } : {}),
  };
}

describe('outline on a screenshot', () => {
  it('draws a 3-pixel frame 2 pixels outside the box, leaves the inside alone, and clips to the image', () => {
    const img = blank(50, 40);
    expect(drawOutline(img, { x: 10, y: 10, width: 10, height: 8 })).toBe(true);
    // Box (10,10)–(20,18); gap 2, so the frame spans x 5..24, y 5..22 (3 pixels thick).
    expect(px(img, 5, 5)).toEqual(RED);
    expect(px(img, 7, 15)).toEqual(RED);
    expect(px(img, 24, 22)).toEqual(RED);
    expect(px(img, 8, 8)).toEqual(WHITE); // inside the frame, outside the box
    expect(px(img, 15, 14)).toEqual(WHITE); // the element itself
    expect(px(img, 4, 4)).toEqual(WHITE);
    expect(px(img, 25, 23)).toEqual(WHITE);
    // Scaled (device pixels); at the image's edge the frame moves inside rather than off the image.
    const hi = blank(30, 30);
    expect(drawOutline(hi, { x: 0, y: 0, width: 5, height: 5 }, 2)).toBe(true);
    expect(px(hi, 0, 0)).toEqual(RED);
    expect(px(hi, 0, 10)).toEqual(RED);
    expect(px(hi, 3, 3)).toEqual(WHITE);
    expect(px(hi, 16, 16)).toEqual(RED); // (5 + 2) × 2 + 3 = 17: the far edge spans 14..16
    expect(px(hi, 17, 17)).toEqual(WHITE);
    // Nothing to draw: empty or off-screen boxes.
    expect(drawOutline(blank(10, 10), { x: 2, y: 2, width: 0, height: 5 })).toBe(false);
    expect(drawOutline(blank(10, 10), { x: 100, y: 100, width: 5, height: 5 })).toBe(false);
  });

  it('the target of an action is its bid; actions without one and non-actions have none', () => {
    expect(actionTarget("click('12')")).toBe('12');
    expect(actionTarget("fill('a3', 'hi')")).toBe('a3');
    expect(actionTarget('scroll(0, 100)')).toBeNull();
    expect(actionTarget('I would click the button')).toBeNull();
  });
});

describe('replay folders', () => {
  it('writes index.json, episode.json and the PNGs, and reads them back for the report', () => {
    const root = tempDir('lfm2-replay-');
    const dir = join(root, 'rec');
    const eps = [episode('click-test', 0, true), episode('click-test', 1, false, false), episode('odd/task name', 0, false)];
    const index = saveReplay(dir, eps, { source: 'eval', step: null, note: 'tiny model' })!;
    // Only recorded episodes are written, numbered per task.
    expect(index.episodes.map((e) => `${e.task}:${e.episode}:${e.dir}`)).toEqual(['click-test:0:click-test/episode-0', 'odd/task name:0:odd_task_name/episode-0']);
    const onDisk = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as ReplayIndex;
    expect(onDisk).toMatchObject({ format: 'lfm2-rl-replay', version: 1, source: 'eval', step: null, note: 'tiny model' });
    expect(onDisk.tasks.map((r) => r.task)).toEqual(['click-test', 'odd/task name', 'all']);
    expect(onDisk.tasks[0].eval).toMatchObject({ episodes: 1, successRate: 1, meanSteps: 2 });
    const ep = JSON.parse(readFileSync(join(dir, 'click-test', 'episode-0', 'episode.json'), 'utf8')) as ReplayEpisodeFile;
    expect(ep.steps.map((s) => [s.action, s.screenshot, s.target])).toEqual([
      ["hover('4')", 'step-0.png', { x: 1, y: 2, width: 3, height: 4 }],
      ["click('4')", null, null], // a failed screenshot: the step is kept without an image
    ]);
    expect(ep).toMatchObject({ seed: 7, success: true, reward: 1, final_screenshot: 'final.png' });
    expect(decodePngToRgb(readFileSync(join(dir, 'click-test', 'episode-0', 'step-0.png'))).width).toBe(40);
    expect(existsSync(join(dir, 'click-test', 'episode-0', 'step-1.png'))).toBe(false);

    // Read back relative to a report one folder up (a run folder with replays/…).
    const recs = readReplays(root, root);
    expect(recs).toHaveLength(1);
    expect(recs[0].label).toBe('eval');
    expect(recs[0].episodes[0].steps[0].image).toBe('rec/click-test/episode-0/step-0.png');
    expect(recs[0].episodes[0].final).toBe('rec/click-test/episode-0/final.png');
    expect(recs[0].episodes[1].steps[0].image).toBe('rec/odd_task_name/episode-0/step-0.png');
  });

  it('finds training recordings by step, skips broken ones with a warning', () => {
    const run = tempDir('lfm2-replay-run-');
    saveReplay(join(run, 'replays', 'step-10', 'rollout'), [episode('click-test', 0, true)], { source: 'rollout', step: 10 });
    saveReplay(join(run, 'replays', 'step-0', 'eval'), [episode('click-test', 0, false)], { source: 'eval', step: 0 });
    saveReplay(join(run, 'replays', 'step-10', 'eval'), [episode('click-test', 0, true)], { source: 'eval', step: 10 });
    mkdirSync(join(run, 'replays', 'step-20', 'eval'), { recursive: true });
    writeFileSync(join(run, 'replays', 'step-20', 'eval', 'index.json'), '{"format": "lfm2-rl-replay", "episodes": [{"dir": "missing"}]}');
    const warnings: string[] = [];
    const recs = readReplays(join(run, 'replays'), run, (m) => warnings.push(m));
    expect(recs.map((r) => r.label)).toEqual(['step 0 · eval', 'step 10 · eval', 'step 10 · rollout']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/step-20/);
    // Replacing a step's recording (a resumed run) drops what was there.
    saveReplay(join(run, 'replays', 'step-10', 'eval'), [episode('other', 0, true)], { source: 'eval', step: 10, replace: true });
    expect(existsSync(join(run, 'replays', 'step-10', 'eval', 'click-test'))).toBe(false);
    expect(readReplays(join(run, 'replays'), run).find((r) => r.label === 'step 10 · eval')!.episodes[0].task).toBe('other');
    expect(readReplays(join(run, 'nowhere'), run)).toEqual([]);
  });

  it('refuses a replay folder that is a file or holds something, and names the flag', () => {
    const root = tempDir('lfm2-replay-check-');
    writeFileSync(join(root, 'file'), 'x');
    expect(() => checkReplayDir(join(root, 'file'), '--record')).toThrow(/--record '.*file' is a file, not a folder/);
    expect(() => checkReplayDir(root, '--record')).toThrow(/--record '.*' is not empty: choose a new or empty folder/);
    mkdirSync(join(root, 'empty'));
    expect(() => checkReplayDir(join(root, 'empty'))).not.toThrow();
    expect(() => checkReplayDir(join(root, 'new', 'deeper'))).not.toThrow();
    expect(() => saveReplay(root, [episode('click-test', 0, true)], { source: 'eval', step: null })).toThrow(/is not empty/);
    expect(taskFolder('..')).toBe('_..');
    expect(taskFolder('click-test')).toBe('click-test');
  });

  it('per-task table of recorded episodes: success with a Wilson interval, and an all row for several tasks', () => {
    const rows = episodeTableRows([episode('a', 0, true), episode('a', 1, false), episode('b', 0, true)]);
    expect(rows.map((r) => [r.task, r.eval?.episodes, r.eval?.successRate])).toEqual([['a', 2, 0.5], ['b', 1, 1], ['all', 3, 2 / 3]]);
    expect(rows[0].eval!.ciLow!).toBeLessThan(0.5);
    expect(episodeTableRows([])).toEqual([]);
  });
});

describe('record_episodes config key', () => {
  it('defaults to 0 (off), takes a whole number >= 0', () => {
    expect(loadConfig(null).record_episodes).toBe(0);
    expect(loadConfig(null, ['--record_episodes', '5']).record_episodes).toBe(5);
    expect(() => loadConfig(null, ['--record_episodes', '-1'])).toThrow(/record_episodes/);
    expect(() => loadConfig(null, ['--record_episodes', '2.5'])).toThrow(/record_episodes/);
  });
});

describe('report viewer markup', () => {
  it('only with recordings; episode text cannot end the data script; the per-task table is the shared one', () => {
    expect(renderReport([], { title: 't' })).not.toMatch(/rv-data/);
    const root = tempDir('lfm2-replay-report-');
    saveReplay(join(root, 'replays', 'step-0', 'eval'), [episode('click-test', 0, true)], { source: 'eval', step: 0 });
    const html = renderReport([], { title: 't', replays: readReplays(join(root, 'replays'), root) });
    expect(html).toMatch(/<h2>Episode replays<\/h2>/);
    expect(html).toMatch(/<table class="tasks">/);
    expect(html).not.toMatch(/No metrics logged yet/);
    const data = /<script type="application\/json" id="rv-data">([\s\S]*?)<\/script>/.exec(html)![1];
    expect(data).not.toMatch(/<\/script>/i);
    expect(JSON.parse(data)[0].episodes[0].steps[0].prompt).toMatch(/<\/script><b>x<\/b>$/);
  });
});
