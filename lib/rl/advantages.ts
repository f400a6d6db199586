// Group-relative advantages (TRL v0.26.2 `_generate_and_score_completions`, docs/grpo.md §2.2):
//   Â_i = R_i − mean_group(R), then ÷ (std + 1e-4) with std = the group's unbiased (Bessel) std ("group"),
//   the whole batch's unbiased std ("batch"), or no division ("none").
// Groups are consecutive blocks of `groupSize` rewards. A group whose rewards are all equal carries no learning
// signal (every Â = 0); their count is reported as zero-variance groups / frac_reward_zero_std.
import type { ScaleRewards } from '../io/config.ts';

/** Added to the std before dividing, as TRL does, so zero-variance groups give 0 instead of 0/0. */
export const STD_EPS = 1e-4;
/** torch.isclose(std, 0) with default tolerances: |std| ≤ atol = 1e-8. */
const ZERO_STD_ATOL = 1e-8;

export interface AdvantageResult {
  /** One per reward, same order. */
  advantages: number[];
  /** Per group: mean reward and unbiased std. */
  groupMean: number[];
  groupStd: number[];
  /** Groups whose reward std is 0 (no gradient from them). */
  zeroStdGroups: number;
  /** zeroStdGroups / groups: TRL's `frac_reward_zero_std` (per group, which equals TRL's per-sample mean). */
  fracRewardZeroStd: number;
  /** TRL's `reward`: mean of all rewards. */
  rewardMean: number;
  /** TRL's `reward_std`: mean over samples of the std used for scaling (group std, or batch std for "batch"). */
  rewardStd: number;
}

/** Unbiased standard deviation (n − 1 in the denominator); 0 for fewer than 2 values. */
export function besselStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  return Math.sqrt(ss / (xs.length - 1));
}

/** A group whose reward std is (numerically) 0: every advantage is 0, so it teaches nothing. */
export function isZeroStd(std: number): boolean {
  return Math.abs(std) <= ZERO_STD_ATOL;
}

export function groupAdvantages(rewards: readonly number[], groupSize: number, scale: ScaleRewards): AdvantageResult {
  if (!Number.isInteger(groupSize) || groupSize < 2) throw new Error(`groupAdvantages: groupSize must be an integer >= 2, got ${groupSize}`);
  if (rewards.length === 0 || rewards.length % groupSize !== 0) {
    throw new Error(`groupAdvantages: ${rewards.length} rewards do not form whole groups of ${groupSize}`);
  }
  rewards.forEach((r, i) => {
    if (!Number.isFinite(r)) throw new Error(`groupAdvantages: reward ${i} is ${r}`);
  });
  if (scale !== 'group' && scale !== 'batch' && scale !== 'none') throw new Error(`groupAdvantages: unknown scale_rewards '${String(scale)}'`);
  const groups = rewards.length / groupSize;
  const groupMean: number[] = [];
  const groupStd: number[] = [];
  for (let g = 0; g < groups; g++) {
    const slice = rewards.slice(g * groupSize, (g + 1) * groupSize);
    groupMean.push(slice.reduce((a, b) => a + b, 0) / groupSize);
    groupStd.push(besselStd(slice));
  }
  const batchStd = besselStd(rewards);
  const advantages = rewards.map((r, i) => {
    const g = Math.floor(i / groupSize);
    const centred = r - groupMean[g];
    if (scale === 'none') return centred;
    return centred / ((scale === 'group' ? groupStd[g] : batchStd) + STD_EPS);
  });
  const zeroStdGroups = groupStd.filter(isZeroStd).length;
  const rewardStd = scale === 'batch' ? batchStd : groupStd.reduce((a, b) => a + b, 0) / groups;
  return {
    advantages,
    groupMean,
    groupStd,
    zeroStdGroups,
    fracRewardZeroStd: zeroStdGroups / groups,
    rewardMean: rewards.reduce((a, b) => a + b, 0) / rewards.length,
    rewardStd,
  };
}
