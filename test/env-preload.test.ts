// Real MiniWoB++ pages that do not reset in place are loaded again at every reset (what BrowserGym does); with
// preloadPages the load happens in the background while the previous episode runs, on a second page that the next
// reset takes over. What a reset shows must be exactly a fresh load for the same seed: a page that counts its
// episodes in a global shows 1 every time (starting a second episode on a used page would show 2).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import type { Episode, Observation } from '../lib/env/types.ts';
import { miniwobStubPage } from './miniwob-stub-page.ts';

// MiniWoB-protocol page: seeded labels (a small LCG behind Math.seedrandom), and a load-time counter of episodes.
const COUNTING_PAGE = miniwobStubPage({
  title: 'Counting Task',
  seedrandom: String.raw`function (seed) {
  var s = (Number(seed) >>> 0) || 1;
  Math.random = function () { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
}`,
  globals: 'var episodes = 0;',
  genProblem: String.raw`function genProblem() {
  episodes += 1;
  var words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
  var pick = function () { return words[Math.floor(Math.random() * words.length)] + Math.floor(Math.random() * 100); };
  var target = pick();
  document.getElementById('query').textContent = 'Click ' + target + '.';
  document.getElementById('area').innerHTML = '<div id="count">Episode ' + episodes + '</div>' +
    '<button id="a">' + pick() + '</button><button id="t">' + target + '</button><button id="b">' + pick() + '</button>';
  document.getElementById('t').onclick = function () { core.endEpisode(1, true); };
}`,
});

describe('preloaded real MiniWoB++ pages', () => {
  let dir: string;
  let pool: EnvPool;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'miniwob-preload-'));
    const html = join(dir, 'miniwob', 'html', 'miniwob');
    mkdirSync(html, { recursive: true });
    writeFileSync(join(html, 'click-test.html'), COUNTING_PAGE);
    writeFileSync(join(html, 'click-button.html'), COUNTING_PAGE.replace('Counting Task', 'Other Task'));
    // No task resets in place here: these are the pages loaded at every reset.
    pool = await EnvPool.launch({ miniwobUrl: pathToFileURL(html).href + '/', inPlaceRealTasks: new Map() });
  });
  afterAll(async () => {
    await pool?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Waits until the episode's preloaded page (if any) has finished loading. */
  const spareReady = (ep: Episode) => (ep as unknown as { spare?: { ready: Promise<unknown> } }).spare?.ready;
  const stats = (ep: Episode) => ep as unknown as { pageLoads: number; preloadedPageLoads: number };

  it('the next reset starts on the preloaded page and shows exactly a fresh load', async () => {
    const ep = await pool.newEpisode();
    const plain = await pool.newEpisode({ preloadPages: false });
    try {
      const seen: Observation[] = [];
      for (let i = 0; i < 3; i++) {
        seen.push(await ep.reset({ task: 'click-test', seed: 5 }));
        await spareReady(ep);
      }
      const fresh = await plain.reset({ task: 'click-test', seed: 5 });
      for (const o of seen) {
        expect(o.axtree_txt).toBe(fresh.axtree_txt);
        expect(o.goal).toBe(fresh.goal);
        expect(o.axtree_txt).toContain("StaticText 'Episode 1'");
      }
      expect(stats(ep)).toMatchObject({ pageLoads: 3, preloadedPageLoads: 2 });
      expect(stats(plain)).toMatchObject({ pageLoads: 1, preloadedPageLoads: 0 });
      // Another seed is another page; the episode plays as usual on the preloaded page.
      const other = await ep.reset({ task: 'click-test', seed: 6 });
      expect(other.goal).not.toBe(fresh.goal);
      const target = /^Click (\w+)\.$/.exec(other.goal)![1]!;
      const bid = new RegExp(`\\[(\\d+)\\] button '${target}'`).exec(other.axtree_txt)![1]!;
      expect(await ep.step(`click('${bid}')`)).toMatchObject({ reward: 1, done: true });
    } finally {
      await Promise.all([ep.close(), plain.close()]);
    }
  });

  it('a reset of another task drops the preloaded page; closing leaves no page behind', async () => {
    const ep = await pool.newEpisode();
    await ep.reset({ task: 'click-test', seed: 1 });
    await spareReady(ep);
    expect((await pool.liveTargets()).pages).toBe(2);
    const o = await ep.reset({ task: 'click-button', seed: 1 });
    expect(o.axtree_txt).toContain("RootWebArea 'Other Task'");
    expect(stats(ep).preloadedPageLoads).toBe(0);
    await spareReady(ep);
    // The page of this episode and the one preloaded for its next reset; the click-test ones are gone.
    for (let i = 0; i < 50 && (await pool.liveTargets()).pages !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await pool.liveTargets()).pages).toBe(2);
    await ep.close();
    for (let i = 0; i < 50 && (await pool.liveTargets()).pages !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await pool.liveTargets()).pages).toBe(0);
  });

  it('preloadPages: false keeps one page per episode', async () => {
    const ep = await pool.newEpisode({ preloadPages: false });
    await ep.reset({ task: 'click-test', seed: 1 });
    await ep.reset({ task: 'click-test', seed: 2 });
    expect((await pool.liveTargets()).pages).toBe(1);
    await ep.close();
  });
});

// With a real MiniWoB++ checkout (MINIWOB_URL, e.g. file:///…/miniwob-plusplus/miniwob/html/miniwob/): for a spread of
// tasks, the preloaded reset shows what a fresh load shows for the same seed.
const checkout = process.env.MINIWOB_URL;
describe.skipIf(!checkout)('preloaded pages of a real MiniWoB++ checkout', () => {
  const tasks = ['click-test', 'click-button', 'enter-text', 'book-flight', 'click-checkboxes', 'choose-list',
    'login-user', 'click-dialog', 'click-tab-2', 'social-media', 'use-autocomplete', 'email-inbox'];
  it(`${tasks.length} tasks × 2 seeds: the same observation as a fresh load`, { timeout: 300_000 }, async () => {
    const pool = await EnvPool.launch({ miniwobUrl: checkout, pageTimeoutMs: 30_000 });
    try {
      const pre = await pool.newEpisode({ inPlaceRealTasks: new Map() });
      const plain = await pool.newEpisode({ inPlaceReset: false, preloadPages: false });
      for (const task of tasks) {
        for (const seed of [3, 4]) {
          await pre.reset({ task, seed });
          await (pre as unknown as { spare?: { ready: Promise<unknown> } }).spare?.ready;
          const a = await pre.reset({ task, seed });
          const b = await plain.reset({ task, seed });
          expect(a.goal, `${task} ${seed}`).toBe(b.goal);
          expect(a.axtree_txt, `${task} ${seed}`).toBe(b.axtree_txt);
        }
      }
      expect((pre as unknown as { preloadedPageLoads: number }).preloadedPageLoads).toBeGreaterThanOrEqual(tasks.length * 2);
    } finally {
      await pool.close();
    }
  });
});
