// Constrained decoding must never rule out a solution: at every step of an oracle episode, the oracle's action in its
// canonical form (formatAction(parseAction(a))) is among allowedActions(obs, action_set) for the trainer's default
// action set (which holds every action the oracles use). Over all ten tasks and many seeds: the built-in pages
// always, the real MiniWoB++ pages when MINIWOB_URL points at a checkout (skipped otherwise, saying so).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAction, parseAction } from '../lib/env/actions/parser.ts';
import { EnvPool } from '../lib/env/env.ts';
import { builtinTaskNames } from '../lib/env/tasks/index.ts';
import { oracleActions } from '../lib/env/tasks/oracles.ts';
import { runScriptedEpisode } from '../lib/env/tasks/rollout.ts';
import type { Observation } from '../lib/env/types.ts';
import { defaultConfig } from '../lib/io/config.ts';
import { allowedActions } from '../lib/rl/action-trie.ts';
import { MINIWOB_URL, realPagesSkipReason } from './util/miniwob-url.ts';

const ACTION_SET = defaultConfig().action_set;
const TASKS = builtinTaskNames();  // the ten reference tasks, which the real checkout has too

/** Runs the oracle on each task and seed; every action must be allowed, every episode solved. */
async function checkOracleActionsAllowed(pool: EnvPool, seeds: readonly number[]): Promise<void> {
  // Pruned HTML: click-link's links (bare spans) have a bid only there.
  const ep = await pool.newEpisode({ prunedHtml: true });
  const usedActions = new Set<string>();
  try {
    for (const task of TASKS) {
      for (const seed of seeds) {
        const missing: string[] = [];
        const checked = (t: string, obs: Observation) => {
          const action = oracleActions(t, obs);
          const canonical = formatAction(parseAction(action));
          usedActions.add(parseAction(action).name);
          if (!allowedActions(obs, ACTION_SET).includes(canonical)) missing.push(`${canonical} (goal ${JSON.stringify(obs.goal)})`);
          return action;
        };
        const { actions, reward } = await runScriptedEpisode(ep, { task, seed }, checked, 12);
        const where = `${task} seed ${seed}: ${actions.join(' ; ')}`;
        expect(missing, where).toEqual([]);
        expect(reward, where).toBe(1);
      }
    }
  } finally {
    await ep.close();
  }
  // The oracles' vocabulary was exercised (noop only waits for slow suggestions), and the action set holds it.
  expect([...usedActions].filter((a) => a !== 'noop').sort()).toEqual(['click', 'fill', 'select_option']);
  for (const a of usedActions) expect(ACTION_SET).toContain(a);
}

describe('constrained actions contain every oracle action: built-in pages', () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ maxSteps: 12 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('all ten tasks, eight seeds each', async () => {
    await checkOracleActionsAllowed(pool, [100, 101, 102, 103, 104, 105, 106, 107]);
  });
});

const why = realPagesSkipReason();
describe.skipIf(why !== '')(`constrained actions contain every oracle action: real MiniWoB++ pages ${why}`, () => {
  let pool: EnvPool;
  beforeAll(async () => {
    pool = await EnvPool.launch({ miniwobUrl: MINIWOB_URL, maxSteps: 12, pageTimeoutMs: 20_000 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('all ten tasks, eight seeds each', async () => {
    await checkOracleActionsAllowed(pool, [100, 101, 102, 103, 104, 105, 106, 107]);
  });
});
