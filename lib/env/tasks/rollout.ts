// Runs a scripted policy (oracleActions / wrongAction) for one episode: the trainer's sanity check that the
// environment and a task still produce reward 1 for a known solution, and the tests' driver.

import type { Episode, Observation, ResetOptions, StepResult } from '../types.ts';

export type ScriptedPolicy = (task: string, obs: Observation) => string;

export interface ScriptedRollout {
  actions: string[];
  steps: StepResult[];
  /** Reward of the last step (BrowserGym's 0/1), 0 when no step ran. */
  reward: number;
  done: boolean;
  /** MiniWoB's raw reward after the last step (from the step info), undefined when not reported. */
  rawReward: number | undefined;
}

/** Resets `ep` and steps `policy` until the episode is done or `maxSteps` steps ran. */
export async function runScriptedEpisode(
  ep: Episode, reset: ResetOptions, policy: ScriptedPolicy, maxSteps: number,
): Promise<ScriptedRollout> {
  if (!Number.isInteger(maxSteps) || maxSteps <= 0) throw new RangeError(`maxSteps must be a positive integer, got ${maxSteps}`);
  let obs = await ep.reset(reset);
  const actions: string[] = [], steps: StepResult[] = [];
  while (steps.length < maxSteps) {
    const action = policy(reset.task, obs);
    const result = await ep.step(action);
    actions.push(action);
    steps.push(result);
    obs = result.observation;
    if (result.done || result.truncated) break;
  }
  const last = steps[steps.length - 1];
  const raw = last?.info.RAW_REWARD_GLOBAL;
  return {
    actions, steps, reward: last?.reward ?? 0, done: last?.done ?? false,
    rawReward: typeof raw === 'number' ? raw : undefined,
  };
}
