// The fast action paths (fill, clear, select_option, check/uncheck, click without Playwright's waiting) must do
// exactly what the Playwright locator calls do: the same action list runs on two episodes, one with fast paths and
// one with every action through locators, and after each step the observation (which logs every event the page
// saw, in order) and the error's first line must be equal. Targets that the fast paths must refuse (read-only,
// disabled, hidden, number inputs, missing or disabled options, radios to uncheck, non-checkboxes) are included so
// the fallback and Playwright's own errors are exercised too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import type { TaskSource } from '../lib/env/episode.ts';
import type { Episode, Observation } from '../lib/env/types.ts';

const WIDGETS_PAGE = String.raw`<!DOCTYPE html><html><head><title>Widgets</title></head><body>
<div id="wrap"><div id="query"></div><div id="area"></div></div>
<script>
Math.seedrandom = function () {};
var WOB_REWARD_GLOBAL = 0, WOB_RAW_REWARD_GLOBAL = 0, WOB_REWARD_REASON = null, WOB_DONE_GLOBAL = false,
    WOB_EPISODE_ID = 0, WOB_TASK_READY = true;
var core = { EPISODE_MAX_TIME: 10000, clearTimer: function () {}, canvasDrawClick: function () {},
  createDisplay: function () {}, startEpisode: function () {}, startEpisodeReal: function () { genProblem(); },
  endEpisode: function () {}, getUtterance: function () { return 'Use the widgets.'; } };
function genProblem() {
  document.getElementById('area').innerHTML =
    '<input id="txt" aria-label="Text"><textarea id="ta" aria-label="Area"></textarea>' +
    '<input id="ro" aria-label="RO" value="fixed" readonly><input id="off" aria-label="Off" disabled>' +
    '<input id="num" type="number" aria-label="Num"><input id="ghost" aria-label="Ghost" style="visibility: hidden">' +
    '<select id="sel" aria-label="Fruit"><option value="a">Apple</option><option value="b">  Banana </option>' +
    '<option value="c" disabled>Cherry</option></select>' +
    '<select id="multi" aria-label="Many" multiple><option>x</option><option>y</option><option>z</option></select>' +
    '<input id="c1" type="checkbox" aria-label="One"><input id="c2" type="checkbox" aria-label="Two" checked>' +
    '<input id="r1" type="radio" name="g" aria-label="R1"><input id="r2" type="radio" name="g" aria-label="R2">' +
    '<div id="log" role="status" aria-label="log"></div>';
  var log = document.getElementById('log');
  ['focus', 'blur', 'keydown', 'beforeinput', 'input', 'change', 'mousedown', 'mouseup', 'click'].forEach(function (t) {
    document.getElementById('area').addEventListener(t, function (e) {
      if (e.target.id && e.target.id !== 'log') log.textContent += ' ' + t + ':' + e.target.id;
    }, true);
  });
}
</script></body></html>`;

const TASKS: TaskSource = {
  origin: 'http://widgets.localhost',
  names: () => ['widgets'],
  html: (n) => (n === 'widgets' ? WIDGETS_PAGE : undefined),
};

/** bid of the element with this id, from the pruned HTML (hidden elements are not in the AX tree). */
function bidOfId(o: Observation, id: string): string {
  const m = new RegExp(`bid="([0-9]+)"[^>]* id="${id}"`).exec(o.pruned_html);
  if (!m) throw new Error(`no element #${id} in\n${o.pruned_html}`);
  return m[1]!;
}

describe('fast action paths', () => {
  let pool: EnvPool;
  let fast: Episode;
  let slow: Episode;
  beforeAll(async () => {
    // Long enough that a valid Playwright action never times out on a busy machine (its forced retry could then
    // differ between the two episodes), short enough for the actions that must time out.
    pool = await EnvPool.launch({ builtinTasks: TASKS, prunedHtml: true, actionTimeoutMs: 2500 });  // room for a loaded CI machine: a slow success must not read as a timeout
    fast = await pool.newEpisode({ fastActions: true });
    slow = await pool.newEpisode({ fastActions: false });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('do what the Playwright locator calls do, errors included', { timeout: 120_000 }, async () => {
    const [o, o2] = [await fast.reset({ task: 'widgets', seed: 0 }), await slow.reset({ task: 'widgets', seed: 0 })];
    expect(o2.axtree_txt).toBe(o.axtree_txt);
    const b = (id: string) => bidOfId(o, id);
    const actions = [
      `fill('${b('txt')}', 'hello')`,
      `fill('${b('txt')}', '')`,
      `fill('${b('txt')}', 'abc', enable_autocomplete_menu=True)`,
      `clear('${b('txt')}')`,
      `fill('${b('ta')}', 'two\\nlines')`,
      `fill('${b('ro')}', 'x')`,
      `fill('${b('off')}', 'x')`,
      `fill('${b('num')}', '12')`,
      `fill('${b('ghost')}', 'x')`,
      `fill('${b('sel')}', 'x')`,
      `select_option('${b('sel')}', 'Banana')`,
      `select_option('${b('sel')}', 'a')`,
      `select_option('${b('sel')}', 'Cherry')`,
      `select_option('${b('sel')}', 'Nope')`,
      `select_option('${b('multi')}', ['x', 'z'])`,
      `select_option('${b('txt')}', 'x')`,
      `check('${b('c1')}')`,
      `check('${b('c2')}')`,
      `uncheck('${b('c2')}')`,
      `check('${b('r1')}')`,
      `uncheck('${b('r1')}')`,
      `check('${b('txt')}')`,
      `fill('999', 'x')`,
      `select_option('999', 'x')`,
      `check('999')`,
    ];
    const firstLine = (s: string) => s.split('\n')[0];
    let errors = 0;
    for (const a of actions) {
      const [rf, rs] = [await fast.step(a), await slow.step(a)];
      expect(firstLine(rf.observation.last_action_error), a).toBe(firstLine(rs.observation.last_action_error));
      expect(rf.observation.axtree_txt, a).toBe(rs.observation.axtree_txt);
      expect(rf.observation.pruned_html, a).toBe(rs.observation.pruned_html);
      expect(rf.observation.focused_element_bid, a).toBe(rs.observation.focused_element_bid);
      if (rf.observation.last_action_error) errors += 1;
    }
    // The list reaches both outcomes: actions that work and actions Playwright rejects.
    expect(errors).toBeGreaterThan(3);
    expect(errors).toBeLessThan(actions.length - 8);
    const last = (await fast.observe()).axtree_txt;
    expect(last).toMatch(/textbox 'Area' value='two\nlines'|textbox 'Area' value='two\\nlines'/);
    expect(last).toMatch(/checkbox 'One', checked='true'/);
  });
});
