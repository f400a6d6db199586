// Typed training API over the native Trainer (native/binding/trainer.cpp): GRPO or sft micro-steps (forward, fused
// loss, backward, gradients accumulated), optimizer steps (AdamW + clipping + LR schedule), log-probs for the old and
// reference policies, LoRA merge/unmerge, and the checkpoint formats (trainer state, HF model, PEFT adapter).
// Every heavy call runs off the main thread and returns a Promise.
//
// Batch convention: each sequence is prompt + completion ids from position 0; its completion mask has one entry
// per token, 1 where the token is a completion token to score (it is predicted by the previous position, so the
// first token of a sequence can never be scored). Old / reference log-probs are aligned with the tokens.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkFiniteWeights } from './finite-weights.ts';
import { native } from './native.ts';
import type { LfmModel, TokenIds } from './model.ts';
import { toTokenArray } from './model.ts';
import type {
  EngineLossType,
  LrScheduleKind,
  NativeMicroStep,
  NativeStepResult,
  NativeTrainBatch,
  NativeTrainer,
  NativeTrainerInfo,
  PrecisionMode,
} from './native-types.ts';
import { ADAPTER_WEIGHTS_FILE, PEFT_TENSOR_PREFIX, readAdapterConfig, writeAdapterConfig, type LoraSettings } from './peft.ts';

export type { NativeStepResult as StepResult, NativeTrainerInfo as TrainerInfo };

export interface OptimizerSettings {
  learningRate: number;
  schedule?: LrScheduleKind;
  warmupSteps?: number;
  totalSteps?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Global-norm clip; 0 = none (default 1.0, as TRL). */
  maxGradNorm?: number;
}

export interface TrainerEngineOptions {
  mode: 'full' | 'lora';
  lora?: LoraSettings & { seed?: number };
  optimizer: OptimizerSettings;
  precision?: PrecisionMode;
  /** Split each micro-batch into forward/backward passes of at most this many tokens (bounds activation memory). */
  maxPassTokens?: number;
  /** Activation checkpointing: keep only each layer's input, recompute layers in the backward (~1 extra forward). */
  checkpointing?: boolean;
}

export interface TrainBatch {
  sequences: readonly TokenIds[];
  completionMasks: readonly ArrayLike<number>[];
  /** One per sequence (the GRPO losses; sft has none). */
  advantages?: ArrayLike<number>;
  oldLogprobs?: readonly ArrayLike<number>[];
  refLogprobs?: readonly ArrayLike<number>[];
}

export interface LossSettings {
  /** Default 'dapo'. 'sft': mean −log p of the completion tokens (temperature 1, beta 0, no advantages needed). */
  lossType?: EngineLossType;
  /** Lower clip range (default 0.2). */
  epsilon?: number;
  /** Upper clip range (default = epsilon). */
  epsilonHigh?: number;
  /** KL coefficient (needs refLogprobs when > 0). */
  beta?: number;
  temperature?: number;
  maxCompletionLength?: number;
  /** bnpo/dapo denominator, e.g. completion tokens of the whole generation batch (default: this micro-batch's). */
  tokenNormalizer?: number;
  /** grpo/dr_grpo sequence count (default: this micro-batch's scored sequences). */
  sequenceNormalizer?: number;
}

/** Counts (clipTokens) or fractions of the scored tokens (clipRatio) whose ratio ρ = exp(logp − old) was clipped. */
export interface ClipStats {
  /** ρ < 1 − epsilon with a negative advantage (TRL's clip_ratio/low_mean as a fraction). */
  low: number;
  /** ρ > 1 + epsilonHigh with a positive advantage (TRL's clip_ratio/high_mean). */
  high: number;
  /** Either of the two (TRL's clip_ratio/region_mean). */
  region: number;
}

export interface MicroStepResult {
  loss: number;
  /** Scored completion tokens. */
  tokens: number;
  meanEntropy: number;
  /** Mean k3 KL to the reference (0 without refLogprobs). */
  meanKl: number;
  /**
   * Clipped share of this micro-batch's scored tokens, each in [0, 1]. To combine micro-batches, add clipTokens and
   * divide by the added `tokens` (averaging fractions would weight small micro-batches too much).
   */
  clipRatio: ClipStats;
  /** The same as token counts (whole numbers): clipRatio × tokens without rounding error. */
  clipTokens: ClipStats;
  /** Scored tokens whose argmax logit is the token itself (first index on ties); token accuracy = correct / tokens. */
  correct: number;
  /** Per sequence, per token: log-prob of scored tokens under the current policy (0 elsewhere). */
  logprobs: Float32Array[];
  entropies: Float32Array[];
}

function packBatch(b: Pick<TrainBatch, 'sequences' | 'completionMasks'> & Partial<TrainBatch>, what: string): NativeTrainBatch {
  const S = b.sequences.length;
  if (S === 0) throw new RangeError(`${what}: no sequences`);
  if (b.completionMasks.length !== S) {
    throw new RangeError(`${what}: ${S} sequences but ${b.completionMasks.length} completion masks`);
  }
  if (b.advantages !== undefined && b.advantages.length !== S) {
    throw new RangeError(`${what}: ${S} sequences but ${b.advantages.length} advantages`);
  }
  for (const [key, arr] of [['oldLogprobs', b.oldLogprobs], ['refLogprobs', b.refLogprobs]] as const) {
    if (arr !== undefined && arr.length !== S) throw new RangeError(`${what}: ${S} sequences but ${arr.length} ${key}`);
  }
  const seqs = b.sequences.map((s, i) => toTokenArray(s, `${what}: sequences[${i}]`));
  const offsets = new Int32Array(S + 1);
  seqs.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`${what}: sequences[${i}] is empty`);
    offsets[i + 1] = offsets[i] + s.length;
  });
  const T = offsets[S];
  const tokens = new Int32Array(T);
  const mask = new Float32Array(T);
  const old = b.oldLogprobs ? new Float32Array(T) : undefined;
  const ref = b.refLogprobs ? new Float32Array(T) : undefined;
  seqs.forEach((s, i) => {
    const n = s.length;
    tokens.set(s, offsets[i]);
    const check = (arr: ArrayLike<number>, key: string) => {
      if (arr.length !== n) throw new RangeError(`${what}: ${key}[${i}] has ${arr.length} entries for ${n} tokens`);
    };
    check(b.completionMasks[i], 'completionMasks');
    mask.set(b.completionMasks[i], offsets[i]);
    if (old) {
      check(b.oldLogprobs![i], 'oldLogprobs');
      old.set(b.oldLogprobs![i], offsets[i]);
    }
    if (ref) {
      check(b.refLogprobs![i], 'refLogprobs');
      ref.set(b.refLogprobs![i], offsets[i]);
    }
  });
  const out: NativeTrainBatch = { tokens, offsets, mask };
  if (b.advantages !== undefined) out.advantages = Float32Array.from(b.advantages);
  if (old) out.oldLogp = old;
  if (ref) out.refLogp = ref;
  return out;
}

function split(flat: Float32Array, offsets: Int32Array): Float32Array[] {
  return Array.from({ length: offsets.length - 1 }, (_, i) => flat.slice(offsets[i], offsets[i + 1]));
}

export class TrainerEngine {
  private constructor(
    readonly native: NativeTrainer,
    readonly model: LfmModel,
    private readonly opts: TrainerEngineOptions,
  ) {}

  static async create(model: LfmModel, opts: TrainerEngineOptions): Promise<TrainerEngine> {
    if (opts.mode === 'lora') {
      if (!opts.lora) throw new TypeError('TrainerEngine.create: mode "lora" needs lora settings');
      if ((opts.lora.loraDropout ?? 0) !== 0) {
        throw new RangeError('TrainerEngine.create: lora_dropout must be 0 (the engine trains without adapter dropout)');
      }
    }
    const o = opts.optimizer;
    const t = await native().Trainer.create(model.native, {
      mode: opts.mode,
      lora: opts.lora && {
        r: opts.lora.r,
        alpha: opts.lora.loraAlpha,
        targetModules: opts.lora.targetModules,
        useRslora: opts.lora.useRslora,
        seed: opts.lora.seed ?? 0,
      },
      optimizer: {
        lr: o.learningRate,
        schedule: o.schedule ?? 'linear',
        warmupSteps: o.warmupSteps ?? 0,
        totalSteps: o.totalSteps ?? 1,
        weightDecay: o.weightDecay ?? 0,
        beta1: o.beta1 ?? 0.9,
        beta2: o.beta2 ?? 0.999,
        eps: o.eps ?? 1e-8,
        maxGradNorm: o.maxGradNorm ?? 1.0,
      },
      precision: opts.precision ?? 'exact',
      maxPassTokens: opts.maxPassTokens ?? 0,
      checkpointing: opts.checkpointing ?? false,
    });
    return new TrainerEngine(t, model, opts);
  }

  info(): NativeTrainerInfo {
    return this.native.info();
  }

  /**
   * The trainable tensors under the names the checkpoint files use, with their shapes: full fine-tuning, the HF
   * weight names and shapes of saveModel (e.g. `model.layers.0.conv.conv.weight` [C, 1, L]); LoRA, the PEFT names
   * of saveAdapter, `base_model.model.<module>.lora_A.weight` [r, in] and `.lora_B.weight` [out, r].
   */
  trainableTensors(): { name: string; shape: number[] }[] {
    const shapes = new Map(this.model.info.tensors.map((t) => [t.name, t.shape]));
    return this.native.parameterNames().map((n) => {
      const lora = /^(.*)\.lora_([AB])\.weight$/.exec(n);
      if (this.opts.mode !== 'lora' || !lora) return { name: n, shape: shapes.get(n)! };
      const [out, inp] = shapes.get(`${lora[1]}.weight`)!;
      const r = this.opts.lora!.r;
      return { name: PEFT_TENSOR_PREFIX + n, shape: lora[2] === 'A' ? [r, inp] : [out, r] };
    });
  }

  /** Names of trainableTensors(), in the engine's order. */
  parameterNames(): string[] {
    return this.trainableTensors().map((t) => t.name);
  }

  /** A copy of the gradient accumulated since the last step()/zeroGrad(), flat in the tensor's row-major order. */
  gradient(name: string): Float32Array {
    return this.native.gradient(this.nativeName(name, 'gradient'));
  }

  /** A copy of a trainable tensor's FP32 master weights, flat in row-major order. */
  parameter(name: string): Float32Array {
    return this.native.parameter(this.nativeName(name, 'parameter'));
  }

  /** The engine's own name of a trainable tensor (LoRA names drop the PEFT prefix); unknown names throw. */
  private nativeName(name: string, fn: string): string {
    const names = this.native.parameterNames();
    if (this.opts.mode === 'lora') {
      if (name.startsWith(PEFT_TENSOR_PREFIX) && names.includes(name.slice(PEFT_TENSOR_PREFIX.length))) {
        return name.slice(PEFT_TENSOR_PREFIX.length);
      }
      const hint = names.includes(name) ? ` (LoRA tensors carry PEFT's prefix: '${PEFT_TENSOR_PREFIX}${name}')` : '';
      throw new RangeError(`${fn}: no trainable tensor named '${name}'${hint}; see parameterNames()`);
    }
    if (!names.includes(name)) throw new RangeError(`${fn}: no trainable tensor named '${name}'; see parameterNames()`);
    return name;
  }

  /** Forward, loss (GRPO or sft) and backward of one micro-batch; gradients add up until step(). */
  async accumulate(batch: TrainBatch, loss: LossSettings = {}): Promise<MicroStepResult> {
    const nb = packBatch(batch, 'accumulate');
    const eps = loss.epsilon ?? 0.2;
    const r: NativeMicroStep = await this.native.accumulate(nb, {
      lossType: loss.lossType ?? 'dapo',
      epsilonLow: eps,
      epsilonHigh: loss.epsilonHigh ?? eps,
      beta: loss.beta ?? 0,
      temperature: loss.temperature ?? 1,
      maxCompletionLength: loss.maxCompletionLength ?? 0,
      tokenNormalizer: loss.tokenNormalizer ?? 0,
      sequenceNormalizer: loss.sequenceNormalizer ?? 0,
    });
    const n = Math.max(1, r.tokens);
    return {
      loss: r.loss,
      tokens: r.tokens,
      meanEntropy: r.entropySum / n,
      meanKl: r.klSum / n,
      clipRatio: { low: r.clipLow / n, high: r.clipHigh / n, region: r.clipRegion / n },
      correct: r.correct,
      clipTokens: { low: r.clipLow, high: r.clipHigh, region: r.clipRegion },
      logprobs: split(r.logp, nb.offsets),
      entropies: split(r.entropy, nb.offsets),
    };
  }

  /** AdamW step on the accumulated gradients (then zeroed); skipped (and reported) on a non-finite gradient. */
  async step(): Promise<NativeStepResult> {
    return this.native.step();
  }

  async zeroGrad(): Promise<void> {
    return this.native.zeroGrad();
  }

  /**
   * Log-probs (and entropies) of the masked tokens without gradients: the old policy, or with `adapter: false` the
   * frozen base = the KL reference in LoRA mode (no second copy of the weights).
   */
  async computeLogprobs(
    sequences: readonly TokenIds[],
    masks: readonly ArrayLike<number>[],
    opts: { adapter?: boolean; temperature?: number } = {},
  ): Promise<{ logprobs: Float32Array[]; entropies: Float32Array[] }> {
    const nb = packBatch({ sequences, completionMasks: masks }, 'computeLogprobs');
    const r = await this.native.logprobs(nb, { adapter: opts.adapter ?? true, temperature: opts.temperature ?? 1 });
    return { logprobs: split(r.logp, nb.offsets), entropies: split(r.entropy, nb.offsets) };
  }

  /** Folds the adapter into the base weights so any forward (e.g. the sampler) sees it; unmerge() restores them exactly. */
  async merge(): Promise<void> {
    return this.native.merge();
  }

  async unmerge(): Promise<void> {
    return this.native.unmerge();
  }

  /** Optimizer state, master weights and step, plus `extra` (any JSON value, e.g. RNG states) for an exact resume. */
  async saveState(dir: string, extra: unknown = {}): Promise<void> {
    mkdirSync(dir, { recursive: true });
    return this.native.saveState(dir, JSON.stringify(extra));
  }

  /** Restores what saveState wrote into this (identically configured) trainer; returns `extra`. */
  async loadState(dir: string): Promise<unknown> {
    return JSON.parse(await this.native.loadState(dir));
  }

  /** The source model folder (where config.json and the tokenizer files live). */
  modelDir(): string {
    const src = this.model.info.tensors.find((t) => t.source)?.source;
    if (!src) throw new Error('the model was not loaded from a folder');
    return dirname(src);
  }

  /**
   * Hugging Face model folder: BF16 model.safetensors (adapter folded in for LoRA), config.json (torch_dtype
   * bfloat16) and the source folder's generation/tokenizer files.
   */
  async saveModel(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    await this.native.saveModel(dir);
    const src = this.modelDir();
    const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
    cfg.torch_dtype = 'bfloat16';
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    for (const f of ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja']) {
      if (existsSync(join(src, f))) copyFileSync(join(src, f), join(dir, f));
    }
  }

  /** PEFT adapter folder (adapter_model.safetensors + adapter_config.json). */
  async saveAdapter(dir: string, baseModelNameOrPath?: string): Promise<void> {
    if (this.opts.mode !== 'lora' || !this.opts.lora) throw new Error('saveAdapter: the trainer is not in LoRA mode');
    mkdirSync(dir, { recursive: true });
    await this.native.saveAdapter(dir);
    writeAdapterConfig(dir, this.opts.lora, baseModelNameOrPath ?? this.modelDir());
  }

  /** Loads a PEFT adapter whose config matches this trainer's LoRA settings (rank, alpha, targets). */
  async loadAdapter(dir: string): Promise<void> {
    if (this.opts.mode !== 'lora' || !this.opts.lora) throw new Error('loadAdapter: the trainer is not in LoRA mode');
    const c = readAdapterConfig(dir);
    const mine = this.opts.lora;
    const same =
      c.r === mine.r &&
      c.loraAlpha === mine.loraAlpha &&
      c.useRslora === mine.useRslora &&
      JSON.stringify(c.targetModules) === JSON.stringify(mine.targetModules);
    if (!same) {
      throw new Error(
        `loadAdapter: ${dir} has r=${c.r}, lora_alpha=${c.loraAlpha}, target_modules=${JSON.stringify(c.targetModules)}, ` +
          `use_rslora=${c.useRslora}; this trainer has r=${mine.r}, lora_alpha=${mine.loraAlpha}, ` +
          `target_modules=${JSON.stringify(mine.targetModules)}, use_rslora=${mine.useRslora} ` +
          '(create the trainer with TrainerEngine.fromAdapter to take the folder\'s settings)',
      );
    }
    await checkFiniteWeights([join(dir, ADAPTER_WEIGHTS_FILE)]);
    await this.native.loadAdapter(dir);
  }

  /** A LoRA trainer configured from a PEFT folder's adapter_config.json, with its weights loaded. */
  static async fromAdapter(
    model: LfmModel,
    dir: string,
    opts: Omit<TrainerEngineOptions, 'mode' | 'lora'>,
  ): Promise<TrainerEngine> {
    const c = readAdapterConfig(dir);
    await checkFiniteWeights([join(dir, ADAPTER_WEIGHTS_FILE)]);
    const t = await TrainerEngine.create(model, {
      ...opts,
      mode: 'lora',
      lora: { r: c.r, loraAlpha: c.loraAlpha, targetModules: c.targetModules, useRslora: c.useRslora },
    });
    await t.native.loadAdapter(dir);
    return t;
  }
}
