// The episode viewer of report.html in a real headless Chromium: the report renders, its screenshots load from the
// replay folders beside it, the controls step forward and back (buttons and arrow keys) and switch recording and
// episode, and the page logs no console error and throws nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chromiumArgs, findChromium } from '../lib/env/browser.ts';
import { encodeRgbToPng } from '../lib/env/server/png.ts';
import { writeReport } from '../lib/io/report.ts';
import { saveReplay } from '../lib/rl/replays.ts';
import type { RolloutEpisode, RolloutStep } from '../lib/rl/rollout.ts';
import { tempDir } from './util/temp-dir.ts';

/** A w×h PNG of one grey level. */
function png(w: number, h: number, v: number): Buffer {
  return encodeRgbToPng({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) });
}

function step(action: string, over: Partial<RolloutStep>): RolloutStep {
  return { promptIds: [], completionIds: [], oldLogprobs: [], truncated: false, promptText: `user: page for ${action}`, completionText: action, action, error: '', reward: 0, done: false, ...over };
}

function episode(task: string, seed: number, success: boolean): RolloutEpisode {
  return {
    group: 0,
    member: 0,
    task,
    seed,
    steps: [
      step("hover('4')", { screenshot: { png: png(60, 30, 200), target: null } }),
      step("click('4')", { reward: success ? 1 : 0, done: true, error: success ? '' : "ValueError: Could not find element with bid \"4\"", screenshot: null }),
    ],
    reward: { reward: success ? 1 : 0, success } as RolloutEpisode['reward'],
    finalScreenshot: { png: png(60, 30, 90), target: null },
  };
}

let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  const run = tempDir('lfm2-viewer-');
  saveReplay(join(run, 'replays', 'step-0', 'eval'), [episode('click-test', 11, false)], { source: 'eval', step: 0 });
  saveReplay(join(run, 'replays', 'step-5', 'eval'), [episode('click-test', 11, true), episode('click-test', 12, false), episode('focus-text', 13, true)], { source: 'eval', step: 5 });
  const report = writeReport(run, { title: 'viewer test' });
  browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: chromiumArgs() });
  page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(pathToFileURL(report).href);
});

afterAll(async () => {
  await browser?.close();
});

const text = (id: string) => page.locator(`#${id}`).innerText();
const imageLoaded = () => page.locator('#rv-img').evaluate((img: HTMLImageElement) => (img.hidden ? 0 : img.complete ? img.naturalWidth : -1));

describe('report.html episode viewer', () => {
  it('renders, steps through an episode and switches recordings, with no console or page errors', async () => {
    await expect(page.locator('h2', { hasText: 'Episode replays' }).isVisible()).resolves.toBe(true);
    // The newest recording is shown first, with its per-task table.
    expect(await page.locator('#rv-rec option').allInnerTexts()).toEqual(['step 0 · eval (1 episode)', 'step 5 · eval (3 episodes)']);
    expect(await page.locator('#rv-rec').inputValue()).toBe('1');
    expect(await page.locator('#rv-task option').allInnerTexts()).toEqual(['click-test', 'focus-text']);
    expect(await page.locator('.rv-table:not([hidden])').count()).toBe(1);
    expect(await page.locator('.rv-table:not([hidden]) td').first().innerText()).toBe('click-test');
    expect(await text('rv-step')).toBe('step 1 of 2');
    expect(await text('rv-action')).toBe("hover('4')");
    await page.waitForFunction(() => (document.getElementById('rv-img') as HTMLImageElement).complete);
    expect(await imageLoaded()).toBe(60);
    expect(await page.locator('#rv-prev').isDisabled()).toBe(true);

    await page.locator('#rv-next').click();
    expect(await text('rv-step')).toBe('step 2 of 2');
    expect(await text('rv-action')).toBe("click('4')");
    expect(await text('rv-reward')).toBe('1');
    expect(await text('rv-done')).toBe('true');
    expect(await page.locator('#rv-noimg').isVisible()).toBe(true); // this step's screenshot failed
    await page.locator('#rv-next').click();
    expect(await text('rv-step')).toBe('after the last step (2 steps)');
    expect(await text('rv-reward')).toMatch(/episode reward 1 \(solved\)/);
    await page.waitForFunction(() => (document.getElementById('rv-img') as HTMLImageElement).complete);
    expect(await imageLoaded()).toBe(60);
    expect(await page.locator('#rv-next').isDisabled()).toBe(true);
    // Back with the arrow key.
    await page.locator('body').press('ArrowLeft');
    expect(await text('rv-step')).toBe('step 2 of 2');

    // Another episode starts at its first step; its error is shown.
    await page.locator('#rv-ep').selectOption({ label: 'episode 1 · seed 12 · failed · reward 0' });
    expect(await text('rv-step')).toBe('step 1 of 2');
    await page.locator('#rv-next').click();
    expect(await text('rv-error')).toMatch(/Could not find element with bid "4"/);
    // Another task, then the other recording (its table replaces this one).
    await page.locator('#rv-task').selectOption('focus-text');
    expect(await page.locator('#rv-ep option').allInnerTexts()).toEqual(['episode 0 · seed 13 · solved · reward 1']);
    await page.locator('#rv-rec').selectOption('0');
    expect(await page.locator('#rv-ep option').allInnerTexts()).toEqual(['episode 0 · seed 11 · failed · reward 0']);
    expect(await page.locator('.rv-table:not([hidden])').count()).toBe(1);
    expect(await page.locator('.rv-table[data-rec="0"]').isVisible()).toBe(true);
    expect(problems).toEqual([]);
  });
});
