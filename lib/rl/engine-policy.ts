// The policy of a run: one native model shared by the trainer (forward/backward/AdamW) and the sampler (batched
// generation) — no weight copies, no sync. With LoRA the adapter is merged into the base for sampling (hook-free
// decode) and unmerged before training; the frozen base with the adapter off is the KL reference. In full
// fine-tuning the KL reference (beta > 0 only) is a second, frozen copy of the initial weights.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainConfig } from '../io/config.ts';
import { LfmModel } from '../engine/model.ts';
import { native } from '../engine/native.ts';
import { Tokenizer } from '../engine/tokenizer.ts';
import type { NativeModel } from '../engine/native-types.ts';
import type { AccumulateStats, LossSettings, OptimizerStepResult, TrainEngine } from './engine-types.ts';
import { Sampler } from '../engine/sampler.ts';
import type { GeneratedSample, GenerationRequest, GenerationSettings, Generator } from './generator.ts';
import type { PackedBatch } from './samples.ts';

// ---- the parts of the native Trainer class used here (native/binding/trainer.cpp)
interface NativeBatch {
  tokens: Int32Array;
  offsets: Int32Array;
  mask: Float32Array;
  advantages?: Float32Array;
  oldLogp?: Float32Array;
  refLogp?: Float32Array;
}
interface NativeTrainer {
  info(): { mode: 'full' | 'lora'; step: number; trainableParameters: number; lora: { rank: number; scale: number; modules: string[]; merged: boolean } | null };
  accumulate(batch: NativeBatch, loss: Record<string, number | string>): Promise<AccumulateStats & { logp: Float32Array; entropy: Float32Array }>;
  logprobs(batch: NativeBatch, opts: { adapter?: boolean; temperature?: number }): Promise<{ logp: Float32Array; entropy: Float32Array }>;
  step(): Promise<OptimizerStepResult & { step: number; clipCoef: number }>;
  zeroGrad(): Promise<void>;
  merge(): Promise<void>;
  unmerge(): Promise<void>;
  saveState(dir: string, extraJson: string): Promise<void>;
  loadState(dir: string): Promise<string>;
  saveModel(dir: string): Promise<void>;
  saveAdapter(dir: string): Promise<void>;
  loadAdapter(dir: string): Promise<void>;
}
interface NativeTrainerClass {
  create(model: NativeModel, opts: Record<string, unknown>): Promise<NativeTrainer>;
}
function addonClasses(): { Trainer: NativeTrainerClass } {
  const a = native() as unknown as { Trainer?: NativeTrainerClass };
  if (!a.Trainer) throw new Error('the native addon has no Trainer: rebuild it with `make build`');
  return { Trainer: a.Trainer };
}

export interface Policy {
  engine: TrainEngine;
  generator: Generator;
  tokenizer: Tokenizer;
  /** For the banner, e.g. 'cpu (2 threads, AVX-512 BF16)'. */
  device: string;
  close(): void;
}

/** Device string; rejects cuda when the addon was built without it. */
export function describeDevice(c: Pick<TrainConfig, 'device' | 'threads'>): string {
  const info = native().backendInfo();
  if (c.device === 'cuda' && !info.cudaCompiled) throw new Error("device 'cuda' requested but this build has no CUDA backend; use device: cpu (or auto)");
  if (c.threads > 0) native().setThreads(c.threads);
  const isa = info.avx512bf16 ? 'AVX-512 BF16' : info.avx512 ? 'AVX-512' : info.avx2 ? 'AVX2' : 'portable';
  return `cpu (${c.threads > 0 ? c.threads : native().backendInfo().threads} threads, ${isa})`;
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

function nativeBatch(b: PackedBatch, withLoss: boolean, ref: Float32Array | null): NativeBatch {
  const out: NativeBatch = { tokens: b.tokens, offsets: b.cuSeqlens, mask: b.completionMask };
  if (withLoss) {
    out.advantages = b.advantages;
    out.oldLogp = b.oldLogprobs;
    if (ref) out.refLogp = ref;
  }
  return out;
}

/** Target modules as the engine takes them: a list of suffixes, or one regex string when any entry is a regex. */
function targetModules(list: readonly string[]): string[] | string {
  const isRegex = (m: string) => /[\\^$*+?()[\]|]/.test(m);
  return list.some(isRegex) ? list.map((m) => (isRegex(m) ? `(${m})` : `(.*\\.${m.replace(/\./g, '\\.')}$)`)).join('|') : [...list];
}

class NativeTrainEngine implements TrainEngine {
  readonly mode: 'full' | 'lora';
  readonly totalParameters: number;
  readonly trainableParameters: number;

  constructor(
    private readonly trainer: NativeTrainer,
    private readonly model: LfmModel,
    private readonly modelDir: string,
    private readonly config: TrainConfig,
    private readonly generator: SamplerGenerator,
    private readonly reference: NativeTrainer | null,
  ) {
    const info = trainer.info();
    this.mode = info.mode;
    this.totalParameters = model.info.parameterCount + (info.mode === 'lora' ? info.trainableParameters : 0);
    this.trainableParameters = info.trainableParameters;
  }

  async accumulate(batch: PackedBatch, ref: Float32Array | null, l: LossSettings): Promise<AccumulateStats> {
    const r = await this.trainer.accumulate(nativeBatch(batch, true, ref), {
      lossType: l.lossType,
      epsilonLow: l.epsilonLow,
      epsilonHigh: l.epsilonHigh,
      beta: l.beta,
      temperature: l.temperature,
      maxCompletionLength: l.maxCompletionLength,
      tokenNormalizer: l.tokenNormalizer,
      sequenceNormalizer: l.sequenceNormalizer,
    });
    return { loss: r.loss, tokens: r.tokens, klSum: r.klSum, entropySum: r.entropySum, clipLow: r.clipLow, clipHigh: r.clipHigh, clipRegion: r.clipRegion };
  }

  async step(): Promise<OptimizerStepResult> {
    const r = await this.trainer.step();
    return { gradNorm: r.gradNorm, skipped: r.skipped, lr: r.lr, badTensor: r.badTensor };
  }

  zeroGrad(): Promise<void> {
    return this.trainer.zeroGrad();
  }

  async referenceLogprobs(batch: PackedBatch, temperature: number): Promise<Float32Array> {
    const b = nativeBatch(batch, false, null);
    if (this.mode === 'lora') return (await this.trainer.logprobs(b, { adapter: false, temperature })).logp;
    if (!this.reference) throw new Error('no reference model loaded (beta = 0 at start)');
    return (await this.reference.logprobs(b, { adapter: false, temperature })).logp;
  }

  async beginGeneration(): Promise<void> {
    this.generator.clearCache();
    if (this.mode === 'lora') await this.trainer.merge();
  }

  async endGeneration(): Promise<void> {
    if (this.mode === 'lora') await this.trainer.unmerge();
    // States cached during generation hold activations of the merged weights: drop them before weights change.
    this.generator.clearCache();
  }

  async saveWeights(dir: string): Promise<void> {
    if (this.mode === 'full') {
      await this.trainer.saveModel(dir);
      const cfg = JSON.parse(readFileSync(join(this.modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, torch_dtype: 'bfloat16' }, null, 2) + '\n');
      return;
    }
    await this.trainer.saveAdapter(dir);
    if (!existsSync(join(dir, 'adapter_config.json'))) writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(adapterConfig(this.config), null, 2) + '\n');
  }

  saveState(dir: string, extraJson: string): Promise<void> {
    return this.trainer.saveState(dir, extraJson);
  }

  loadState(dir: string): Promise<string> {
    return this.trainer.loadState(dir);
  }
}

/** PEFT adapter_config.json of a run (grpo.md §9.3). */
export function adapterConfig(c: TrainConfig): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: c.model,
    revision: null,
    r: c.lora.r,
    lora_alpha: c.lora.lora_alpha,
    lora_dropout: c.lora.lora_dropout,
    target_modules: c.lora.target_modules,
    exclude_modules: null,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: c.lora.use_rslora,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
    init_lora_weights: true,
    inference_mode: true,
  };
}

function trainerOptions(c: TrainConfig): Record<string, unknown> {
  return {
    mode: c.use_peft ? 'lora' : 'full',
    ...(c.use_peft ? { lora: { r: c.lora.r, alpha: c.lora.lora_alpha, useRslora: c.lora.use_rslora, targetModules: targetModules(c.lora.target_modules), seed: c.seed } } : {}),
    optimizer: {
      lr: c.learning_rate,
      beta1: c.adam_beta1,
      beta2: c.adam_beta2,
      eps: c.adam_epsilon,
      weightDecay: c.weight_decay,
      maxGradNorm: c.max_grad_norm,
      schedule: c.lr_scheduler_type,
      warmupSteps: c.warmup_steps,
      totalSteps: c.max_steps,
    },
    precision: c.precision,
    maxPassTokens: c.micro_batch_tokens,
  };
}

/** Loads model, tokenizer, trainer and sampler for training with config `c`. */
export async function loadPolicy(modelDir: string, c: TrainConfig): Promise<Policy> {
  const device = describeDevice(c);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const model = await LfmModel.load(modelDir, { dtype: c.weights_dtype });
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(`${modelDir}: tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.config.vocabSize}`);
  }
  const { Trainer } = addonClasses();
  const trainer = await Trainer.create(model.native, trainerOptions(c));
  let reference: NativeTrainer | null = null;
  if (!c.use_peft && c.beta > 0) {
    // A frozen copy of the starting weights; a rank-1 adapter that is never enabled makes its logprobs() available.
    const refModel = await LfmModel.load(modelDir, { dtype: c.weights_dtype });
    reference = await Trainer.create(refModel.native, { mode: 'lora', lora: { r: 1, alpha: 1, targetModules: ['q_proj'] }, optimizer: { lr: 0 } });
  }
  const generator = new SamplerGenerator(model, c.precision);
  const engine = new NativeTrainEngine(trainer, model, modelDir, c, generator, reference);
  return { engine, generator, tokenizer, device, close: () => {} };
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
  const device = describeDevice({ device: opts.device, threads: opts.threads });
  const adapterPath = join(dir, 'adapter_config.json');
  if (!existsSync(adapterPath)) {
    const model = await LfmModel.load(dir);
    return { generator: new SamplerGenerator(model, opts.precision), tokenizer: Tokenizer.fromDir(dir), device, source: dir, close: () => {} };
  }
  const ac = JSON.parse(readFileSync(adapterPath, 'utf8')) as { r: number; lora_alpha: number; target_modules: string[] | string; use_rslora?: boolean; base_model_name_or_path?: string };
  const base = opts.baseDir ?? ac.base_model_name_or_path;
  if (!base) throw new Error(`${adapterPath} names no base model: pass --base <model folder>`);
  const { resolveModel } = await import('../io/hub.ts');
  const baseDir = (await resolveModel(base)).dir;
  const model = await LfmModel.load(baseDir);
  const { Trainer } = addonClasses();
  const trainer = await Trainer.create(model.native, {
    mode: 'lora',
    lora: { r: ac.r, alpha: ac.lora_alpha, useRslora: ac.use_rslora ?? false, targetModules: Array.isArray(ac.target_modules) ? targetModules(ac.target_modules) : ac.target_modules },
    optimizer: { lr: 0 },
  });
  await trainer.loadAdapter(dir);
  await trainer.merge();
  const tokDir = existsSync(join(dir, 'tokenizer.json')) ? dir : baseDir;
  return { generator: new SamplerGenerator(model, opts.precision), tokenizer: Tokenizer.fromDir(tokDir), device, source: baseDir, close: () => {} };
}
