// Page-level tests of the built-in task suite, driven directly with Playwright (no environment layer): the MiniWoB
// page protocol as BrowserGym uses it (display removal, seeding, WOB_* globals, first-end-wins, time decay,
// timeout), per-task reward rules, and determinism (same seed → same page; different seeds → different pages).
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromiumArgs, findChromium } from '../lib/env/browser.ts';
import { BUILTIN_ORIGIN, builtinTaskHtml, builtinTaskNames, builtinTaskUrl } from '../lib/env/tasks/index.ts';
import { AIRPORTS } from '../lib/env/tasks/words.ts';

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

// BrowserGym's display removal, restated: detach the HUD, the START cover and the query text, and wrap
// getUtterance / endEpisode / startEpisodeReal so each runs with the display briefly restored.
const REMOVE_DISPLAY = `(() => {
  var ids = ['reward-display', 'click-canvas', 'sync-task-cover'], kept = {}, queryCopy = null;
  function removeDisplay() {
    core.clearTimer();
    document.body.removeEventListener('click', core.canvasDrawClick);
    queryCopy = document.getElementById('query').cloneNode(true);
    document.getElementById('query').innerHTML = '';
    ids.forEach(function (id) { var e = document.getElementById(id); e.remove(); kept[id] = e; });
  }
  function restoreDisplay() {
    document.getElementById('query').innerHTML = queryCopy.innerHTML;
    ids.forEach(function (id) { document.body.appendChild(kept[id]); });
    core.createDisplay();
  }
  var end = core.endEpisode, start = core.startEpisodeReal, utter = core.getUtterance;
  core.getUtterance = function () { restoreDisplay(); var u = utter(); removeDisplay(); return u; };
  core.endEpisode = function (r, t, why) { restoreDisplay(); end(r, t, why); removeDisplay(); };
  core.startEpisodeReal = function () { restoreDisplay(); start(); removeDisplay(); };
  removeDisplay();
})()`;

interface Wob { raw: number; reward: number; done: boolean; reason: string | null; episodeId: number }
const readWob = (p: Page): Promise<Wob> =>
  p.evaluate(`({ raw: WOB_RAW_REWARD_GLOBAL, reward: WOB_REWARD_GLOBAL, done: WOB_DONE_GLOBAL,
    reason: WOB_REWARD_REASON, episodeId: WOB_EPISODE_ID })`) as Promise<Wob>;

/** Loads a task and starts an episode as BrowserGym does; returns the goal. */
async function startTask(task: string, pageSeed: number, maxTimeMs = 1_000_000): Promise<string> {
  await page.goto(builtinTaskUrl(task));
  await page.evaluate(REMOVE_DISPLAY);
  await page.evaluate(`Math.seedrandom(${pageSeed}); core.EPISODE_MAX_TIME = ${maxTimeMs}; core.startEpisodeReal();`);
  await page.waitForFunction('WOB_TASK_READY');
  return (await page.evaluate('core.getUtterance()')) as string;
}
const areaHtml = () => page.evaluate(`document.getElementById('area').outerHTML`) as Promise<string>;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: chromiumArgs() });
  const context = await browser.newContext({ viewport: { width: 332, height: 214 } });
  await context.route(`${BUILTIN_ORIGIN}/**`, (route) => {
    const m = /^\/miniwob\/([\w-]+)\.html$/.exec(new URL(route.request().url()).pathname);
    const html = m ? builtinTaskHtml(m[1]!) : undefined;
    return html === undefined
      ? route.fulfill({ status: 404, body: 'not found' })
      : route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
  });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});
afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);  // no uncaught exception inside any page
});
afterAll(async () => { await browser?.close(); });

/** Goal grammar per task (the MiniWoB utterance wording). */
const GOAL_GRAMMAR: Record<string, RegExp> = {
  'click-test': /^Click the button\.$/,
  'click-button': /^Click on the "(submit|okay|ok|yes|no|cancel|next|previous)" button\.$/i,
  'click-link': /^Click on the link "[A-Z]?[a-z]+[.,]?"\.$/,  // a word of running text, as written
  'enter-text': /^Enter "[A-Z][a-z]+" into the text field and press Submit\.$/,
  'focus-text': /^Focus into the textbox\.$/,
  'click-checkboxes': /^Select (nothing|[A-Za-z0-9]{2,7}(, [A-Za-z0-9]{2,7})*) and click Submit\.$/,
  'login-user': /^Enter the username "[a-z]+" and the password "[A-Za-z0-9]{2,5}" into the text fields and press login\.$/,
  'choose-list': /^Select [A-Z][a-z]+( [A-Z][a-z]+)? from the list and click Submit\.$/,
  'click-dialog': /^Close the dialog box by clicking the "x"\.$/,
  'book-flight': /^Book the (cheapest|shortest) one-way flight from: .+ to: .+ on (10|11|12)\/\d\d\/2016\.$/,
};

describe('built-in task pages', () => {
  it('lists the ten reference tasks and serves full documents', () => {
    expect(builtinTaskNames().sort()).toEqual(Object.keys(GOAL_GRAMMAR).sort());
    for (const name of builtinTaskNames()) {
      const html = builtinTaskHtml(name)!;
      expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
      expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);  // self-contained
    }
    expect(builtinTaskHtml('no-such-task')).toBeUndefined();
    expect(() => builtinTaskUrl('no-such-task')).toThrow(/unknown built-in task/);
  });

  it('start under BrowserGym setup: HUD removed, goal via getUtterance, globals reset', async () => {
    for (const task of builtinTaskNames()) {
      const goal = await startTask(task, 4242);
      expect(goal, task).toMatch(GOAL_GRAMMAR[task]!);
      const dom = await page.evaluate(`({
        hud: ['reward-display', 'click-canvas', 'sync-task-cover'].filter(function (id) { return document.getElementById(id); }),
        query: document.getElementById('query').textContent, area: document.getElementById('area').children.length })`);
      expect(dom, task).toEqual({ hud: [], query: '', area: expect.any(Number) });
      expect((dom as { area: number }).area, task).toBeGreaterThan(0);
      expect(await readWob(page)).toMatchObject({ raw: 0, reward: 0, done: false, reason: null });
    }
  });

  it('same page seed → same page and goal; different seeds → different pages', async () => {
    const seeds = [11, 12, 13];
    for (const task of builtinTaskNames()) {
      const pages: string[] = [];
      for (const seed of seeds) pages.push((await startTask(task, seed)) + (await areaHtml()));
      expect(new Set(pages).size, task).toBe(seeds.length);
      // Again on the same page (no reload): a new episode must rebuild the problem from the seed alone.
      for (const [i, seed] of seeds.entries()) {
        await page.evaluate(`Math.seedrandom(${seed}); core.startEpisodeReal();`);
        const again = ((await page.evaluate('core.getUtterance()')) as string) + (await areaHtml());
        expect(again, `${task} seed ${seed}`).toBe(pages[i]);
      }
    }
  });
});

describe('core page protocol', () => {
  it('numeric and string seeds give different streams; randi excludes its max', async () => {
    await page.goto(builtinTaskUrl('click-test'));
    const r = (await page.evaluate(`(() => {
      Math.seedrandom(121958); var a = [Math.random(), Math.random()];
      Math.seedrandom('121958'); var b = [Math.random(), Math.random()];
      Math.seedrandom(121958); var c = [Math.random(), Math.random()];
      var lo = 99, hi = -1;
      for (var i = 0; i < 2000; i++) { var v = core.randi(3, 7); lo = Math.min(lo, v); hi = Math.max(hi, v); }
      return { a: a, b: b, c: c, lo: lo, hi: hi };
    })()`)) as { a: number[]; b: number[]; c: number[]; lo: number; hi: number };
    expect(r.c).toEqual(r.a);
    expect(r.b).not.toEqual(r.a);
    // 2000 draws from 4 values: P(missing one) <= 4 * 0.75^2000, negligible.
    expect([r.lo, r.hi]).toEqual([3, 6]);
  });

  it('only the first endEpisode counts; positive rewards decay, failures do not', async () => {
    await startTask('click-test', 5);
    await page.waitForTimeout(30);
    await page.evaluate('core.endEpisode(0.5, true); core.endEpisode(-1, false)');
    const w = await readWob(page);
    expect(w.done).toBe(true);
    expect(w.raw).toBe(0.5);
    // Decay 0.5 * (1 - elapsed / 1e6) with elapsed between 30 ms and a few seconds.
    expect(w.reward).toBeLessThan(0.5);
    expect(w.reward).toBeGreaterThan(0.5 * (1 - 10_000 / 1e6));
    expect(w.episodeId).toBe(1);
    await page.evaluate('core.startEpisodeReal()');
    expect(await readWob(page)).toMatchObject({ done: false, raw: 0, reward: 0, episodeId: 1 });
    await page.evaluate('core.endEpisode(-1, false)');
    expect(await readWob(page)).toMatchObject({ done: true, raw: -1, reward: -1, episodeId: 2 });
  });

  it('without display removal: START cover starts an episode and returns after it, HUD counts episodes', async () => {
    await page.goto(builtinTaskUrl('click-test'));
    const cover = page.locator('#sync-task-cover');
    expect(await cover.isVisible()).toBe(true);
    expect(await cover.textContent()).toBe('START');
    await page.evaluate('Math.seedrandom(3)');
    await cover.click();
    expect(await cover.isVisible()).toBe(false);
    expect(await page.textContent('#query')).toBe('Click the button.');
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true, episodeId: 1 });
    expect(await cover.isVisible()).toBe(true);
    expect(await page.textContent('#episode-count')).toBe('Episodes done: 1');
    expect(await page.evaluate('document.querySelectorAll("#reward-display, #sync-task-cover").length')).toBe(2);
  });

  it('data mode: default, from ?mode= in the URL, and set by core.setDataMode', async () => {
    await page.goto(builtinTaskUrl('click-test'));
    expect(await page.evaluate('WOB_DATA_MODE')).toBe('default');
    await page.goto(builtinTaskUrl('click-test') + '?mode=test');
    expect(await page.evaluate('WOB_DATA_MODE')).toBe('test');
    expect(await page.evaluate('core.setDataMode("train"), WOB_DATA_MODE')).toBe('train');
  });

  it('times out with -1 after EPISODE_MAX_TIME', async () => {
    await startTask('click-test', 6, 150);
    await page.waitForFunction('WOB_DONE_GLOBAL', undefined, { timeout: 5000 });
    expect(await readWob(page)).toMatchObject({ raw: -1, reward: -1, reason: 'timed out' });
  });

  it('rejects a non-numeric reward with a clear error', async () => {
    await startTask('click-test', 7);
    await expect(page.evaluate(`core.endEpisode('lots')`)).rejects.toThrow(/finite number/);
  });
});

describe('reward rules', () => {
  it('click-test: the button gives +1', async () => {
    await startTask('click-test', 21);
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true });
  });

  it('click-button: the named button +1, another -1, text nothing', async () => {
    for (const seed of [31, 32, 33, 34, 35, 36]) {
      const goal = await startTask('click-button', seed);
      const target = /"(.*)"/.exec(goal)![1]!;
      const labels = await page.$$eval('#area button', (bs) => bs.map((b) => b.textContent));
      const other = labels.findIndex((l) => l !== target);
      if (other >= 0) {
        await page.locator('#area button').nth(other).click();
        expect(await readWob(page), `seed ${seed}`).toMatchObject({ raw: -1, done: true });
        await startTask('click-button', seed);
      }
      await page.locator('#area button', { hasText: new RegExp(`^${target}$`) }).first().click();
      expect(await readWob(page), `seed ${seed}`).toMatchObject({ raw: 1, done: true });
    }
  });

  it('enter-text: exact text +1, wrong case -1', async () => {
    const goal = await startTask('enter-text', 41);
    const name = /"(.*)"/.exec(goal)![1]!;
    await page.fill('#tt', name.toUpperCase());
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: -1, done: true });
    await startTask('enter-text', 41);
    await page.fill('#tt', name);
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true });
  });

  it('click-checkboxes: partial credit is (right - wrong) / n', async () => {
    for (const seed of [51, 52, 53, 54]) {
      const goal = await startTask('click-checkboxes', seed);
      const list = /^Select (.*) and click Submit\.$/.exec(goal)![1]!;
      const wanted = new Set(list === 'nothing' ? [] : list.split(', '));
      const labels = await page.$$eval('#boxes label', (ls) => ls.map((l) => l.textContent ?? ''));
      // Check exactly the first box (right or wrong); all others stay unchecked.
      await page.locator('#boxes input').first().check();
      const right = labels.filter((l, i) => (i === 0) === wanted.has(l)).length;
      await page.click('#subbtn');
      const w = await readWob(page);
      // Exact: the page divides small integers.
      expect(w.raw, `seed ${seed}`).toBe((2 * right - labels.length) / labels.length);
      expect(w.done).toBe(true);
    }
  });

  it('focus-text: focusing +1; click-dialog: close button +1, body nothing', async () => {
    await startTask('focus-text', 61);
    await page.focus('#tt');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true });
    await startTask('click-dialog', 62);
    await page.click('.ui-dialog-content');
    expect(await readWob(page)).toMatchObject({ raw: 0, done: false });
    await page.click('button.ui-button');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true });
  });

  it('login-user and choose-list: exact values +1, otherwise -1', async () => {
    const goal = await startTask('login-user', 71);
    const [, user, password] = /username "(.*)" and the password "(.*)"/.exec(goal)!;
    await page.fill('#username', user!);
    await page.fill('#password', password!.slice(1));
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: -1, done: true });
    await startTask('login-user', 71);
    await page.fill('#username', user!);
    await page.fill('#password', password!);
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true });

    const listGoal = await startTask('choose-list', 72);
    const target = /^Select (.*) from the list/.exec(listGoal)![1]!;
    const options = await page.$$eval('#options option', (os) => os.map((o) => o.textContent ?? ''));
    await page.selectOption('#options', options.find((o) => o !== target)!);
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: -1, done: true });
    await startTask('choose-list', 72);
    await page.selectOption('#options', target);
    await page.click('#subbtn');
    expect(await readWob(page)).toMatchObject({ raw: 1, done: true });
  });

  it('book-flight: a field not holding an exact airport entry is flagged; a wrong search makes every booking -1', async () => {
    await startTask('book-flight', 81);
    await page.fill('#flight-from', 'Nowhere');
    await page.click('#search');
    expect(await page.getAttribute('#flight-from', 'class')).toContain('error');
    expect(await page.getAttribute('#flight-to', 'class')).toContain('error');  // empty
    expect(await page.locator('.flight-price').count()).toBe(0);
    // Valid airports and date, but not the asked ones. Typing an exact entry counts as choosing it.
    const goal = await page.evaluate('core.getUtterance()') as string;
    expect(goal).not.toMatch(/from: (Boise, ID|BOI) to: (Tulsa, OK|TUL) on 12\/31\/2016/);
    await page.fill('#flight-from', 'Boise, ID (BOI)');
    await page.fill('#flight-to', 'Tulsa, OK (TUL)');
    await page.click('#datepicker');
    await page.click('#datepicker-popup td a >> text="31"');  // the picker opens on December
    expect(await page.inputValue('#datepicker')).toBe('12/31/2016');
    await page.click('#search');
    expect(await page.isVisible('#menu')).toBe(false);
    const n = await page.locator('.flight-price').count();
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(4);
    expect(await page.textContent('.flight-summary')).toMatch(/^BOI to TUL\s+\|\s+12\/31\/2016$/);
    await page.locator('.flight-price').first().click();
    expect(await readWob(page)).toMatchObject({ raw: -1, done: true });
  });

  it('book-flight autocomplete: entries containing the typed text, chosen by click or keyboard, closed on leaving', async () => {
    await startTask('book-flight', 82);
    const items = () => page.$$eval('#flight-from-menu li', (ls) => ls.map((l) => l.textContent));
    const status = (n: number) => page.locator('[role=status]').nth(n).textContent();
    await page.fill('#flight-from', 'oH');
    await page.waitForSelector('#flight-from-menu li');
    const expected = AIRPORTS.map(([city, code]) => `${city} (${code})`).filter((e) => e.toLowerCase().includes('oh'));
    expect(expected.length).toBeGreaterThan(2);
    expect(await items()).toEqual(expected);
    expect(await status(0)).toBe(`${expected.length} results are available, use up and down arrow keys to navigate.`);
    // Keyboard focus on an entry shows it in the field; Enter chooses it and closes the list.
    await page.press('#flight-from', 'ArrowDown');
    await page.press('#flight-from', 'ArrowDown');
    expect(await page.inputValue('#flight-from')).toBe(expected[1]);
    await page.press('#flight-from', 'Enter');
    expect(await items()).toEqual([]);
    expect(await status(0)).toBe(expected[1]);
    // Nothing matches: no list, announced.
    await page.fill('#flight-to', 'zzz');
    await page.waitForFunction(`document.querySelectorAll('[role=status]')[1].textContent !== ''`);
    expect(await status(1)).toBe('No search results.');
    expect(await page.isVisible('#flight-to-menu')).toBe(false);
    // Leaving the field closes its list; clicking an entry chooses it.
    await page.fill('#flight-to', 'tulsa');
    await page.waitForSelector('#flight-to-menu li');
    await page.focus('#flight-from');
    expect(await page.isVisible('#flight-to-menu')).toBe(false);
    await page.fill('#flight-to', 'Tuls');
    await page.click('#flight-to-menu li >> text="Tulsa, OK (TUL)"');
    expect(await page.inputValue('#flight-to')).toBe('Tulsa, OK (TUL)');
    expect(await page.isVisible('#flight-to-menu')).toBe(false);
  });

  it('book-flight date picker: Oct-Dec 2016 only, opens on the chosen month, weekday-aligned days', async () => {
    await startTask('book-flight', 83);
    const title = () => page.textContent('#datepicker-popup .dp-title');
    await page.click('#datepicker');
    expect(await title()).toBe('December\u00a02016');
    expect(await page.getAttribute('.dp-next', 'class')).toContain('dp-disabled');
    await page.click('.dp-next');  // out of range: nothing happens
    expect(await title()).toBe('December\u00a02016');
    await page.click('.dp-prev');
    await page.click('.dp-prev');
    expect(await title()).toBe('October\u00a02016');
    expect(await page.getAttribute('.dp-prev', 'class')).toContain('dp-disabled');
    // 1 October 2016 was a Saturday: six blank cells, then 1..31, rows of seven.
    const firstRow = await page.$$eval('#datepicker-popup tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
    expect(firstRow).toEqual(['\u00a0', '\u00a0', '\u00a0', '\u00a0', '\u00a0', '\u00a0', '1']);
    expect(await page.locator('#datepicker-popup td a').count()).toBe(31);
    await page.click('#datepicker-popup td a >> text="3"');
    expect(await page.inputValue('#datepicker')).toBe('10/03/2016');
    expect(await page.isVisible('#datepicker-popup')).toBe(false);
    expect(new URL(page.url()).hash).toBe('');  // the '#' day link did not navigate
    await page.click('#search');  // blur, then open again: the picker shows the field's month
    await page.click('#datepicker');
    expect(await title()).toBe('October\u00a02016');
    await page.click('.search-container', { position: { x: 120, y: 4 } });  // a press elsewhere in the form closes it
    expect(await page.isVisible('#datepicker-popup')).toBe(false);
  });

  it('book-flight: the right search books +1 on the best flight only; Back shows the same search form', async () => {
    for (const seed of [84, 85]) {
      const goal = await startTask('book-flight', seed);
      const [, criterion, from, to, mm, dd] =
        /^Book the (cheapest|shortest) one-way flight from: (.+) to: (.+) on (\d\d)\/(\d\d)\/2016\.$/.exec(goal)!;
      const entry = (place: string) => AIRPORTS.map(([c, k]) => `${c} (${k})`).find((e) => e.includes(`${place} (`) || e.endsWith(`(${place})`))!;
      const search = async () => {
        await page.fill('#flight-from', entry(from!));
        await page.fill('#flight-to', entry(to!));
        await page.click('#datepicker');
        for (let m = 12; m > Number(mm); m--) await page.click('.dp-prev');
        await page.click(`#datepicker-popup td a >> text="${Number(dd)}"`);
        await page.click('#search');
        return page.$$eval('.flight', (fs) => fs.map((f) => ({
          price: Number(/\$(\d+)/.exec(f.querySelector('.flight-price')!.textContent!)![1]),
          minutes: (([h, m]) => h! * 60 + m!)(/(\d+)h (\d+)m/.exec(f.querySelector('.flight-duration')!.textContent!)!.slice(1).map(Number)),
        })));
      };
      const flights = await search();
      const cost = (f: { price: number; minutes: number }) => (criterion === 'cheapest' ? f.price : f.minutes);
      const best = flights.indexOf([...flights].sort((a, b) => cost(a) - cost(b))[0]!);
      await page.click('#menu-back');
      expect(await page.isVisible('#menu'), `seed ${seed}`).toBe(true);
      expect(await page.isVisible('#results'), `seed ${seed}`).toBe(false);
      await page.click('#search');
      expect(await page.locator('.flight').count()).toBe(flights.length);  // the right search lists the same flights
      await page.locator('.flight-price').nth(best === 0 ? 1 : 0).click();
      expect(await readWob(page), `seed ${seed}`).toMatchObject({ raw: -1, done: true });
      await startTask('book-flight', seed);
      expect(await search(), `seed ${seed}`).toEqual(flights);
      await page.locator('.flight-price').nth(best).click();
      expect(await readWob(page), `seed ${seed}`).toMatchObject({ raw: 1, done: true });
    }
  });
});
