// In-place resets of real MiniWoB++ pages (lib/env/page-snapshot.ts), on stub pages that do to their document what
// real task pages do during an episode: edit form controls, add, remove and re-attach nodes, change attributes,
// scroll, focus, arm timers, build a widget once. After any of that, the next reset must show exactly what a fresh
// load shows for the same seed, and play the same; a page that cannot be put back, or is not the page that was
// shown to reset in place, is loaded anew.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import type { BrowserEpisode } from '../lib/env/episode.ts';
import type { InPlaceTask } from '../lib/env/in-place-tasks.ts';
import type { Episode, Observation } from '../lib/env/types.ts';
import { comparableStep, inPage, observationText } from './util/in-place-check.ts';
import { miniwobStubPage } from './miniwob-stub-page.ts';

// Math.seedrandom behind a small LCG, so a seed gives the same page every time.
const SEEDRANDOM = String.raw`function (seed) {
  var s = (Number(seed) >>> 0) || 1;
  Math.random = function () { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s / 4294967296; };
}`;

/** Everything a fresh load has that an episode may change: controls, a scroller, a node built on demand. */
const MESS_PAGE = miniwobStubPage({
  title: 'Mess Task',
  seedrandom: SEEDRANDOM,
  globals: String.raw`document.getElementById('wrap').insertAdjacentHTML('beforeend',
  '<textarea id="notes"></textarea><input id="name"><select id="pick"><option>a</option><option>b</option></select>' +
  '<div id="scroller" style="height:30px;overflow:auto"><div style="height:300px">tall</div></div>');
var kept = null;`,
  genProblem: String.raw`function genProblem() {
  var words = ['alpha', 'bravo', 'charlie', 'delta'];
  var w = words[Math.floor(Math.random() * 4)] + Math.floor(Math.random() * 100);
  document.getElementById('query').textContent = 'Enter ' + w + '.';
  // The textarea's text is its default value: it shows only while nobody edited the textarea.
  document.getElementById('notes').textContent = 'Notes on ' + w;
  // One node, made once and attached again each episode (as jQuery UI does with its date picker).
  if (!kept) { kept = document.createElement('p'); kept.id = 'kept'; }
  kept.textContent = 'Kept ' + w;
  document.getElementById('wrap').appendChild(kept);
  document.getElementById('area').innerHTML = '<button id="mess">Mess</button><button id="go">Go</button>';
  document.getElementById('mess').onclick = function () {
    var toast = document.createElement('div');
    toast.textContent = 'Toast';
    document.body.appendChild(toast);
    var wrap = document.getElementById('wrap');
    wrap.className = 'messy';
    wrap.setAttribute('data-mess', '1');
    wrap.insertBefore(document.getElementById('pick'), wrap.firstChild);
    document.getElementById('scroller').scrollTop = 100;
    document.getElementById('name').focus();
  };
  document.getElementById('go').onclick = function () {
    core.endEpisode(document.getElementById('name').value === w ? 1 : -1);
  };
}`,
});

/** Timers: the page's own (armed while loading) must keep running, the last episode's must stop. */
const TIMERS_PAGE = miniwobStubPage({
  title: 'Timers Task',
  seedrandom: SEEDRANDOM,
  globals: String.raw`var loadTicks = 0, intervalTicks = 0, episodeTicks = 0;
(function tick() { loadTicks++; setTimeout(tick, 40); })();
setInterval(function () { intervalTicks++; }, 40);`,
  genProblem: String.raw`function genProblem() {
  document.getElementById('query').textContent = 'Wait.';
  document.getElementById('area').innerHTML = '<button id="b">Button ' + Math.floor(Math.random() * 1000) + '</button>';
  setTimeout(function () {
    document.getElementById('area').appendChild(document.createElement('p')).textContent = 'late';
  }, 1200);
  setInterval(function () { episodeTicks++; }, 100);
}`,
});

/** A widget the page's script builds once and then only updates: the script remembers, the document must too. */
const WIDGET_PAGE = miniwobStubPage({
  title: 'Widget Task',
  seedrandom: SEEDRANDOM,
  globals: 'var built = false;',
  genProblem: String.raw`function genProblem() {
  if (!built) {
    built = true;
    var live = document.createElement('div');
    live.id = 'live';
    live.setAttribute('role', 'status');
    document.body.appendChild(live);
  }
  var n = Math.floor(Math.random() * 1000);
  document.getElementById('query').textContent = 'Pick ' + n + '.';
  document.getElementById('live').textContent = 'Picked nothing yet';
  document.getElementById('area').innerHTML = '<button id="p">' + n + '</button>';
  document.getElementById('p').onclick = function () {
    document.getElementById('live').textContent = 'Picked ' + n;
    core.endEpisode(1);
  };
}`,
});

/** An animation loop the way jQuery runs one: one shared fast interval, armed while the loop is marked idle. */
const ANIMATION_PAGE = miniwobStubPage({
  title: 'Animation Task',
  seedrandom: SEEDRANDOM,
  globals: String.raw`var fxTimer = null, fxQueue = [];
function animate(el, ms) {
  fxQueue.push({ el: el, end: Date.now() + ms });
  if (fxTimer === null) fxTimer = setInterval(tick, 13);
}
function tick() {
  fxQueue = fxQueue.filter(function (a) {
    if (Date.now() < a.end) return true;
    a.el.textContent = 'Shown';
    return false;
  });
  if (fxQueue.length === 0) { clearInterval(fxTimer); fxTimer = null; }
}`,
  genProblem: String.raw`function genProblem() {
  document.getElementById('query').textContent = 'Show ' + Math.floor(Math.random() * 1000) + '.';
  document.getElementById('area').innerHTML = '<button id="go">Go</button><p id="out">Hidden</p>';
  document.getElementById('go').onclick = function () { animate(document.getElementById('out'), 300); };
}`,
});

const NOTES = /textbox '' value='Notes on/;
const NAME = /textbox ''$/;

const PAGES: Record<string, string> = {
  mess: MESS_PAGE, timers: TIMERS_PAGE, widget: WIDGET_PAGE, animation: ANIMATION_PAGE,
};

/** `bid` of the first axtree line matching `pattern`. */
function bid(o: Observation, pattern: RegExp): string {
  const line = o.axtree_txt.split('\n').find((l) => pattern.test(l));
  const m = line && /\[([a-zA-Z0-9]+)\]/.exec(line);
  if (!m) throw new Error(`no element matching ${pattern} in\n${o.axtree_txt}`);
  return m[1]!;
}


describe('in-place resets of real MiniWoB++ pages', () => {
  let dir: string;
  let pool: EnvPool;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'miniwob-snapshot-'));
    const html = join(dir, 'miniwob', 'html', 'miniwob');
    mkdirSync(html, { recursive: true });
    for (const [name, page] of Object.entries(PAGES)) writeFileSync(join(html, `${name}.html`), page);
    pool = await EnvPool.launch({ miniwobUrl: pathToFileURL(html).href + '/', prunedHtml: true, preloadPages: false });
  });
  afterAll(async () => {
    await pool?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const inPlace = (tasks: Record<string, InPlaceTask>) =>
    pool.newEpisode({ inPlaceRealTasks: new Map(Object.entries(tasks)) }) as Promise<BrowserEpisode>;
  const fresh = () => pool.newEpisode({ inPlaceReset: false }) as Promise<BrowserEpisode>;

  it('after an episode that changed the document, the same seed shows and plays as on a fresh load', async () => {
    const ep = await inPlace({ mess: { at: 'loaded' } });
    const ref = await fresh();
    try {
      for (const seed of [1, 2, 3]) {
        // Leave the page dirty: both text controls edited, a selection made, then the mess button.
        const o = await ep.reset({ task: 'mess', seed: seed + 100 });
        for (const a of [`fill('${bid(o, NOTES)}', 'edited')`, `fill('${bid(o, NAME)}', 'typed')`,
          `select_option('${bid(o, /combobox/)}', 'b')`, `click('${bid(o, /button 'Mess'/)}')`]) {
          expect((await ep.step(a)).observation.last_action_error, a).toBe('');
        }
        const a = await ep.reset({ task: 'mess', seed });
        const b = await ref.reset({ task: 'mess', seed });
        expect(observationText(a), `seed ${seed}`).toBe(observationText(b));
        expect(a.axtree_txt).toMatch(NOTES); // the textarea shows its new text again
        const page = (e: Episode) => inPage(e, `[document.getElementById('scroller').scrollTop,
          document.activeElement.tagName, document.querySelectorAll('[bid]').length]`);
        expect(await page(ep)).toEqual(await page(ref));
        // Playing on: the same actions give the same results, and the episode can be solved.
        const word = /^Enter (\w+)\.$/.exec(a.goal)![1]!;
        for (const action of [`fill('${bid(a, NAME)}', '${word}')`, `click('${bid(a, /button 'Go'/)}')`]) {
          const [ra, rb] = [await ep.step(action), await ref.step(action)];
          expect(comparableStep(ra), action).toEqual(comparableStep(rb));
        }
        expect((await ep.observe()).axtree_txt).toBe((await ref.observe()).axtree_txt);
      }
      expect(ep.pageLoads).toBe(1);
    } finally {
      await Promise.all([ep.close(), ref.close()]);
    }
  });

  it("cancels the last episode's timers and keeps the page's own", async () => {
    const ep = await inPlace({ timers: { at: 'loaded' } });
    try {
      await ep.reset({ task: 'timers', seed: 1 });
      await ep.reset({ task: 'timers', seed: 2 });
      const ticks = () =>
        inPage(ep, '[loadTicks, intervalTicks, episodeTicks, performance.now()]') as Promise<number[]>;
      const before = await ticks();
      const o = (await ep.step('noop(1500)')).observation;
      expect(o.axtree_txt.match(/StaticText 'late'/g)).toHaveLength(1); // this episode's timeout only
      const after = await ticks();
      // The load-time timeout chain and interval still run (40 ms apart, 1.5 s: far more than 5 ticks each).
      expect(after[0]! - before[0]!).toBeGreaterThan(5);
      expect(after[1]! - before[1]!).toBeGreaterThan(5);
      // One 100 ms episode interval: a busy machine may delay ticks, never add them; two would tick twice as often.
      const episodeTicks = after[2]! - before[2]!;
      expect(episodeTicks).toBeGreaterThan(0);
      expect(episodeTicks).toBeLessThanOrEqual((after[3]! - before[3]!) / 100 + 1);
      expect(ep.pageLoads).toBe(1);
    } finally {
      await ep.close();
    }
  });

  it("a reset during the last episode's animation lets it end first, so the page's script can animate again", async () => {
    const ep = await inPlace({ animation: { at: 'loaded' } });
    const ref = await fresh();
    try {
      for (const seed of [1, 2]) {
        // Start the animation and reset while it runs (the step does not wait for intervals).
        const o = await ep.reset({ task: 'animation', seed: seed + 100 });
        await ep.step(`click('${bid(o, /button 'Go'/)}')`);
        const a = await ep.reset({ task: 'animation', seed });
        expect(observationText(a)).toBe(observationText(await ref.reset({ task: 'animation', seed })));
        const go = `click('${bid(a, /button 'Go'/)}')`;
        await Promise.all([ep.step(go), ref.step(go)]);
        const [ra, rb] = await Promise.all([ep.step('noop(600)'), ref.step('noop(600)')]);
        expect(ra.observation.axtree_txt).toContain("StaticText 'Shown'");
        expect(comparableStep(ra)).toEqual(comparableStep(rb));
      }
      expect(ep.pageLoads).toBe(1);
    } finally {
      await Promise.all([ep.close(), ref.close()]);
    }
  });

  it("a page whose script built a widget goes back to its first episode's start, not to its load", async () => {
    const ref = await fresh();
    const started = await inPlace({ widget: { at: 'started' } });
    const loaded = await inPlace({ widget: { at: 'loaded' } });
    try {
      for (const ep of [started, loaded]) {
        for (const seed of [1, 2, 3]) {
          const o = await ep.reset({ task: 'widget', seed: seed + 100 });
          await ep.step(`click('${bid(o, /button/)}')`);
          const a = await ep.reset({ task: 'widget', seed });
          expect(observationText(a), `seed ${seed}`).toBe(observationText(await ref.reset({ task: 'widget', seed })));
          expect(a.axtree_txt).toContain("StaticText 'Picked nothing yet'");
        }
      }
      // Back to the load, the page's script finds no widget and fails: that reset loaded the page again, and every
      // later one did too.
      expect(started.pageLoads).toBe(1);
      expect(loaded.pageLoads).toBe(6);
    } finally {
      await Promise.all([ref.close(), started.close(), loaded.close()]);
    }
  });

  it('a page other than the one shown to reset in place is loaded anew, ahead of time', async () => {
    const probe = await inPlace({ mess: { at: 'loaded' } });
    await probe.reset({ task: 'mess', seed: 1 });
    const fingerprint = (await inPage(probe, 'window.__envPageFingerprint')) as string;
    await probe.close();
    expect(fingerprint).toMatch(/^[0-9a-f]{8}$/);
    const other = fingerprint === '00000000' ? '00000001' : '00000000';
    const same = (await pool.newEpisode({
      inPlaceRealTasks: new Map([['mess', { at: 'loaded', page: fingerprint }]]),
    })) as BrowserEpisode;
    const wrong = (await pool.newEpisode({
      inPlaceRealTasks: new Map([['mess', { at: 'loaded', page: other }]]),
      preloadPages: true,
    })) as BrowserEpisode;
    try {
      for (const seed of [1, 2, 3]) {
        const a = await same.reset({ task: 'mess', seed });
        const spare = (wrong as unknown as { spare?: { ready: Promise<unknown> } }).spare?.ready;
        await spare;
        const b = await wrong.reset({ task: 'mess', seed });
        expect(observationText(a)).toBe(observationText(b));
      }
      expect(same.pageLoads).toBe(1);
      expect([wrong.pageLoads, wrong.preloadedPageLoads]).toEqual([3, 2]);
    } finally {
      await Promise.all([same.close(), wrong.close()]);
    }
  });

  it('rejects a malformed list of in-place tasks', async () => {
    await expect(pool.newEpisode({ inPlaceRealTasks: new Set(['mess']) as never })).rejects.toThrow(/inPlaceRealTasks/);
    await expect(pool.newEpisode({ inPlaceRealTasks: new Map([['mess', { at: 'later' }]]) as never })).rejects.toThrow(
      /'loaded' \| 'started'/,
    );
  });
});
