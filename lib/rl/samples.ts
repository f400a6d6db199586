// Training samples: one per (episode, env step) — the step's own prompt and completion, scored in the context it was
// sampled in, carrying the advantage of its episode (no concatenation of steps: docs/grpo.md §3). Samples are packed
// into ragged micro-batches by a token budget and flattened into the arrays the training engine consumes.
import { packBatch, type PackedBatch } from '../engine/packed-batch.ts';

/** What the rollout recorded for one env step. */
export interface StepRecord {
  /** Chat-templated prompt ids (with BOS). */
  promptIds: readonly number[];
  /** Sampled completion ids (including the stop token when one was sampled). */
  completionIds: readonly number[];
  /** Log-prob of each completion token at sampling time, same length as completionIds. */
  oldLogprobs: readonly number[];
  /** The completion hit max_completion_length without a stop token. */
  truncated: boolean;
}

export interface EpisodeRecord {
  steps: readonly StepRecord[];
  advantage: number;
}

export interface TrainingSample {
  episode: number;
  step: number;
  promptIds: readonly number[];
  completionIds: readonly number[];
  oldLogprobs: readonly number[];
  advantage: number;
  truncated: boolean;
  /** Loss weight of each completion token, same length as completionIds (sft only; absent: all 1). */
  weights?: readonly number[];
}

export interface SampleOptions {
  /** Drop samples of zero-advantage episodes: with beta = 0 they contribute exactly zero loss and gradient. */
  dropZeroAdvantage: boolean;
  /** TRL mask_truncated_completions: drop steps whose completion was cut by the length limit. */
  maskTruncated: boolean;
}

/** One sample per (episode, step) in episode-then-step order; validates lengths and values. */
export function buildSamples(episodes: readonly EpisodeRecord[], opts: SampleOptions): TrainingSample[] {
  const out: TrainingSample[] = [];
  episodes.forEach((ep, e) => {
    if (!Number.isFinite(ep.advantage)) throw new Error(`buildSamples: episode ${e} advantage is ${ep.advantage}`);
    ep.steps.forEach((st, s) => {
      const where = `buildSamples: episode ${e} step ${s}`;
      if (st.promptIds.length === 0) throw new Error(`${where}: empty prompt`);
      if (st.completionIds.length !== st.oldLogprobs.length) {
        throw new Error(`${where}: ${st.completionIds.length} completion tokens but ${st.oldLogprobs.length} log-probs`);
      }
      st.oldLogprobs.forEach((lp, i) => {
        if (!Number.isFinite(lp) || lp > 0) throw new Error(`${where}: log-prob ${i} is ${lp} (must be finite and <= 0)`);
      });
      if (st.completionIds.length === 0) return; // nothing to score
      if (opts.maskTruncated && st.truncated) return;
      if (opts.dropZeroAdvantage && ep.advantage === 0) return;
      out.push({
        episode: e,
        step: s,
        promptIds: st.promptIds,
        completionIds: st.completionIds,
        oldLogprobs: st.oldLogprobs,
        advantage: ep.advantage,
        truncated: st.truncated,
      });
    });
  });
  return out;
}

export function sampleTokens(s: TrainingSample): number {
  return s.promptIds.length + s.completionIds.length;
}

/** Total completion tokens: the DAPO / BNPO normaliser of a generation batch (docs/grpo.md §4.2). */
export function completionTokens(samples: readonly TrainingSample[]): number {
  return samples.reduce((a, s) => a + s.completionIds.length, 0);
}

/**
 * Total loss weight of the completion tokens (their count when no sample carries weights): the sft normaliser. Each
 * weight counts as the FP32 value the engine's mask holds, so this matches the engine's own sum of the mask.
 */
export function completionWeight(samples: readonly TrainingSample[]): number {
  let w = 0;
  for (const s of samples) w += s.weights ? s.weights.reduce((a, b) => a + Math.fround(b), 0) : s.completionIds.length;
  return w;
}

/**
 * Packs samples into micro-batches of at most `tokenBudget` tokens (prompt + completion) each: first-fit over the
 * samples in decreasing length (ties by original order), so the result is deterministic and close to the fewest
 * batches. A sample longer than the budget gets a micro-batch of its own (a sequence cannot be split).
 * Within each micro-batch samples keep their original order.
 */
export function packMicroBatches(samples: readonly TrainingSample[], tokenBudget: number): TrainingSample[][] {
  if (!Number.isInteger(tokenBudget) || tokenBudget < 1) throw new Error(`packMicroBatches: tokenBudget must be a positive integer, got ${tokenBudget}`);
  const order = samples.map((s, i) => i).sort((a, b) => sampleTokens(samples[b]) - sampleTokens(samples[a]) || a - b);
  const bins: { load: number; items: number[] }[] = [];
  for (const i of order) {
    const n = sampleTokens(samples[i]);
    const bin = bins.find((b) => b.load + n <= tokenBudget);
    if (bin) {
      bin.load += n;
      bin.items.push(i);
    } else bins.push({ load: n, items: [i] });
  }
  return bins.map((b) => b.items.sort((x, y) => x - y).map((i) => samples[i]));
}

/**
 * A micro-batch in the engine's layout (lib/engine/packed-batch.ts), built once and passed through to the engine:
 * each sample is prompt + completion, its completion tokens masked 1 (sft: their weights) with their sampling-time
 * log-probs, and its episode's advantage.
 */
export function packSamples(samples: readonly TrainingSample[]): PackedBatch {
  if (samples.length === 0) throw new Error('packSamples: no samples');
  const promptZeros = (s: TrainingSample) => new Array<number>(s.promptIds.length).fill(0);
  return packBatch(
    {
      sequences: samples.map((s) => [...s.promptIds, ...s.completionIds]),
      completionMasks: samples.map((s) => [...promptZeros(s), ...(s.weights ?? new Array<number>(s.completionIds.length).fill(1))]),
      oldLogprobs: samples.map((s) => [...promptZeros(s), ...s.oldLogprobs]),
      advantages: samples.map((s) => s.advantage),
    },
    'packSamples',
  );
}
