// Episode reward: the reference pipeline's binary success reward (docs/grpo.md §2.1: 1 when an env step ends the episode
// with reward > 0, else 0), with optional shaping that is off by default: a penalty per invalid action (one the
// parser or executor rejected) and a penalty per env step taken (prefers shorter solutions).

export interface ShapingOptions {
  /** Subtracted per step whose action failed (last_action_error set or unparseable). 0 = off. */
  invalidActionPenalty: number;
  /** Subtracted per env step taken. 0 = off. */
  stepPenalty: number;
}

export interface StepOutcome {
  /** Raw env reward of this step (MiniWoB via BrowserGym: 1 on success at done, else 0). */
  reward: number;
  done: boolean;
  /** The action's error text, '' when it ran fine. */
  actionError: string;
}

export interface EpisodeReward {
  /** What the advantages are computed from: envReward minus the penalties. */
  reward: number;
  /** 1 if solved, else 0. */
  envReward: number;
  success: boolean;
  invalidActions: number;
  steps: number;
}

export function episodeReward(steps: readonly StepOutcome[], opts: ShapingOptions): EpisodeReward {
  for (const [name, v] of [['invalidActionPenalty', opts.invalidActionPenalty], ['stepPenalty', opts.stepPenalty]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`episodeReward: ${name} must be a finite number >= 0, got ${v}`);
  }
  steps.forEach((s, i) => {
    if (!Number.isFinite(s.reward)) throw new Error(`episodeReward: step ${i} reward is ${s.reward}`);
  });
  const success = steps.some((s) => s.done && s.reward > 0);
  const invalidActions = steps.filter((s) => s.actionError !== '').length;
  const envReward = success ? 1 : 0;
  return {
    reward: envReward - opts.invalidActionPenalty * invalidActions - opts.stepPenalty * steps.length,
    envReward,
    success,
    invalidActions,
    steps: steps.length,
  };
}
