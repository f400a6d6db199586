// What the GRPO loop needs from the training engine, in the loop's own terms. lib/rl/engine-policy.ts implements it
// over the native trainer (lib/engine/trainer-engine.ts) and sampler (lib/engine/sampler.ts); tests may wrap it.
import type { LossType } from '../io/config.ts';
import type { PackedBatch } from '../engine/packed-batch.ts';
import type { MicroStepStats } from '../engine/trainer-engine.ts';

/** The GRPO loss types of the config, plus 'sft': cross-entropy on the completion tokens (supervised warm start on
 *  demonstrations; temperature 1, beta 0, advantages and old log-probs unused). Not a GRPO config value. */
export type TrainLossType = LossType | 'sft';

export interface LossSettings {
  lossType: TrainLossType;
  epsilonLow: number;
  epsilonHigh: number;
  beta: number;
  /** Logits are divided by the sampling temperature before the log-softmax (TRL). */
  temperature: number;
  maxCompletionLength: number;
  /** dapo/bnpo denominator for this optimizer step. */
  tokenNormalizer: number;
  /** grpo/dr_grpo denominator for this optimizer step. */
  sequenceNormalizer: number;
}

/** One micro-batch's statistics: sums over its scored tokens (the engine's own form), added across micro-batches. */
export type AccumulateStats = MicroStepStats;

export interface OptimizerStepResult {
  gradNorm: number;
  /** Non-finite gradient: nothing was updated. */
  skipped: boolean;
  /** Learning rate used. */
  lr: number;
  /** Name of the first tensor with a non-finite gradient, when skipped. */
  badTensor: string | null;
}

export interface TrainEngine {
  readonly mode: 'full' | 'lora';
  readonly totalParameters: number;
  readonly trainableParameters: number;
  /** Forward, loss and backward of one micro-batch; gradients accumulate until step(). */
  accumulate(batch: PackedBatch, refLogprobs: Float32Array | null, loss: LossSettings): Promise<AccumulateStats>;
  /** AdamW step at the schedule's rate; clears the gradients. */
  step(): Promise<OptimizerStepResult>;
  zeroGrad(): Promise<void>;
  /** Per-token log-probs [T] of the KL reference (LoRA: adapter off; full: the frozen initial weights). */
  referenceLogprobs(batch: PackedBatch, temperature: number): Promise<Float32Array>;
  /** Sampling with the current policy begins / ends (LoRA: merge the adapter for hook-free sampling / unmerge). */
  beginGeneration(): Promise<void>;
  endGeneration(): Promise<void>;
  /**
   * Inside a generation (async_rollouts, lib/rl/model-turns.ts): hand the model to training calls and take it back,
   * keeping the sampler's cached prefix states, which stay valid because the weights come back byte for byte (CPU
   * LoRA: unmerge / merge again). Absent: the model serves both as it is.
   */
  suspendGeneration?(): Promise<void>;
  resumeGeneration?(): Promise<void>;
  /** HF model folder (full) or PEFT adapter folder (LoRA) into `dir`, config files included. */
  saveWeights(dir: string): Promise<void>;
  /** Optimizer state, master weights, step and the caller's JSON. */
  saveState(dir: string, extraJson: string): Promise<void>;
  /** Restores what saveState wrote; returns the caller's JSON. */
  loadState(dir: string): Promise<string>;
}
