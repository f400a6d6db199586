// Every real MiniWoB++ task that resets in place (lib/env/in-place-tasks.ts) against a fresh load, on a real checkout
// (MINIWOB_URL; skipped otherwise, saying so): after an episode of another seed that clicked and typed around the
// page, the in-place reset of a seed shows what loading the page shows for that seed (goal, axtree_txt, pruned HTML,
// focus, URL), the page runs as many intervals and long timeouts, and the same actions give the same step results.
// This is what puts a task on the list; a checkout whose pages differ from the ones listed fails here rather than
// reloading silently.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import { IN_PLACE_REAL_TASKS } from '../lib/env/in-place-tasks.ts';
import type { Episode } from '../lib/env/types.ts';
import { compareReset, type StepComparison } from './util/in-place-check.ts';
import { MINIWOB_URL, realPagesSkipReason } from './util/miniwob-url.ts';
import { freshRandom } from './util/random.ts';

/**
 * Tasks whose steps cannot be compared field by field, because two fresh loads differ too: 'settled' for pages that
 * animate (compared after the animation), 'none' for pages driven by wall time (first observation and timers only).
 */
const STEPS: Record<string, StepComparison> = {
  'stock-market': 'none', // the price moves every 100 ms
  terminal: 'none', // the cursor blinks on an interval
};
// jQuery UI accordions, tabs, menus and autocompletes: a step may catch a slide half-way, or the hover class before
// Chromium has moved the hover to what the click left under the pointer.
for (const task of ['click-collapsible', 'click-collapsible-nodelay', 'click-collapsible-2',
  'click-collapsible-2-nodelay', 'click-tab', 'click-tab-2', 'click-tab-2-easy', 'click-tab-2-hard',
  'click-tab-2-medium', 'click-menu', 'use-autocomplete', 'use-autocomplete-nodelay']) {
  STEPS[task] = 'settled';
}

const { rand, tag } = freshRandom();
/** Two fixed seeds and one new each run (LFM2_TEST_SEED replays it). */
const SEEDS = [1, 2, Math.floor(rand() * 100_000)];

const why = realPagesSkipReason();
describe.skipIf(why !== '')(`in-place resets of real MiniWoB++ pages ${why}`, () => {
  let pool: EnvPool;
  let inPlace: Episode;
  let fresh: Episode;
  beforeAll(async () => {
    pool = await EnvPool.launch({ miniwobUrl: MINIWOB_URL, prunedHtml: true, pageTimeoutMs: 20_000 });
    inPlace = await pool.newEpisode();
    fresh = await pool.newEpisode({ inPlaceReset: false, preloadPages: false });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it.each([...IN_PLACE_REAL_TASKS.keys()])('%s: the same page and steps as a fresh load', async (task) => {
    let inPlaceResets = 0;
    for (const seed of SEEDS) {
      const c = await compareReset(inPlace, fresh, task, seed, STEPS[task] ?? 'strict');
      expect(c.difference, tag(`${task} seed ${seed}`)).toBeUndefined();
      if (c.inPlace) inPlaceResets += 1;
    }
    // A page that navigated away is loaded again, but most resets must have been in place; none means the page is
    // not the one listed (another MiniWoB++ version) or cannot be put back.
    expect(inPlaceResets, `${task}: resets in place`).toBeGreaterThan(0);
  });
});
