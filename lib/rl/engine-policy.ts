// The policy of a run: one native model shared by the trainer (forward/backward/AdamW) and the sampler (batched
// generation) — no weight copies, no sync — on the CPU or on a CUDA GPU (`device`). With LoRA on the CPU the adapter
// is merged into the base for sampling (hook-free decode) and unmerged before training; on the GPU the trainer's
// adapter is applied inside every GEMM of generation, so nothing is merged. The frozen base with the adapter off is
// the KL reference. In full fine-tuning the KL reference (beta > 0 only) is a second, frozen model loaded from the
// initial weights, scored with its own per-token log-probs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainConfig } from '../io/config.ts';
import { LfmModel } from '../engine/model.ts';
import { native } from '../engine/native.ts';
import { Sampler } from '../engine/sampler.ts';
import { Tokenizer } from '../engine/tokenizer.ts';
import { TrainerEngine, type OptimizerSettings } from '../engine/trainer-engine.ts';
import type { PackedBatch } from '../engine/packed-batch.ts';
import { ADAPTER_CONFIG_FILE } from '../engine/peft.ts';
import type { AccumulateStats, LossSettings, OptimizerStepResult, TrainEngine } from './engine-types.ts';
import type { GeneratedSample, GenerationRequest, GenerationSettings, Generator } from './generator.ts';

export interface Policy {
  engine: TrainEngine;
  generator: Generator;
  tokenizer: Tokenizer;
  /** For the banner, e.g. 'cpu (2 threads, AVX-512 BF16)'. */
  device: string;
  close(): void;
}

/** The backend a run uses: 'cuda' when asked for (or 'auto' finds a usable GPU), else 'cpu'. Throws a clear error
 * when 'cuda' is asked for and cannot be used. */
export function resolveRunDevice(device: TrainConfig['device']): 'cpu' | 'cuda' {
  const info = native().backendInfo();
  if (device === 'cuda' && !info.cudaCompiled) throw new Error("device 'cuda' requested but this build has no CUDA backend; use device: cpu (or auto)");
  return native().resolveDevice(device);
}

/** Sizes the CPU thread pool for a run (`threads` 0 = keep the default: every core). */
export function useThreads(threads: number): void {
  // Resize the pool only when the count changes (resizing a pool that has already run work is not safe).
  if (threads > 0 && native().backendInfo().threads !== threads) native().setThreads(threads);
}

/** Device string for the banner of a run on `device` (from resolveRunDevice), with the pool's thread count. */
export function describeDevice(device: 'cpu' | 'cuda'): string {
  const info = native().backendInfo();
  if (device === 'cuda') return `cuda (${info.cudaDeviceName}${info.cudaEmulated ? ', emulated on the CPU' : ''})`;
  const f = native().cpuFeatures();
  const isa = f.avx512f && f.avx512bf16 ? 'AVX-512 + BF16' : f.avx512f ? 'AVX-512' : f.avx2 ? 'AVX2' : 'portable';
  return `cpu (${info.threads} thread${info.threads === 1 ? '' : 's'}, ${isa})`;
}

/** Batched generation on the shared model through the native sampler (lib/engine/sampler.ts). */
export class SamplerGenerator implements Generator {
  private readonly sampler: Sampler;

  constructor(model: LfmModel, private readonly precision: 'exact' | 'fast') {
    this.sampler = new Sampler(model);
  }

  /** Prefix states computed with older weights are stale after an optimizer step. */
  clearCache(): void {
    this.sampler.clearCache();
  }

  async generate(requests: readonly GenerationRequest[], s: GenerationSettings) {
    const t0 = performance.now();
    const out = await this.sampler.generate(
      requests.map((r) => ({ prompt: r.prompt, n: r.n, ...(r.trie ? { constraint: r.trie } : {}) })),
      {
        temperature: s.temperature,
        topK: s.topK,
        topP: s.topP,
        minP: s.minP,
        repetitionPenalty: s.repetitionPenalty,
        maxNewTokens: s.maxNewTokens,
        stopTokenIds: s.stopIds,
        seed: s.seed,
        precision: this.precision,
      },
    );
    // tempLogprobs = log softmax(z / T) over the whole vocabulary, no mask: what the loss recomputes at the same
    // temperature (the plain log-prob at T = 1 and for greedy decoding).
    const samples: GeneratedSample[][] = out.results.map((r) =>
      r.samples.map((x) => ({ tokens: [...x.tokens], logprobs: [...x.tempLogprobs], finish: x.finishReason })),
    );
    return {
      samples,
      timings: { seconds: (performance.now() - t0) / 1000, prefillTokens: out.stats.prefillTokens, generatedTokens: out.stats.generatedTokens },
    };
  }
}

/** The micro-batch the engine scores: the packed batch as it is, plus the reference log-probs. `sft` leaves out the
 *  advantages and old log-probs (a demonstration batch has none that mean anything). */
function withReference(b: PackedBatch, ref: Float32Array | null, sft: boolean): PackedBatch {
  const { advantages, oldLogprobs, ...rest } = b;
  return { ...rest, ...(sft ? {} : { advantages, oldLogprobs }), ...(ref ? { refLogprobs: ref } : {}) };
}

class NativeTrainEngine implements TrainEngine {
  readonly mode: 'full' | 'lora';
  readonly totalParameters: number;
  readonly trainableParameters: number;
  private readonly device: 'cpu' | 'cuda';

  constructor(
    private readonly trainer: TrainerEngine,
    model: LfmModel,
    private readonly config: TrainConfig,
    private readonly generator: SamplerGenerator,
    /** Full fine-tuning with beta > 0: the frozen starting weights (LoRA: the trainer's base with the adapter off). */
    private readonly reference: LfmModel | null,
  ) {
    const info = trainer.info();
    this.device = model.device;
    this.mode = info.mode;
    this.totalParameters = model.info.parameterCount + (info.mode === 'lora' ? info.trainableParameters : 0);
    this.trainableParameters = info.trainableParameters;
  }

  async accumulate(batch: PackedBatch, ref: Float32Array | null, l: LossSettings): Promise<AccumulateStats> {
    const { logprobs, entropies, ...stats } = await this.trainer.accumulate(withReference(batch, ref, l.lossType === 'sft'), {
      lossType: l.lossType,
      epsilon: l.epsilonLow,
      epsilonHigh: l.epsilonHigh,
      beta: l.beta,
      temperature: l.temperature,
      maxCompletionLength: l.maxCompletionLength,
      tokenNormalizer: l.tokenNormalizer,
      sequenceNormalizer: l.sequenceNormalizer,
    });
    return stats;
  }

  async step(): Promise<OptimizerStepResult> {
    const r = await this.trainer.step();
    return { gradNorm: r.gradNorm, skipped: r.skipped, lr: r.lr, badTensor: r.badTensor };
  }

  zeroGrad(): Promise<void> {
    return this.trainer.zeroGrad();
  }

  async referenceLogprobs(batch: PackedBatch, temperature: number): Promise<Float32Array> {
    if (this.mode === 'lora') return (await this.trainer.computeLogprobs(batch, { adapter: false, temperature })).logprobs;
    if (!this.reference) throw new Error('no reference model loaded (beta was 0 at start)');
    return (await this.reference.tokenLogprobs(batch, { temperature })).logprobs;
  }

  async beginGeneration(): Promise<void> {
    this.generator.clearCache();
    // On the GPU the trainer's adapter already takes part in every generation GEMM.
    if (this.mode === 'lora' && this.device === 'cpu') await this.trainer.merge();
  }

  async endGeneration(): Promise<void> {
    if (this.mode === 'lora' && this.device === 'cpu') await this.trainer.unmerge();
    // States cached during generation hold activations of the merged weights: drop them before weights change.
    this.generator.clearCache();
  }

  async suspendGeneration(): Promise<void> {
    // merge() recomputes the same bytes from the same adapter and unmerge() restores the originals exactly, so the
    // sampler's cache stays valid across the pause.
    if (this.mode === 'lora' && this.device === 'cpu') await this.trainer.unmerge();
  }

  async resumeGeneration(): Promise<void> {
    if (this.mode === 'lora' && this.device === 'cpu') await this.trainer.merge();
  }

  async saveWeights(dir: string): Promise<void> {
    if (this.mode === 'full') await this.trainer.saveModel(dir);
    else await this.trainer.saveAdapter(dir, this.config.model);
  }

  saveState(dir: string, extraJson: string): Promise<void> {
    return this.trainer.saveState(dir, JSON.parse(extraJson));
  }

  async loadState(dir: string): Promise<string> {
    return JSON.stringify(await this.trainer.loadState(dir));
  }

  /** Copies this LoRA adapter's FP32 weights into another LoRA trainer of the same settings (its moments stay fresh). */
  async copyAdapterTo(to: TrainerEngine): Promise<void> {
    if (this.mode !== 'lora') throw new Error('copyAdapterTo: not a LoRA engine');
    const names = this.trainer.native.parameterNames();
    const theirs = new Set(to.native.parameterNames());
    for (const n of names) {
      if (!theirs.has(n)) throw new Error(`copyAdapterTo: the target trainer has no parameter ${n} (different LoRA settings)`);
      to.native.setParameter(n, this.trainer.native.parameter(n));
    }
  }
}

/** Model, tokenizer and sampler of a run before any trainer exists (an SFT stage creates its trainer first). */
export interface PolicyModel {
  model: LfmModel;
  tokenizer: Tokenizer;
  generator: SamplerGenerator;
  device: string;
  modelDir: string;
}

export async function loadPolicyModel(modelDir: string, c: TrainConfig): Promise<PolicyModel> {
  const runDevice = resolveRunDevice(c.device);
  useThreads(c.threads);
  const device = describeDevice(runDevice);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const model = await LfmModel.load(modelDir, { dtype: c.weights_dtype, device: runDevice });
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(`${modelDir}: tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.config.vocabSize}`);
  }
  return { model, tokenizer, generator: new SamplerGenerator(model, c.precision), device, modelDir };
}

/** The GRPO optimizer of a config: its learning rate and schedule over max_steps. */
export function grpoOptimizer(c: TrainConfig): OptimizerSettings {
  return {
    learningRate: c.learning_rate,
    schedule: c.lr_scheduler_type,
    warmupSteps: c.warmup_steps,
    totalSteps: c.max_steps,
    weightDecay: c.weight_decay,
    beta1: c.adam_beta1,
    beta2: c.adam_beta2,
    eps: c.adam_epsilon,
    maxGradNorm: c.max_grad_norm,
  };
}

export interface EngineOptions {
  /** Default grpoOptimizer(c); the SFT stage passes its own rate and schedule. */
  optimizer?: OptimizerSettings;
  /** Build the KL reference when beta > 0 (default true; the SFT stage needs none). */
  reference?: boolean;
  /**
   * Start from another engine's trained weights with fresh optimizer moments (the SFT → GRPO hand-over). LoRA: its
   * adapter is copied (FP32, exact). Full fine-tuning: nothing to copy, the engines share the model, whose weights the
   * other engine's steps updated in place (the new FP32 masters are read from them: exact for FP32 weights, the
   * BF16 values for BF16 weights).
   */
  startFrom?: TrainEngine;
}

/**
 * A trainer on the shared model with the config's mode, LoRA settings and precision. Create it after any earlier
 * engine of the same model (on the GPU the newest LoRA trainer is the one generation applies).
 */
export async function createTrainEngine(pm: PolicyModel, c: TrainConfig, o: EngineOptions = {}): Promise<TrainEngine> {
  const { model, modelDir } = pm;
  const optimizer = o.optimizer ?? grpoOptimizer(c);
  const trainer = await TrainerEngine.create(model, {
    mode: c.use_peft ? 'lora' : 'full',
    ...(c.use_peft
      ? { lora: { r: c.lora.r, loraAlpha: c.lora.lora_alpha, targetModules: c.lora.target_modules, useRslora: c.lora.use_rslora, loraDropout: c.lora.lora_dropout, seed: c.seed } }
      : {}),
    optimizer,
    precision: c.precision,
    maxPassTokens: c.micro_batch_tokens,
    checkpointing: c.gradient_checkpointing,
  });
  if (o.startFrom) {
    if (!(o.startFrom instanceof NativeTrainEngine) || o.startFrom.mode !== (c.use_peft ? 'lora' : 'full')) {
      throw new Error('createTrainEngine: startFrom must be a native engine of the same mode');
    }
    if (c.use_peft) await o.startFrom.copyAdapterTo(trainer);
  }
  // Full fine-tuning moves the shared model's weights: the KL reference is a frozen copy of the starting ones.
  const reference =
    (o.reference ?? true) && !c.use_peft && c.beta > 0 ? await LfmModel.load(modelDir, { dtype: c.weights_dtype, device: model.device }) : null;
  return new NativeTrainEngine(trainer, model, c, pm.generator, reference);
}

/** Loads model, tokenizer, trainer and sampler for training with config `c`. */
export async function loadPolicy(modelDir: string, c: TrainConfig): Promise<Policy> {
  const pm = await loadPolicyModel(modelDir, c);
  return policyOf(pm, await createTrainEngine(pm, c));
}

/** The Policy of a model and its (GRPO) engine. */
export function policyOf(pm: PolicyModel, engine: TrainEngine): Policy {
  return { engine, generator: pm.generator, tokenizer: pm.tokenizer, device: pm.device, close: () => {} };
}

/** What evaluation needs: a generator over a model folder or checkpoint (PEFT adapters merged into their base). */
export interface EvalPolicy {
  generator: Generator;
  tokenizer: Tokenizer;
  device: string;
  /** Model folder the weights came from (the base for adapters). */
  source: string;
  close(): void;
}

/**
 * Loads a model folder or a checkpoint: an HF model folder is used as is; a PEFT adapter folder
 * (adapter_config.json) is applied to its base (`baseDir`, else the adapter's base_model_name_or_path) and merged.
 * Tokenizer files come from the folder itself when present, else from the base.
 */
export async function loadEvalPolicy(dir: string, opts: { baseDir?: string; device: TrainConfig['device']; threads: number; precision: 'exact' | 'fast' }): Promise<EvalPolicy> {
  const runDevice = resolveRunDevice(opts.device);
  useThreads(opts.threads);
  const device = describeDevice(runDevice);
  const adapterPath = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(adapterPath)) {
    const model = await LfmModel.load(dir, { device: runDevice });
    return { generator: new SamplerGenerator(model, opts.precision), tokenizer: Tokenizer.fromDir(dir), device, source: dir, close: () => {} };
  }
  const { readAdapterConfig } = await import('../engine/peft.ts');
  const ac = readAdapterConfig(dir);
  const base = opts.baseDir ?? ac.baseModelNameOrPath;
  if (!base) throw new Error(`${adapterPath} names no base model: pass --base <model folder>`);
  const { resolveModel } = await import('../io/hub.ts');
  const baseDir = (await resolveModel(base)).dir;
  const model = await LfmModel.load(baseDir, { device: runDevice });
  // On the GPU the adapter is applied during generation for as long as its trainer lives (kept by the closure).
  const trainer = await TrainerEngine.fromAdapter(model, dir, { optimizer: { learningRate: 0 } });
  if (model.device === 'cpu') await trainer.merge();
  const tokDir = existsSync(join(dir, 'tokenizer.json')) ? dir : baseDir;
  return {
    generator: new SamplerGenerator(model, opts.precision),
    tokenizer: Tokenizer.fromDir(tokDir),
    device,
    source: baseDir,
    close: () => void trainer,
  };
}
