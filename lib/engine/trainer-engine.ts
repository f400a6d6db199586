// Typed training API over the native Trainer (native/binding/trainer.cpp): GRPO or sft micro-steps (forward, fused
// loss, backward, gradients accumulated), optimizer steps (AdamW + clipping + LR schedule), log-probs for the old and
// reference policies, LoRA merge/unmerge, and the checkpoint formats (trainer state, HF model, PEFT adapter).
// Every heavy call runs off the main thread and returns a Promise.
//
// Batches: a PackedBatch (lib/engine/packed-batch.ts) goes to the engine as it is; the per-sequence TrainBatch of tests
// and small tools is packed once into that layout.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkFiniteWeights } from './finite-weights.ts';
import { native } from './native.ts';
import type { LfmModel, TokenIds } from './model.ts';
import type { EngineLossType, LrScheduleKind, NativeStepResult, NativeTrainer, NativeTrainerInfo, PrecisionMode } from './native-types.ts';
import { isPackedBatch, packBatch, perSequence, type PackedBatch, type TrainBatch } from './packed-batch.ts';
import { ADAPTER_WEIGHTS_FILE, PEFT_TENSOR_PREFIX, readAdapterConfig, writeAdapterConfig, type LoraSettings } from './peft.ts';

export type { NativeStepResult as StepResult, NativeTrainerInfo as TrainerInfo, PackedBatch, TrainBatch };

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

/**
 * Statistics of one micro-batch as sums over its scored completion tokens, so micro-batches combine exactly by adding;
 * a mean (e.g. KL per token = klSum / tokens) is taken only where it is shown or logged.
 */
export interface MicroStepStats {
  /** This micro-batch's share of the loss (already divided by the normaliser). */
  loss: number;
  /** Scored completion tokens (Σ of the completion mask: sft token weights add their weight). */
  tokens: number;
  /** Σ k3 KL to the reference (0 without refLogprobs). */
  klSum: number;
  /** Σ entropy of the distribution that scored each token. */
  entropySum: number;
  /** Tokens whose ratio ρ = exp(logp − old) was clipped below, ρ < 1 − epsilon with a negative advantage. */
  clipLow: number;
  /** Clipped above, ρ > 1 + epsilonHigh with a positive advantage. */
  clipHigh: number;
  /** Either of the two. */
  clipRegion: number;
  /** Scored tokens whose argmax logit is the token itself (first index on ties); token accuracy = correct / tokens. */
  correct: number;
}

/** accumulate() of a PackedBatch: the statistics and, per packed token [T], the current policy's log-probs (0 where
 *  the mask is 0) and entropies. */
export interface PackedMicroStepResult extends MicroStepStats {
  logprobs: Float32Array;
  entropies: Float32Array;
}

/** accumulate() of a per-sequence TrainBatch: the same with log-probs and entropies cut per sequence. */
export interface MicroStepResult extends MicroStepStats {
  logprobs: Float32Array[];
  entropies: Float32Array[];
}

export interface LogprobOptions {
  /** Apply the LoRA adapter (default true); false scores the frozen base. */
  adapter?: boolean;
  temperature?: number;
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
  async accumulate(batch: PackedBatch, loss?: LossSettings): Promise<PackedMicroStepResult>;
  async accumulate(batch: TrainBatch, loss?: LossSettings): Promise<MicroStepResult>;
  async accumulate(batch: PackedBatch | TrainBatch, loss: LossSettings = {}): Promise<PackedMicroStepResult | MicroStepResult> {
    const packed = isPackedBatch(batch) ? batch : packBatch(batch, 'accumulate');
    const eps = loss.epsilon ?? 0.2;
    const { logp, entropy, ...stats } = await this.native.accumulate(packed, {
      lossType: loss.lossType ?? 'dapo',
      epsilonLow: eps,
      epsilonHigh: loss.epsilonHigh ?? eps,
      beta: loss.beta ?? 0,
      temperature: loss.temperature ?? 1,
      maxCompletionLength: loss.maxCompletionLength ?? 0,
      tokenNormalizer: loss.tokenNormalizer ?? 0,
      sequenceNormalizer: loss.sequenceNormalizer ?? 0,
    });
    if (packed === batch) return { ...stats, logprobs: logp, entropies: entropy };
    return { ...stats, logprobs: perSequence(logp, packed.cuSeqlens), entropies: perSequence(entropy, packed.cuSeqlens) };
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
   * frozen base = the KL reference in LoRA mode (no second copy of the weights). A PackedBatch gets per-token arrays
   * [T]; sequences and masks get one array per sequence.
   */
  async computeLogprobs(batch: PackedBatch, opts?: LogprobOptions): Promise<{ logprobs: Float32Array; entropies: Float32Array }>;
  async computeLogprobs(
    sequences: readonly TokenIds[],
    masks: readonly ArrayLike<number>[],
    opts?: LogprobOptions,
  ): Promise<{ logprobs: Float32Array[]; entropies: Float32Array[] }>;
  async computeLogprobs(
    first: PackedBatch | readonly TokenIds[],
    second?: readonly ArrayLike<number>[] | LogprobOptions,
    third?: LogprobOptions,
  ): Promise<{ logprobs: Float32Array; entropies: Float32Array } | { logprobs: Float32Array[]; entropies: Float32Array[] }> {
    const isPacked = !Array.isArray(first);
    const packed = isPacked
      ? (first as PackedBatch)
      : packBatch({ sequences: first as readonly TokenIds[], completionMasks: second as readonly ArrayLike<number>[] }, 'computeLogprobs');
    const opts = (isPacked ? (second as LogprobOptions | undefined) : third) ?? {};
    const r = await this.native.logprobs(packed, { adapter: opts.adapter ?? true, temperature: opts.temperature ?? 1 });
    if (isPacked) return { logprobs: r.logp, entropies: r.entropy };
    return { logprobs: perSequence(r.logp, packed.cuSeqlens), entropies: perSequence(r.entropy, packed.cuSeqlens) };
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
