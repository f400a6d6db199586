// From a rollout round to what the optimizer steps consume: episode rewards → group advantages → one training sample
// per (episode, env step) carrying its episode's advantage → the round's episodes split into the consecutive updates
// of TRL's generation scheduling (docs/grpo.md §3), each with the loss normalisers TRL would use (§4.2).
import type { LossType, ScaleRewards } from '../io/config.ts';
import { groupAdvantages, type AdvantageResult } from './advantages.ts';
import type { RolloutEpisode } from './rollout.ts';
import { buildSamples, completionTokens, type TrainingSample } from './samples.ts';

export interface RoundBatch {
  advantages: AdvantageResult;
  /** One entry per optimizer update of the round, in order. */
  updates: UpdateBatch[];
}

export interface UpdateBatch {
  /** Samples that carry gradient (zero-advantage ones dropped when beta = 0). */
  samples: TrainingSample[];
  /** Every sample of the update's episodes, including dropped ones (for metrics and normalisers). */
  allSamples: TrainingSample[];
  /** dapo/bnpo token denominator. */
  tokenNormalizer: number;
  /** grpo/dr_grpo sequence denominator. */
  sequenceNormalizer: number;
}

export interface RoundBatchOptions {
  groupSize: number;
  scaleRewards: ScaleRewards;
  lossType: LossType;
  /** Optimizer updates per round (updatesPerGeneration); the round's episodes must divide evenly. */
  updates: number;
  beta: number;
  maskTruncated: boolean;
}

export function buildRoundBatch(episodes: readonly RolloutEpisode[], opts: RoundBatchOptions): RoundBatch {
  if (episodes.length % opts.updates !== 0) {
    throw new Error(`buildRoundBatch: ${episodes.length} episodes do not split into ${opts.updates} equal updates`);
  }
  const advantages = groupAdvantages(episodes.map((e) => e.reward.reward), opts.groupSize, opts.scaleRewards);
  const records = episodes.map((e, i) => ({ steps: e.steps, advantage: advantages.advantages[i] }));
  // Every scored sample of the round, for the DAPO denominator: TRL counts the whole generation batch's completion
  // tokens, zero-advantage completions included.
  const every = buildSamples(records, { dropZeroAdvantage: false, maskTruncated: opts.maskTruncated });
  const roundTokens = completionTokens(every);
  const per = episodes.length / opts.updates;
  const updates: UpdateBatch[] = [];
  for (let u = 0; u < opts.updates; u++) {
    const inUpdate = (s: TrainingSample) => s.episode >= u * per && s.episode < (u + 1) * per;
    const allSamples = every.filter(inUpdate);
    // With beta = 0 a zero-advantage sample adds exactly zero loss and gradient: skip its forward/backward.
    const samples = opts.beta === 0 ? allSamples.filter((s) => s.advantage !== 0) : allSamples;
    updates.push({
      samples,
      allSamples,
      tokenNormalizer: opts.lossType === 'dapo' ? roundTokens : completionTokens(allSamples),
      sequenceNormalizer: allSamples.length,
    });
  }
  return { advantages, updates };
}
