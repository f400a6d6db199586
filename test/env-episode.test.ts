// Episodes end to end: reset/step on built-in tasks, rewards and done from the MiniWoB globals, seeds, action errors,
// step limits, leaving the page, 8 parallel episodes, a killed browser, and real-MiniWoB mode from a file:// checkout.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool, findChromium } from '../lib/env/env.ts';
import type { TaskSource } from '../lib/env/episode.ts';
import { MINIWOB_TASKS } from '../lib/env/miniwob.ts';
import type { Episode, Observation } from '../lib/env/types.ts';
import { miniwobStubPage } from './miniwob-stub-page.ts';

const bidOf = (o: Observation, pattern: RegExp): string => {
  const line = o.axtree_txt.split('\n').find((l) => pattern.test(l));
  if (!line) throw new Error(`no line matches ${pattern} in\n${o.axtree_txt}`);
  return /\[([a-zA-Z0-9]+)\]/.exec(line)![1]!;
};

// MiniWoB-protocol page with a hidden and a disabled button, for action failures the built-in tasks cannot produce.
const EDGE_PAGE = miniwobStubPage({
  title: 'Edge Task',
  genProblem: String.raw`function genProblem() {
  document.getElementById('query').textContent = 'Press the late button.';
  document.getElementById('area').innerHTML = '<button id="off" disabled>Off</button>' +
    '<button id="late">Late</button><input id="t" type="text">' +
    '<button id="pop" onclick="window.open(\'about:blank\')">Pop</button><button id="slow">Slow</button>';
  // The reward arrives after a timer, as autocomplete menus and animations react: steps must wait for it.
  document.getElementById('late').onclick = function () { setTimeout(function () { core.endEpisode(1, true); }, 300); };
  document.getElementById('slow').onclick = function () { setTimeout(function () { core.endEpisode(1, true); }, 1000); };
}`,
});
const EDGE_TASKS: TaskSource = {
  origin: 'http://edge.localhost',
  names: () => ['edge'],
  html: (n) => (n === 'edge' ? EDGE_PAGE : undefined),
};

describe('findChromium', () => {
  it('honours CHROMIUM_PATH and explains a bad one', () => {
    const saved = process.env.CHROMIUM_PATH;
    try {
      process.env.CHROMIUM_PATH = '/nonexistent/chromium';
      expect(() => findChromium()).toThrow(/CHROMIUM_PATH is set to '\/nonexistent\/chromium'/);
      delete process.env.CHROMIUM_PATH;
      expect(findChromium()).toMatch(/chrom/i);
    } finally {
      if (saved === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = saved;
    }
  });
});

describe('episodes on built-in tasks', () => {
  let pool: EnvPool;
  let ep: Episode;
  beforeAll(async () => {
    pool = await EnvPool.launch({ prunedHtml: true });
    ep = await pool.newEpisode();
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('click-test: clicking the button gives reward 1 and done', async () => {
    expect(pool.taskNames()).toContain('click-test');
    const o = await ep.reset({ task: 'click-test', seed: 42 });
    expect(o.goal).toBe('Click the button.');
    const r = await ep.step(`click('${bidOf(o, /button 'Click Me!'/)}')`);
    expect(r.observation.last_action_error).toBe('');
    expect(r).toMatchObject({ reward: 1, done: true, truncated: false });
    expect(r.info).toMatchObject({ RAW_REWARD_GLOBAL: 1, DONE_GLOBAL: true, raw_reward: 1, task: 'click-test', step: 1 });
  });

  it('enter-text: right text → 1, wrong text → done with 0 (raw −1)', async () => {
    for (const right of [true, false]) {
      const o = await ep.reset({ task: 'enter-text', seed: 7 });
      const name = /^Enter "(.+)" into the text field and press Submit\.$/.exec(o.goal)![1]!;
      const box = bidOf(o, /textbox/);
      let r = await ep.step(`fill('${box}', ${JSON.stringify(right ? name : name + 'x')})`);
      expect(r).toMatchObject({ reward: 0, done: false });
      r = await ep.step(`click('${bidOf(r.observation, /button 'Submit'/)}')`);
      expect(r.done).toBe(true);
      expect(r.reward).toBe(right ? 1 : 0);
      expect(r.info.raw_reward).toBe(right ? 1 : -1);
    }
  });

  it('same seed → same page, different seeds → different pages', async () => {
    const a = await ep.reset({ task: 'click-test', seed: 5 });
    const b = await ep.reset({ task: 'click-test', seed: 5 });
    expect(b.pruned_html).toBe(a.pruned_html);
    expect(b.axtree_txt).toBe(a.axtree_txt);
    const pages = new Set<string>();
    for (const seed of [1, 2, 3, 4]) pages.add((await ep.reset({ task: 'click-test', seed })).pruned_html);
    expect(pages.size).toBeGreaterThan(1);
  });

  it('bad actions become last_action_error and never throw', async () => {
    const o = await ep.reset({ task: 'click-test', seed: 1 });
    const cases: Array<[string, RegExp]> = [
      ['I have no idea', /^ValueError: Received an empty action\.$/],
      ["send_keys('Enter')", /^NameError: Invalid action type 'send_keys'\.$/],
      ["scroll('down')", /^TypeError: scroll\(\) missing 1 required positional argument: 'delta_y'$/],
      ['click(13)', /^ValueError: expected a string, got 13$/],
      ["click('999')", /^ValueError: Could not find element with bid "999"$/],
      ["click('1') click('2')", /^ValueError: Received a multi-action, only single-actions are allowed\.$/],
    ];
    for (const [action, err] of cases) {
      const r = await ep.step(action);
      expect(r.observation.last_action).toBe(action);
      expect(r.observation.last_action_error).toMatch(err);
      expect(r).toMatchObject({ reward: 0, done: false });
      expect(r.observation.axtree_txt).toBe(o.axtree_txt);
    }
    // The error clears on the next good action.
    const r = await ep.step('noop(0)');
    expect(r.observation.last_action_error).toBe('');
  });

  it("fill on a button fails with Playwright's error, as in BrowserGym: no forced click, no reward", async () => {
    // BrowserGym retries with force only after a timeout; Playwright's fill rejects a non-editable element at once.
    const o = await ep.reset({ task: 'click-test', seed: 5 });
    const button = bidOf(o, /button 'Click Me!'/);
    const r = await ep.step(`fill('${button}', 'x')`);
    expect(r.observation.last_action_error).toMatch(
      /^Error: locator\.fill: Error: Element is not an <input>, <textarea>, <select> or \[contenteditable\]/,
    );
    expect(r).toMatchObject({ reward: 0, done: false });
    expect(r.info.action_exec_timeout).toBeUndefined();
    expect(r.info.RAW_REWARD_GLOBAL).toBe(0);
    expect((await ep.step(`click('${button}')`)).reward).toBe(1);
  });

  it('maxSteps → truncated', async () => {
    const short = await pool.newEpisode({ maxSteps: 2 });
    try {
      await short.reset({ task: 'click-test', seed: 3 });
      expect((await short.step('noop(0)')).truncated).toBe(false);
      const r = await short.step('noop(0)');
      expect(r).toMatchObject({ truncated: true, done: false });
      expect(r.info.step).toBe(2);
    } finally {
      await short.close();
    }
  });

  it('leaving the task page ends the episode with 0', async () => {
    await ep.reset({ task: 'click-test', seed: 3 });
    const r = await ep.step('go_back()');
    expect(r).toMatchObject({ reward: 0, done: true });
    expect(r.info.error).toBe('invalid url, terminating task');
    // The page is reused: the next reset works.
    expect((await ep.reset({ task: 'click-test', seed: 3 })).goal).toBe('Click the button.');
  });

  it('messages, multi-actions when enabled, unknown tasks', async () => {
    const multi = await pool.newEpisode({ multiaction: true });
    try {
      const o = await multi.reset({ task: 'enter-text', seed: 9 });
      const name = /"(.+)"/.exec(o.goal)![1]!;
      const r = await multi.step(
        `send_msg_to_user('on it')\nfill('${bidOf(o, /textbox/)}', '${name}')\nclick('${bidOf(o, /button 'Submit'/)}')`,
      );
      expect(r.observation.last_action_error).toBe('');
      expect(r).toMatchObject({ reward: 1, done: true });
      expect(r.info.chat_messages).toEqual(['on it']);
    } finally {
      await multi.close();
    }
    await expect(ep.reset({ task: 'no-such-task' })).rejects.toThrow(/unknown task 'no-such-task' \(built-in tasks: click-test/);
    const fresh = await pool.newEpisode();
    await expect(fresh.step("click('1')")).rejects.toThrow(/before reset/);
    await fresh.close();
    await expect(pool.newEpisode({ maxSteps: 0 })).rejects.toThrow(/maxSteps must be a positive integer/);
  });

  it('8 parallel episodes of one task and seed (a GRPO group) see the same page and all succeed', async () => {
    const group = await Promise.all(Array.from({ length: 8 }, () => pool.newEpisode()));
    try {
      const obs = await Promise.all(group.map((e) => e.reset({ task: 'click-test', seed: 77 })));
      for (const o of obs) {
        expect(o.axtree_txt).toBe(obs[0]!.axtree_txt);
        expect(o.pruned_html).toBe(obs[0]!.pruned_html);
      }
      const bid = bidOf(obs[0]!, /button 'Click Me!'/);
      // Half click the button, half do nothing: rewards must stay per-episode.
      const results = await Promise.all(group.map((e, i) => e.step(i % 2 === 0 ? `click('${bid}')` : 'noop(0)')));
      expect(results.map((r) => r.observation.last_action_error)).toEqual(Array(8).fill(''));
      expect(results.map((r) => r.reward)).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
      expect(results.map((r) => r.done)).toEqual([true, false, true, false, true, false, true, false]);
      expect(pool.liveEpisodes).toBe(9);
    } finally {
      await Promise.all(group.map((e) => e.close()));
    }
    expect(pool.liveEpisodes).toBe(1);
  });

  it('a killed browser is relaunched and the next reset works', async () => {
    const o = await ep.reset({ task: 'click-test', seed: 8 });
    const pid = await pool.browserPid();
    process.kill(pid, 'SIGKILL');
    // A step on the dead page ends the episode instead of throwing.
    const r = await ep.step(`click('${bidOf(o, /button/)}')`);
    expect(r.done).toBe(true);
    expect(r.reward).toBe(0);
    expect(String(r.info.error)).toMatch(/browser page was lost/);
    const again = await ep.reset({ task: 'click-test', seed: 8 });
    expect(again.axtree_txt).toBe(o.axtree_txt);
    expect(pool.browserRelaunches).toBe(1);
    expect(await pool.browserPid()).not.toBe(pid);
    const win = await ep.step(`click('${bidOf(again, /button/)}')`);
    expect(win.reward).toBe(1);
    // Episodes created after the crash work too.
    const other = await pool.newEpisode();
    expect((await other.reset({ task: 'click-test', seed: 8 })).axtree_txt).toBe(o.axtree_txt);
    await other.close();
  });
});

describe('renderer crashes', () => {
  it('killed renderer processes end running steps; the next reset gets a fresh page on the same browser', async () => {
    const pool = await EnvPool.launch();
    try {
      const ep = await pool.newEpisode();
      const o = await ep.reset({ task: 'click-test', seed: 4 });
      const browserPid = await pool.browserPid();
      // Renderers are descendants of the browser process (through the zygote) with --type=renderer.
      const parentOf = new Map<number, number>();
      const renderers: number[] = [];
      for (const d of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          parentOf.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
          if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('--type=renderer')) renderers.push(Number(d));
        } catch {
          // exited meanwhile
        }
      }
      const ours = renderers.filter((pid) => {
        for (let p: number | undefined = pid; p !== undefined && p > 1; p = parentOf.get(p)) if (p === browserPid) return true;
        return false;
      });
      expect(ours.length).toBeGreaterThan(0);
      for (const pid of ours) process.kill(pid, 'SIGKILL');
      const r = await ep.step(`click('${bidOf(o, /button/)}')`);
      expect(r).toMatchObject({ reward: 0, done: true });
      expect(String(r.info.error)).toMatch(/browser page was lost/);
      const again = await ep.reset({ task: 'click-test', seed: 4 });
      expect(again.axtree_txt).toBe(o.axtree_txt);
      expect((await ep.step(`click('${bidOf(again, /button/)}')`)).reward).toBe(1);
      expect(pool.browserRelaunches).toBe(0);
      expect(await pool.browserPid()).toBe(browserPid);
    } finally {
      await pool.close();
    }
  });
});

describe('action timeouts and delayed rewards', () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ builtinTasks: EDGE_TASKS });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('a locator timeout is reported like BrowserGym, with action_exec_timeout', async () => {
    const ep = await pool.newEpisode({ retryWithForce: false, actionTimeoutMs: 300 });
    const o = await ep.reset({ task: 'edge', seed: 0 });
    const r = await ep.step(`click('${bidOf(o, /button 'Off'/)}')`);
    expect(r.observation.last_action_error).toMatch(/^TimeoutError: locator\.click: Timeout 300ms exceeded\./);
    expect(r.info.action_exec_timeout).toBe(0.3);
    expect(r.done).toBe(false);
    await ep.close();
  });

  it('with retryWithForce the forced retry goes through (BrowserGym MiniWoB default)', async () => {
    // 1 s: the first attempt must time out, and the forced retry then needs room to finish on a busy CI machine.
    const ep = await pool.newEpisode({ actionTimeoutMs: 1000 });
    const o = await ep.reset({ task: 'edge', seed: 0 });
    const r = await ep.step(`click('${bidOf(o, /button 'Off'/)}')`);
    expect(r.observation.last_action_error).toBe('');
    await ep.close();
  });

  it('a step waits for the page to settle (pending short timers) before validating', async () => {
    const ep = await pool.newEpisode();
    const o = await ep.reset({ task: 'edge', seed: 0 });
    expect(await ep.step(`click('${bidOf(o, /button 'Late'/)}')`)).toMatchObject({ reward: 1, done: true });
    // A 1 s timer: waited for with a 2 s settle budget, not there yet without settling.
    const patient = await pool.newEpisode({ settleMs: 2000 });
    const o1 = await patient.reset({ task: 'edge', seed: 0 });
    expect(await patient.step(`click('${bidOf(o1, /button 'Slow'/)}')`)).toMatchObject({ reward: 1, done: true });
    const hasty = await pool.newEpisode({ settleMs: 0 });
    const o2 = await hasty.reset({ task: 'edge', seed: 0 });
    expect(await hasty.step(`click('${bidOf(o2, /button 'Slow'/)}')`)).toMatchObject({ reward: 0, done: false });
    await Promise.all([ep.close(), patient.close(), hasty.close()]);
  });
});

// MiniWoB-protocol page whose widgets log what happened, so every action's effect is visible in axtree_txt.
const ACTIONS_PAGE = String.raw`<!DOCTYPE html><html><head><title>Actions Task</title></head><body>
<div id="wrap"><div id="query"></div><div id="area"></div></div><div style="height: 2000px"></div>
<script>
Math.seedrandom = function () {};
var WOB_REWARD_GLOBAL = 0, WOB_RAW_REWARD_GLOBAL = 0, WOB_REWARD_REASON = null, WOB_DONE_GLOBAL = false,
    WOB_EPISODE_ID = 0, WOB_TASK_READY = true;
var core = { EPISODE_MAX_TIME: 10000, clearTimer: function () {}, canvasDrawClick: function () {},
  createDisplay: function () {}, startEpisode: function () {}, startEpisodeReal: function () { genProblem(); },
  endEpisode: function () {}, getUtterance: function () { return 'Use every widget.'; } };
function log(t) { document.getElementById('log').textContent = t; }
function genProblem() {
  document.getElementById('area').innerHTML =
    '<select id="sel"><option value="a">Apple</option><option value="b">Banana</option></select>' +
    '<select id="multi" multiple><option>x</option><option>y</option><option>z</option></select>' +
    '<input id="cb" type="checkbox" aria-label="Box"><input id="txt" type="text" aria-label="Text">' +
    '<button id="dbl">Dbl</button><button id="hov">Hov</button><button id="clk">Clk</button>' +
    '<div id="log" role="status" aria-label="log"></div>' +
    '<div style="position: relative"><button id="under">Under</button>' +
    '<div id="cover" style="position: absolute; inset: 0; background: white"></div></div>' +
    '<button id="far" style="position: absolute; top: 1500px">Far</button>';
  document.getElementById('under').onclick = function () { log('under clicked'); };
  document.getElementById('cover').onclick = function () { log('cover clicked'); };
  document.getElementById('far').onclick = function () { this.textContent = 'Far clicked'; };
  document.getElementById('dbl').ondblclick = function () { log('dblclick'); };
  document.getElementById('hov').onmouseenter = function () { log('hover'); };
  document.getElementById('clk').onclick = function (e) { log('click shift=' + e.shiftKey); };
  document.getElementById('clk').oncontextmenu = function (e) { e.preventDefault(); log('right click'); };
  document.getElementById('txt').onkeydown = function (e) { log('key ' + e.key); };
  window.onscroll = function () { log('scrollY ' + Math.round(window.scrollY)); };
}
</script></body></html>`;

describe('every action runs through Playwright on the page', () => {
  let pool: EnvPool;
  let ep: Episode;
  let o: Observation;
  const act = async (a: string) => {
    const r = await ep.step(a);
    expect(r.observation.last_action_error, a).toBe('');
    return r.observation.axtree_txt;
  };
  const b = (p: RegExp) => bidOf(o, p);
  beforeAll(async () => {
    const tasks: TaskSource = {
      origin: 'http://act.localhost',
      names: () => ['actions'],
      html: (n) => (n === 'actions' ? ACTIONS_PAGE : undefined),
    };
    pool = await EnvPool.launch({ builtinTasks: tasks, multiaction: true });
    ep = await pool.newEpisode();
    o = await ep.reset({ task: 'actions', seed: 0 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('select_option by value and label, single and multiple', async () => {
    expect(await act(`select_option('${b(/combobox/)}', 'Banana')`)).toMatch(/combobox '' value='Banana'/);
    expect(await act(`select_option('${b(/combobox/)}', 'a')`)).toMatch(/combobox '' value='Apple'/);
    const t = await act(`select_option('${b(/listbox/)}', ['x', 'z'])`);
    expect(t).toMatch(/option 'x', selected=True/);
    expect(t).toMatch(/option 'y', selected=False/);
    expect(t).toMatch(/option 'z', selected=True/);
  });

  it('check / uncheck, fill / clear, focus, press, keyboard_type, keyboard_press', async () => {
    expect(await act(`check('${b(/checkbox 'Box'/)}')`)).toMatch(/checkbox 'Box', focused, checked='true'/);
    expect(await act(`uncheck('${b(/checkbox 'Box'/)}')`)).toMatch(/checkbox 'Box', focused, checked='false'/);
    const txt = b(/textbox 'Text'/);
    expect(await act(`fill('${txt}', 'hello')`)).toMatch(/textbox 'Text' value='hello'/);
    expect(await act(`clear('${txt}')`)).toMatch(new RegExp(`\\[${txt}\\] textbox 'Text', focused`));
    let t = await act(`focus('${txt}')\nkeyboard_type('abc')`);
    expect(t).toMatch(/textbox 'Text' value='abc', focused/);
    expect(t).toMatch(/status 'log'[\s\S]*StaticText 'key c'/);
    t = await act(`keyboard_press('Backspace')`);
    expect(t).toMatch(/textbox 'Text' value='ab'/);
    expect(await act(`press('${txt}', 'Enter')`)).toMatch(/StaticText 'key Enter'/);
    // The autocomplete form types its last character as a key press.
    t = await act(`fill('${txt}', 'xyz', enable_autocomplete_menu=True)`);
    expect(t).toMatch(/textbox 'Text' value='xyz'/);
    expect(t).toMatch(/StaticText 'key z'/);
  });

  it('dblclick, hover, modifiers, right button, scroll, go_forward without history', async () => {
    expect(await act(`dblclick('${b(/button 'Dbl'/)}')`)).toMatch(/StaticText 'dblclick'/);
    expect(await act(`hover('${b(/button 'Hov'/)}')`)).toMatch(/StaticText 'hover'/);
    expect(await act(`click('${b(/button 'Clk'/)}', modifiers=['Shift'])`)).toMatch(/StaticText 'click shift=true'/);
    expect(await act(`click('${b(/button 'Clk'/)}', button='right')`)).toMatch(/StaticText 'right click'/);
    expect(await act('scroll(0, 300)')).toMatch(/StaticText 'scrollY 300'/);
    await act('go_forward()');
  });

  it('clicks reach elements outside the viewport and land on whatever covers the target', async () => {
    await ep.reset({ task: 'actions', seed: 0 });
    expect(await act(`click('${b(/button 'Far'/)}')`)).toMatch(/button 'Far clicked'/);
    // Covered: Playwright's actionability wait fails, the forced retry clicks the point, the cover gets the click.
    // Short enough that the actionability wait gives up quickly, long enough for the forced retry under load.
    const quick = await pool.newEpisode({ actionTimeoutMs: 1000 });
    try {
      const o2 = await quick.reset({ task: 'actions', seed: 0 });
      const r = await quick.step(`click('${bidOf(o2, /button 'Under'/)}')`);
      expect(r.observation.last_action_error).toBe('');
      expect(r.observation.axtree_txt).toMatch(/StaticText 'cover clicked'/);
    } finally {
      await quick.close();
    }
  });
});

describe('other pages', () => {
  it('a popup is closed and ends the episode with 0, as a page that is not the task page does in BrowserGym', async () => {
    const pool = await EnvPool.launch({ builtinTasks: EDGE_TASKS });
    try {
      const ep = await pool.newEpisode();
      const o = await ep.reset({ task: 'edge', seed: 0 });
      const r = await ep.step(`click('${bidOf(o, /button 'Pop'/)}')`);
      expect(r).toMatchObject({ reward: 0, done: true });
      expect(r.info.error).toBe('invalid page, terminating task');
      // The task page itself is still there and the next reset starts clean.
      const again = await ep.reset({ task: 'edge', seed: 0 });
      const win = await ep.step(`click('${bidOf(again, /button 'Late'/)}')`);
      expect(win).toMatchObject({ reward: 1, done: true });
    } finally {
      await pool.close();
    }
  });
});

describe('real MiniWoB++ mode (miniwobUrl)', () => {
  let dir: string;
  let pool: EnvPool;
  beforeAll(async () => {
    // A checkout-shaped folder: miniwob/html/miniwob/<task>.html, loaded over file:// as BrowserGym does.
    dir = mkdtempSync(join(tmpdir(), 'miniwob-'));
    const html = join(dir, 'miniwob', 'html', 'miniwob');
    mkdirSync(html, { recursive: true });
    writeFileSync(join(html, 'click-test.html'), EDGE_PAGE.replace('Edge Task', 'Click Test Task'));
    writeFileSync(join(html, 'not-miniwob.html'), '<html><body>plain</body></html>');
    pool = await EnvPool.launch({ miniwobUrl: pathToFileURL(html).href + '/' });
  });
  afterAll(async () => {
    await pool?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs pages from the checkout with the same setup and validation', async () => {
    expect(pool.taskNames()).toEqual([...MINIWOB_TASKS]);
    const ep = await pool.newEpisode();
    const o = await ep.reset({ task: 'click-test', seed: 42 });
    expect(o.url).toMatch(/^file:\/\/.*\/miniwob\/html\/miniwob\/click-test\.html$/);
    expect(o.goal).toBe('Press the late button.');
    const r = await ep.step(`click('${bidOf(o, /button 'Late'/)}')`);
    expect(r).toMatchObject({ reward: 1, done: true });
    await expect(ep.reset({ task: 'not-miniwob' })).rejects.toThrow(/not a MiniWoB\+\+ task page/);
    await ep.close();
  });
});
