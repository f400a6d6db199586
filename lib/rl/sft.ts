// Supervised fine-tuning on demonstrations: each record becomes a training sample whose prompt ids are the chat
// template of its messages with the generation prompt (what a rollout feeds the sampler) and whose completion ids
// are the canonical action's tokens followed by the end-of-turn id (what a constrained sample of that action is:
// actionTokens, the action trie's own tokenisation). Samples are packed like GRPO samples (advantage 1, old
// log-probs 0) and trained with the engine's 'sft' loss: mean cross-entropy over the completion tokens of each
// optimizer step. Epochs visit the samples in a seeded order, `batchSize` samples per optimizer step.
import type { LossSettings, TrainEngine } from './engine-types.ts';
import type { DemoRecord } from './demo-file.ts';
import { actionTokens } from './action-trie.ts';
import type { ChatMessage } from '../engine/tokenizer.ts';
import { ProgressBar, type ProgressStream } from '../io/progress.ts';
import { completionWeight, packMicroBatches, packSamples, type TrainingSample } from './samples.ts';
import { mixSeed } from './seeds.ts';

/** metrics.jsonl names of the SFT stage (rows at step 0: the stage comes before GRPO's first step). */
export const SFT_METRICS = {
  step: 'sft/step',
  epoch: 'sft/epoch',
  loss: 'sft/loss',
  tokenAccuracy: 'sft/token_accuracy',
  gradNorm: 'sft/grad_norm',
  learningRate: 'sft/learning_rate',
  tokens: 'sft/tokens',
  skipped: 'sft/skipped',
  stepTime: 'sft/step_time',
  evalSuccessRate: 'sft/eval/success_rate',
} as const;

export interface SftTokenizer {
  applyChatTemplate(messages: readonly ChatMessage[]): number[];
  encode(text: string): number[];
  readonly imEndId: number;
  readonly vocabSize: number;
}

/**
 * The training sample of one demonstration step. With `completionOnly` false the loss covers the prompt too: the
 * sample's "prompt" is then only the first token (BOS) and everything after it is scored, the action last, each
 * prompt token with weight `promptWeight` against 1 for the action's (sft.prompt_loss_weight).
 */
export function sftSample(
  r: DemoRecord,
  tokenizer: SftTokenizer,
  completionOnly = true,
  action: readonly number[] = actionTokens(tokenizer, r.completion, tokenizer.imEndId),
  promptWeight = 1,
): TrainingSample {
  if (!(promptWeight >= 0 && promptWeight <= 1)) throw new RangeError(`sftSample: promptWeight must be in [0, 1], got ${promptWeight}`);
  const prompt = tokenizer.applyChatTemplate(r.messages);
  const promptIds = completionOnly ? prompt : prompt.slice(0, 1);
  const completionIds = completionOnly ? action : [...prompt.slice(1), ...action];
  const sample: TrainingSample = {
    episode: r.episode,
    step: r.step,
    promptIds,
    completionIds,
    oldLogprobs: new Array<number>(completionIds.length).fill(0),
    advantage: 1,
    truncated: false,
  };
  if (!completionOnly && promptWeight !== 1) {
    sample.weights = [...new Array<number>(prompt.length - 1).fill(promptWeight), ...new Array<number>(action.length).fill(1)];
  }
  return sample;
}

/** Optimizer steps of a stage: every epoch ends with a (possibly smaller) last batch. */
export function sftStepCount(samples: number, batchSize: number, epochs: number): number {
  return epochs * Math.ceil(samples / batchSize);
}

/** Sample order of an epoch: a Fisher–Yates shuffle drawn from (seed, epoch), so a rerun visits the same batches. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = mixSeed(seed, epoch, i, 5) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export interface SftLoopDeps {
  engine: Pick<TrainEngine, 'accumulate' | 'step' | 'zeroGrad'>;
  samples: readonly TrainingSample[];
  epochs: number;
  batchSize: number;
  /** Token budget of one micro-batch (micro_batch_tokens). */
  microBatchTokens: number;
  seed: number;
  /** Loss settings other than the normalisers; lossType 'sft', temperature 1, beta 0 are enforced here. */
  loss: Omit<LossSettings, 'lossType' | 'tokenNormalizer' | 'sequenceNormalizer' | 'temperature' | 'beta'>;
  metrics: { logStep(step: number, metrics: Record<string, number | null>): unknown };
  log(message: string): void;
  progress?: ProgressStream | null;
  /** Checked between optimizer steps (Ctrl-C): the stage then stops where it is. */
  shouldStop?(): boolean;
  /** Called after every completed epoch but the last (e.g. an evaluation), with the steps done so far. */
  afterEpoch?(epoch: number, steps: number, log: (message: string) => void): Promise<void>;
}

export interface SftEpochSummary {
  epoch: number;
  /** Token-weighted mean cross-entropy and token accuracy over the epoch's steps. */
  loss: number;
  tokenAccuracy: number | null;
}

export interface SftOutcome {
  steps: number;
  totalSteps: number;
  stopped: boolean;
  skippedSteps: number;
  epochs: SftEpochSummary[];
}

/** Runs the stage: `epochs` passes, one optimizer step per batch, one metrics row per step. */
export async function runSft(d: SftLoopDeps): Promise<SftOutcome> {
  if (d.samples.length === 0) throw new Error('runSft: no demonstrations');
  for (const [k, v] of [['epochs', d.epochs], ['batchSize', d.batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`runSft: ${k} must be a positive integer, got ${v}`);
  }
  const perEpoch = Math.ceil(d.samples.length / d.batchSize);
  const totalSteps = d.epochs * perEpoch;
  const bar = d.progress === null ? null : new ProgressBar({ total: totalSteps, label: 'sft', stream: d.progress });
  const log = (m: string) => (bar ? bar.log(m) : d.log(m));
  const out: SftOutcome = { steps: 0, totalSteps, stopped: false, skippedSteps: 0, epochs: [] };
  for (let epoch = 0; epoch < d.epochs && !out.stopped; epoch++) {
    const order = epochOrder(d.samples.length, d.seed, epoch);
    let lossTokens = 0;
    let tokens = 0;
    let correct = 0;
    let counted = 0;
    for (let b = 0; b < perEpoch; b++) {
      if (d.shouldStop?.()) {
        out.stopped = true;
        break;
      }
      const t0 = performance.now();
      const batch = order.slice(b * d.batchSize, (b + 1) * d.batchSize).map((i) => d.samples[i]);
      const loss: LossSettings = {
        ...d.loss,
        lossType: 'sft',
        temperature: 1,
        beta: 0,
        tokenNormalizer: completionWeight(batch),
        sequenceNormalizer: batch.length,
      };
      let stepLoss = 0;
      let stepTokens = 0;
      let stepCorrect: number | null = 0;
      let nonFinite = '';
      for (const mb of packMicroBatches(batch, d.microBatchTokens)) {
        const s = await d.engine.accumulate(packSamples(mb), null, loss);
        if (!Number.isFinite(s.loss)) nonFinite = `non-finite loss (${s.loss})`;
        stepLoss += s.loss;
        stepTokens += s.tokens;
        stepCorrect = typeof s.correct === 'number' && stepCorrect !== null ? stepCorrect + s.correct : null;
      }
      let gradNorm: number | null = null;
      let lr: number | null = null;
      let skipped = nonFinite;
      if (nonFinite) await d.engine.zeroGrad();
      else {
        const r = await d.engine.step();
        gradNorm = r.gradNorm;
        lr = r.lr;
        if (r.skipped) skipped = `non-finite gradient${r.badTensor ? ` in ${r.badTensor}` : ''}`;
      }
      out.steps++;
      if (skipped) {
        out.skippedSteps++;
        log(`sft step ${out.steps} skipped: ${skipped}`);
      } else {
        lossTokens += stepLoss * stepTokens;
        tokens += stepTokens;
        if (stepCorrect !== null) {
          correct += stepCorrect;
          counted += stepTokens;
        }
      }
      const accuracy = stepCorrect !== null && stepTokens > 0 ? stepCorrect / stepTokens : null;
      d.metrics.logStep(0, {
        [SFT_METRICS.step]: out.steps,
        [SFT_METRICS.epoch]: epoch + (b + 1) / perEpoch,
        [SFT_METRICS.loss]: stepLoss,
        [SFT_METRICS.tokenAccuracy]: accuracy,
        [SFT_METRICS.gradNorm]: gradNorm,
        [SFT_METRICS.learningRate]: lr,
        [SFT_METRICS.tokens]: stepTokens,
        [SFT_METRICS.skipped]: skipped ? 1 : 0,
        [SFT_METRICS.stepTime]: (performance.now() - t0) / 1000,
      });
      bar?.update(out.steps, { epoch: `${epoch + 1}/${d.epochs}`, loss: Number(stepLoss.toFixed(4)), ...(accuracy !== null ? { acc: `${(100 * accuracy).toFixed(1)}%` } : {}) });
    }
    if (tokens > 0) {
      const summary = { epoch: epoch + 1, loss: lossTokens / tokens, tokenAccuracy: counted > 0 ? correct / counted : null };
      out.epochs.push(summary);
      log(`sft epoch ${summary.epoch}/${d.epochs}: loss ${summary.loss.toFixed(4)}${summary.tokenAccuracy !== null ? `, token accuracy ${(100 * summary.tokenAccuracy).toFixed(1)}%` : ''}`);
    }
    if (!out.stopped && epoch + 1 < d.epochs) await d.afterEpoch?.(epoch + 1, out.steps, log);
  }
  bar?.finish(out.steps);
  return out;
}
