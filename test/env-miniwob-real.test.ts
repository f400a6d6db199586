// The ten reference tasks on the real MiniWoB++ pages (MINIWOB_URL; skipped otherwise, saying so): the scripted
// oracle solves each over several seeds (reward 1, no action errors, within the step budget), the wrong policy never
// earns reward and ends the failing tasks with raw −1, and the built-in pages are shaped like the real ones: over
// whole oracle episodes, the same set of accessibility-tree roles, with and without bids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvPool } from '../lib/env/env.ts';
import { parseAxTree } from '../lib/env/tasks/axtree-lines.ts';
import { builtinTaskNames } from '../lib/env/tasks/index.ts';
import { oracleActions, TASKS_WITH_FAILURE, wrongAction } from '../lib/env/tasks/oracles.ts';
import { runScriptedEpisode } from '../lib/env/tasks/rollout.ts';
import type { Episode, Observation } from '../lib/env/types.ts';
import { MINIWOB_URL, realPagesSkipReason } from './util/miniwob-url.ts';

const TASKS = builtinTaskNames();
const SEEDS = [0, 1, 2, 3, 4];
const STEP_LIMIT = 12;
/** book-flight's oracle: fill + pick ×2, open the picker, ≤ 2 months back from December, day, search, book. */
const ORACLE_MAX_STEPS = 10;

/** Every `role` (prefixed `[b] ` when the line has a bid) over the observations, InlineTextBox left out. */
function roleSignature(observations: readonly Observation[]): string[] {
  const roles = new Set<string>();
  for (const o of observations) {
    for (const l of parseAxTree(o.axtree_txt)) if (l.role !== 'InlineTextBox') roles.add(`${l.bid ? '[b] ' : ''}${l.role}`);
  }
  return [...roles].sort();
}

/** Oracle episodes of one task over SEEDS, each observation (resets and steps) passed to `seen`. */
async function runOracle(ep: Episode, task: string, seen: (o: Observation) => void) {
  const runs = [];
  for (const seed of SEEDS) {
    const policy = (t: string, o: Observation) => {
      seen(o);
      return oracleActions(t, o);
    };
    const run = await runScriptedEpisode(ep, { task, seed }, policy, STEP_LIMIT);
    run.steps.forEach((s) => seen(s.observation));
    runs.push({ seed, ...run });
  }
  return runs;
}

const why = realPagesSkipReason();
describe.skipIf(why !== '')(`real MiniWoB++ pages ${why}`, () => {
  let real: EnvPool;
  const realObservations = new Map<string, Observation[]>();  // per task, from the oracle test, for the shape test
  beforeAll(async () => {
    real = await EnvPool.launch({ miniwobUrl: MINIWOB_URL, maxSteps: STEP_LIMIT + 1, pageTimeoutMs: 20_000, prunedHtml: true });
  });
  afterAll(async () => {
    await real?.close();
  });

  it('the oracle solves every task on every seed: reward 1, done, no action errors', async () => {
    const ep = await real.newEpisode();
    for (const task of TASKS) {
      const seen: Observation[] = [];
      realObservations.set(task, seen);
      for (const { seed, actions, steps, reward, done, rawReward } of await runOracle(ep, task, (o) => seen.push(o))) {
        const where = `${task} seed ${seed}: ${actions.join(' ; ')}`;
        expect(done, where).toBe(true);
        expect(reward, where).toBe(1);
        expect(rawReward, where).toBe(1);
        // Waits for slow suggestions (noop) depend on the machine's load, not on the plan.
        expect(actions.filter((a) => a !== 'noop()').length, where).toBeLessThanOrEqual(ORACLE_MAX_STEPS);
        for (const s of steps) expect(s.observation.last_action_error, where).toBe('');
      }
    }
    await ep.close();
  });

  it('the wrong policy earns 0; failing tasks end with raw -1, the others stay open', async () => {
    const ep = await real.newEpisode();
    const failedTasks = new Set<string>();
    for (const task of TASKS) {
      for (const seed of SEEDS.slice(0, 3)) {
        const limit = TASKS_WITH_FAILURE.has(task) ? STEP_LIMIT : 3;
        const { actions, steps, done, rawReward } = await runScriptedEpisode(ep, { task, seed }, wrongAction, limit);
        const where = `${task} seed ${seed}: ${actions.join(' ; ')}`;
        for (const s of steps) {
          expect(s.reward, where).toBe(0);
          expect(s.observation.last_action_error, where).toBe('');
        }
        // click-button / click-link hover the target when the page has no other button / link to click.
        if (TASKS_WITH_FAILURE.has(task) && !actions[0]!.startsWith('hover(')) {
          expect([done, rawReward], where).toEqual([true, -1]);
          failedTasks.add(task);
        } else {
          expect([steps.length, done], where).toEqual([limit, false]);
        }
      }
    }
    expect([...failedTasks].sort()).toEqual([...TASKS_WITH_FAILURE].sort());  // every failure rule was exercised
    await ep.close();
  });

  it('built-in pages show the same accessibility-tree roles, with and without bids, over oracle episodes', async () => {
    const builtin = await EnvPool.launch({ maxSteps: STEP_LIMIT + 1, prunedHtml: true });
    try {
      const ep = await builtin.newEpisode();
      for (const task of TASKS) {
        const seen: Observation[] = [];
        await runOracle(ep, task, (o) => seen.push(o));
        expect(realObservations.get(task), `${task}: the oracle test ran first`).toBeDefined();
        expect(roleSignature(seen), task).toEqual(roleSignature(realObservations.get(task)!));
      }
    } finally {
      await builtin.close();
    }
  });
});
