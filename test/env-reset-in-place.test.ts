// In-place reset of built-in pages: starting the next episode on the loaded page must give exactly what a fresh
// load gives (BrowserGym reloads the page for every reset): same goal, axtree_txt, pruned HTML and focus for the
// same seed, whatever the previous episode left behind (typed text, focus, open menus, a finished episode), and the
// same result for the same next action. Timers of the previous episode must not reach into the next one, and pages
// that cannot reset in place are reloaded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_TASKS, EnvPool } from '../lib/env/env.ts';
import type { BrowserEpisode, TaskSource } from '../lib/env/episode.ts';
import { builtinTaskNames } from '../lib/env/tasks/index.ts';
import { oracleActions, wrongAction } from '../lib/env/tasks/oracles.ts';
import { type BuiltinTask, renderTaskPage } from '../lib/env/tasks/page.ts';
import { runScriptedEpisode } from '../lib/env/tasks/rollout.ts';
import type { Observation, StepResult } from '../lib/env/types.ts';

const text = (o: Observation) =>
  [o.goal, o.url, o.focused_element_bid, o.axtree_txt, o.pruned_html, o.last_action, o.last_action_error].join('\n--\n');

// Everything of a step result except the time-decayed reward (it depends on how long the step took).
function comparable(r: StepResult) {
  const { REWARD_GLOBAL: _decayed, ...info } = r.info;
  return { obs: text(r.observation), reward: r.reward, done: r.done, truncated: r.truncated, info };
}

describe('in-place reset of built-in task pages', () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ prunedHtml: true });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('same seed → same observation and same next step as a fresh load, after any previous episode', async () => {
    const inPlace = (await pool.newEpisode({ inPlaceReset: true })) as BrowserEpisode;
    const fresh = (await pool.newEpisode({ inPlaceReset: false })) as BrowserEpisode;
    let resets = 0;
    for (const task of builtinTaskNames()) {
      for (const [seed, before] of [[3, oracleActions], [11, wrongAction]] as const) {
        // Leave the page dirty: another seed played for a few steps (solved and done, or failed / still open).
        await runScriptedEpisode(inPlace, { task, seed: seed + 100 }, before, 3);
        const a = await inPlace.reset({ task, seed });
        const b = await fresh.reset({ task, seed });
        resets += 1;
        expect(text(a), `${task} seed ${seed}`).toBe(text(b));
        const action = oracleActions(task, a);
        const [ra, rb] = [await inPlace.step(action), await fresh.step(action)];
        expect(comparable(ra), `${task} seed ${seed}: ${action}`).toEqual(comparable(rb));
      }
    }
    // One load per task (its first reset); the fresh episode loaded the page every time.
    expect(inPlace.pageLoads).toBe(builtinTaskNames().length);
    expect(fresh.pageLoads).toBe(resets);
    await Promise.all([inPlace.close(), fresh.close()]);
  });

  it('a reset in place cancels the previous episode’s timers', async () => {
    // genProblem arms a 1.2 s timer (longer than a step waits) that writes into the page.
    const late: BuiltinTask = {
      name: 'late-timer',
      title: 'Late Timer',
      script: `
function genProblem() {
  var area = ui.resetArea();
  var n = core.randi(0, 1000);
  ui.setQuery('Wait.');
  area.appendChild(ui.el('button', { id: 'b' }, 'Button ' + n));
  setTimeout(function () { document.getElementById('area').appendChild(ui.el('p', null, 'late ' + n)); }, 1200);
  setInterval(function () { document.getElementById('b').textContent += ' tick ' + n; }, 1000);
}`,
    };
    const tasks: TaskSource = {
      origin: 'http://timers.localhost',
      names: () => [late.name],
      html: (n) => (n === late.name ? renderTaskPage(late) : undefined),
    };
    const own = await EnvPool.launch({ builtinTasks: tasks });
    try {
      const ep = (await own.newEpisode()) as BrowserEpisode;
      // Every timer writes its episode's number, so a timer of the first episode would show itself whatever the
      // timing (a loaded machine may let the interval tick more than once within the step).
      const numberOf = (tree: string) => /button 'Button (\d+)/.exec(tree)![1];
      const first = numberOf((await ep.reset({ task: 'late-timer', seed: 1 })).axtree_txt);
      const second = numberOf((await ep.reset({ task: 'late-timer', seed: 2 })).axtree_txt);
      expect(second).not.toBe(first);
      const o = (await ep.step('noop(1500)')).observation;
      expect([...o.axtree_txt.matchAll(/StaticText 'late (\d+)'/g)].map((m) => m[1])).toEqual([second]); // once, this episode's
      const ticks = [...o.axtree_txt.matchAll(/tick (\d+)/g)].map((m) => m[1]);
      expect(ticks.length).toBeGreaterThan(0);
      expect(new Set(ticks)).toEqual(new Set([second]));
      expect(ep.pageLoads).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('pages that cannot reset in place, and pages left for another URL, are reloaded', async () => {
    const noReset: BuiltinTask = {
      name: 'no-reset',
      title: 'No Reset',
      script: `
delete core.resetToLoadedState;
function genProblem() {
  var area = ui.resetArea();
  ui.setQuery('Click.');
  area.appendChild(ui.el('button', null, 'Go ' + core.randi(0, 1000)));
}`,
    };
    const tasks: TaskSource = {
      origin: BUILTIN_TASKS.origin,
      names: () => [...BUILTIN_TASKS.names(), noReset.name],
      html: (n) => (n === noReset.name ? renderTaskPage(noReset) : BUILTIN_TASKS.html(n)),
    };
    const own = await EnvPool.launch({ builtinTasks: tasks });
    try {
      const ep = (await own.newEpisode()) as BrowserEpisode;
      const a = await ep.reset({ task: 'no-reset', seed: 5 });
      const b = await ep.reset({ task: 'no-reset', seed: 5 });
      expect(b.axtree_txt).toBe(a.axtree_txt);
      expect(ep.pageLoads).toBe(2);
      // Another task is another page; coming back to click-test reloads it, then resets stay in place.
      await ep.reset({ task: 'click-test', seed: 5 });
      await ep.reset({ task: 'click-test', seed: 6 });
      expect(ep.pageLoads).toBe(3);
    } finally {
      await own.close();
    }
  });
});
