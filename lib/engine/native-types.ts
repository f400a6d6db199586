// Types of the native module's exports. Keep in sync with native/binding/*.cpp.
import type { PackedBatch } from './packed-batch.ts';

export interface BackendInfo {
  threads: number;
  cudaCompiled: boolean;
  /** The CUDA backend runs on the CPU emulator (lfm2_rl_emu.node, for tests): 'auto' resolves to the CPU. */
  cudaEmulated: boolean;
  avx512: boolean;
  avx512bf16: boolean;
  /** AMX tiles with BF16 (and the OS granted them): fast-precision GEMMs run the AMX kernels. */
  amxBf16: boolean;
  avx2: boolean;
  /** A CUDA device can be used (cudaCompiled and a GPU with compute capability 8.0+ and a working driver). */
  cudaUsable: boolean;
  cudaDevices: number;
  cudaDeviceName: string;
  /** Why CUDA cannot be used ('' when it can). */
  cudaReason: string;
}

export interface NativeSafetensorsInfo {
  headerLength: number;
  metadata: Record<string, string>;
  /** In data-offset order. */
  tensors: { name: string; dtype: string; shape: number[]; dataOffsets: [number, number] }[];
}

// ---- LFM2 model (native/binding/model.cpp)
export interface NativeModelConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Real FFN width (after the 2/3 rule, checked against the w1 tensor). */
  ffDim: number;
  blockFfDim: number;
  convLCache: number;
  normEps: number;
  ropeTheta: number;
  tieEmbedding: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number;
  eosTokenId: number;
  padTokenId: number;
  layerTypes: ('conv' | 'full_attention')[];
}

export interface NativeModelInfo {
  config: NativeModelConfig;
  parameterCount: number;
  /** Storage dtype of the embedding and linears (norms and conv kernels are always f32). */
  dtype: 'bf16' | 'f32';
  /** HF names; shapes as the engine stores them (LfmModel.info reports HF's [C, 1, L] for conv kernels). */
  tensors: { name: string; shape: number[]; dtype: 'bf16' | 'f32'; source: string }[];
}

export type LogitsSelection = 'all' | 'last' | 'none';
export type PrecisionMode = 'exact' | 'fast';

export interface NativeForwardResult {
  /** [R, vocab] logits of the rows in logitRows. */
  logits: Float32Array;
  /** [R] packed row index (over all sequences of the call) of each logits row. */
  logitRows: Int32Array;
  vocab: number;
  /** [T, hiddenSize] final-norm hidden states of every row, when asked for. */
  hidden?: Float32Array;
  hiddenSize?: number;
}

export interface NativeGenerationState {
  /** Tokens consumed so far (= position of the next token). */
  readonly length: number;
  /** Bytes held by the KV caches and conv states. */
  readonly bytes: number;
  readonly freed: boolean;
  /** Deep copy (KV caches and conv shift registers), e.g. one prompt seeding many samples. */
  fork(): NativeGenerationState;
  free(): void;
}

export interface NativeModel {
  info(): NativeModelInfo;
  forward(
    seqs: Int32Array[],
    opts?: { logits?: LogitsSelection; hidden?: boolean; precision?: PrecisionMode; retainActivations?: boolean },
  ): Promise<NativeForwardResult>;
  /** Per-token log-probs and entropies [T] of the masked tokens under the model's own weights, no gradient. */
  tokenLogprobs(
    batch: Pick<PackedBatch, 'tokens' | 'cuSeqlens' | 'completionMask'>,
    opts?: { temperature?: number; precision?: PrecisionMode },
  ): Promise<{ logp: Float32Array; entropy: Float32Array }>;
  createState(): NativeGenerationState;
  /** Appends chunks[i] to states[i] (prefill, chunked prefill or one-token decode, all sequences in one pass). */
  advance(
    states: NativeGenerationState[],
    chunks: Int32Array[],
    opts?: { logits?: LogitsSelection; precision?: PrecisionMode },
  ): Promise<NativeForwardResult>;
  /** Device bytes of a model on 'cuda'; throws on the CPU. */
  memory(): { weightBytes: number; stateBytes: number; stateBytesCap: number };
}

/**
 * One class for both devices. On 'cuda' (native/binding/cuda_model_engine.cpp) precision does not apply (GEMM
 * inputs are always BF16) and info() has device: 'cuda'; 'cuda' without a usable GPU throws saying why.
 */
export interface NativeModelClass {
  load(
    dir: string,
    opts?: {
      /** Default 'cpu'. */
      device?: 'auto' | 'cpu' | 'cuda';
      /** CPU only. */
      dtype?: 'auto' | 'bf16' | 'f32';
      /** CUDA only: bytes all generation states may hold on the GPU (default 90% of free memory after the weights). */
      stateBytesCap?: number;
    },
  ): Promise<NativeModel>;
}

// ---- batched sampler (native/binding/sampler.cpp)
export interface NativeSamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
  stopIds?: Int32Array;
  /** UTF-8 bytes of each stop string. */
  stopStrings?: Uint8Array[];
  seed?: number;
}

/** Flat token trie (lib/rl/action-trie.ts ActionTrie fields). */
export interface NativeTokenTrie {
  childStart: Int32Array;
  childToken: Int32Array;
  childNode: Int32Array;
  terminal: Uint8Array;
}

export interface NativeGenerateSpec {
  requests: { prompt: Int32Array; n: number; trie?: NativeTokenTrie }[];
  params: NativeSamplingParams;
  /** ≤ 0 or absent: the model's max_position_embeddings. */
  maxContext?: number;
  prefillChunkTokens?: number;
  precision?: PrecisionMode;
  cachePrompts?: boolean;
  /** GPU only: replay a captured CUDA graph per decode step (default true, LFM2_CUDA_GRAPHS=0 → false). */
  graphs?: boolean;
}

export interface NativeGeneratedSample {
  request: number;
  index: number;
  tokens: Int32Array;
  logprobs: Float32Array;
  tempLogprobs: Float32Array;
  sampleLogprobs: Float32Array;
  maskedLogprobs?: Float32Array;
  finishReason: 'stop' | 'length' | 'constraint';
  /** Index into params.stopStrings, −1 when no stop string ended the sample. */
  stopString: number;
  firstTokenMs: number;
  finishMs: number;
}

export interface NativeGenerateStats {
  distinctPrompts: number;
  promptTokens: number;
  cachedTokens: number;
  sharedTokens: number;
  prefillTokens: number;
  decodeSteps: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  totalMs: number;
}

export interface NativePrefixCacheStats {
  entries: number;
  bytes: number;
  capacity: number;
  hits: number;
  misses: number;
  inserts: number;
  evictions: number;
}

export interface NativeSampler {
  generate(spec: NativeGenerateSpec): {
    promise: Promise<{ samples: NativeGeneratedSample[]; stats: NativeGenerateStats }>;
    cancel(): void;
  };
  /** Token id → raw bytes: bytes[offsets[i] .. offsets[i+1]) (offsets has vocab + 1 entries). */
  setTokenBytes(bytes: Uint8Array, offsets: Int32Array): void;
  clearCache(): void;
  setCacheBytes(bytes: number): void;
  cacheStats(): NativePrefixCacheStats;
  /** Decode-step graph counters of a sampler on a 'cuda' model; undefined on the CPU. */
  graphStats(): NativeDecodeGraphStats | undefined;
  readonly busy: boolean;
}

/** Generates on the device of the model it is given (GPU: native/binding/cuda_sampler.cpp, cached states on the GPU). */
export interface NativeSamplerClass {
  new (model: NativeModel, opts?: { cacheBytes?: number }): NativeSampler;
}

/** Decode-step CUDA graph bookkeeping of a sampler on a 'cuda' model (since it was made). */
export interface NativeDecodeGraphStats {
  /** Graphs alive now (one per row bucket used). */
  graphs: number;
  captures: number;
  replays: number;
  /** Decode steps enqueued without a graph (graphs: false). */
  directSteps: number;
}

/** The sampler's token choice on plain arrays, for tests. */
export interface NativeSamplerOps {
  distribution(
    logits: Float32Array,
    params: NativeSamplingParams,
    seen?: Int32Array | null,
    allowed?: Int32Array | null,
  ): { ids: Int32Array; probs: Float64Array };
  choose(
    logits: Float32Array,
    params: NativeSamplingParams,
    seen: Int32Array | null | undefined,
    allowed: Int32Array | null | undefined,
    u: number,
  ): { token: number; logprob: number; tempLogprob: number; sampleLogprob: number; maskedLogprob: number };
  uniform(seed: number, seq: number, step: number): number;
  /** Microseconds per token choice, timed in a native loop (no JS copy per call); u = (i + 0.5) / iters. */
  timeChoose(
    logits: Float32Array,
    params: NativeSamplingParams,
    seen: Int32Array | null | undefined,
    allowed: Int32Array | null | undefined,
    iters: number,
  ): number;
  /** true: scalar row kernels (max / exp / sum); false: run-time dispatch (AVX2+FMA when the CPU has it). */
  setPortableKernels(on: boolean): void;
}

// ---- CPU features and ceilings (native/binding/cpu_probes.cpp)
export interface CpuFeatures {
  avx2: boolean;
  fma: boolean;
  f16c: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512vl: boolean;
  avx512dq: boolean;
  avx512bf16: boolean;
  /** AMX-TILE and AMX-BF16, usable by this process. */
  amxBf16: boolean;
}

export interface NativeAddon {
  backendInfo(): BackendInfo;
  /** 'auto' → 'cuda' when a usable GPU is present, else 'cpu'; 'cuda' without one throws saying why. */
  resolveDevice(name: 'auto' | 'cpu' | 'cuda'): 'cpu' | 'cuda';
  cudaStatus(): NativeCudaStatus;
  /** Every op of the op table on the CPU or CUDA backend (native/binding/ops.cpp), for tests and benchmarks. */
  ops: NativeOps;
  /** Training math with no backend: LR schedules, LoRA scale, init and merge (native/binding/train_math.cpp). */
  train: NativeTrainMath;
  setThreads(n: number): void;
  /** Opens (mmap + full validation) and describes a safetensors file; throws naming the file and problem. */
  safetensorsInfo(path: string): NativeSafetensorsInfo;
  /** One F32/F16/BF16 (F64 for 'f32') tensor converted to f32 or bf16 bits. */
  safetensorsReadTensor(path: string, name: string, as: 'f32'): Float32Array;
  safetensorsReadTensor(path: string, name: string, as: 'bf16'): Uint16Array;
  /** Canonical writer (same bytes as lib/io/safetensors.ts writeSafetensors); dtypes F32 F16 BF16 F64 I32 I64 U8 I8 BOOL. */
  safetensorsWrite(
    path: string,
    tensors: { name: string; dtype: string; shape: readonly number[]; data: ArrayBufferView }[],
    metadata?: Record<string, string>,
  ): void;
  /** The strict JSON parser of native/core/json.h (tests); integers: 'bigint' returns integer literals exactly. */
  jsonParse(text: string, options?: { integers?: 'number' | 'bigint' }): unknown;
  Model: NativeModelClass;
  /** GRPO training engine over a Model (native/binding/trainer.cpp). */
  Trainer: NativeTrainerClass;
  Sampler: NativeSamplerClass;
  samplerOps: NativeSamplerOps;
  cpuFeatures(): CpuFeatures;
  /** Peak FLOP/s on all pool threads: 'fma-f32' (FP32 FMA stream), 'dot-bf16' (vdpbf16ps, AVX512_BF16 only) or
   *  'amx-bf16' (TDPBF16PS, AMX-BF16 only). */
  cpuPeakFlops(kind: 'fma-f32' | 'dot-bf16' | 'amx-bf16', seconds: number): number;
  /** Sustained read bytes/s over a buffer of `bytes` on all pool threads. */
  cpuReadBandwidth(bytes: number, seconds: number): number;
}

// ---- the op table (native/binding/ops.cpp, native/backend/backend_ops.h)
// Every op on the backend `device` names ('cpu' by default). Outputs are caller-provided arrays: activation gradients
// are overwritten (=), parameter gradients accumulate (+=). Per-head tensors are [tokens, heads, headDim];
// cuSeqlens [nseq+1] are packed-sequence offsets. `impl` forces one build of a kernel (ops.impls lists them).
export type GrpoLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
/**
 * Every loss the training engine computes: the GRPO family, and 'sft' — cross-entropy −log p of the completion
 * tokens (demonstrations), aggregated like dapo, with temperature 1, beta 0 and no advantages.
 */
export type EngineLossType = GrpoLossType | 'sft';
export type LrScheduleKind = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export type OpDevice = 'cpu' | 'cuda';
export type OpName =
  | 'gemm.nn' | 'gemm.nt' | 'gemm.tn' | 'gemm.tt' | 'gemmMulti'
  | 'rmsnorm' | 'rmsnormBackward' | 'rmsnormHeadsBackward' | 'rope' | 'ropeBackward'
  | 'attention' | 'attentionPacked' | 'attentionBackward' | 'shortconv' | 'shortconvPacked' | 'shortconvBackward'
  | 'swiglu' | 'swigluBackward' | 'embedding' | 'embeddingBackward' | 'grpoLoss' | 'adamw'
  | 'loraForward' | 'loraBackward' | 'gatherRows' | 'scatterRows' | 'rowExpStats' | 'sample';
export interface OnBackend {
  /** Default 'cpu'; 'cuda' without a usable GPU (or emulator) throws saying why. */
  device?: OpDevice;
  /** Default 'auto' (what the engine runs): cpu GEMM 'portable' | 'avx2' | 'avx512' | 'amx' (AMX
   *  only changes fast precision's large products); cpu attention, SwiGLU, AdamW and
   *  rowExpStats the SIMD family; cpu grpoLoss 'fused' | 'unfused'; cuda GEMM 'tiled' | 'cublaslt'. */
  impl?: string;
}

/** C = beta·C + alpha·op(A)·op(B): nt: A[m,k]·B[n,k]ᵀ, nn: A[m,k]·B[k,n], tn: A[k,m]ᵀ·B[k,n], tt: A[k,m]ᵀ·B[n,k]ᵀ. */
export interface GemmArgs extends OnBackend {
  op: 'nt' | 'nn' | 'tn' | 'tt';
  m: number;
  n: number;
  k: number;
  /** Float32Array (FP32) or Uint16Array (BF16 bits): ops.supports('gemm.nt', { device, a, b }) says which. */
  a: Float32Array | Uint16Array;
  b: Float32Array | Uint16Array;
  /** Written in place (beta = 0 never reads it). */
  c: Float32Array;
  lda?: number;
  ldb?: number;
  ldc?: number;
  alpha?: number;
  beta?: number;
  /** cpu: 'fast' rounds the operands to bf16 and uses AVX512_BF16 dot products where the CPU has them (small-M 'nt': A only, F32 weights exact). */
  precision?: 'exact' | 'fast';
}
/** gemm_nt_multi (cpu): several C_i = beta_i*C_i + A[m,k]·B_i[n_i,k]ᵀ sharing A, in one call. */
export interface GemmMultiArgs extends OnBackend {
  m: number;
  k: number;
  a: Float32Array;
  lda?: number;
  /** At most 8; every b has the same type (Float32Array, or Uint16Array of bf16 bit patterns). */
  parts: { b: Float32Array | Uint16Array; n: number; c: Float32Array; ldb?: number; ldc?: number; beta?: number }[];
  precision?: 'exact' | 'fast';
}
/** Fresh packed sequences (training): q [T, qHeads, D], k/v [T, kvHeads, D]. */
export interface AttentionArgs extends OnBackend {
  tokens: number;
  qHeads: number;
  kvHeads: number;
  headDim: number;
  cuSeqlens: Int32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}
/** Inputs of ops.grpoLoss; the loss options are the same fields Trainer.accumulate takes. */
export interface GrpoLossArgs extends NativeLossOptions, OnBackend {
  rows: number;
  vocab: number;
  dim: number;
  /** [rows, dim] final hidden states of the scored completion tokens. */
  hidden: Float32Array;
  /** [vocab, dim] tied head: Float32Array (FP32) or Uint16Array (BF16 bits; the only kind 'cuda' takes). */
  head: Float32Array | Uint16Array;
  targets: Int32Array;
  /** Absent: old = current log-probs detached (ratio 1). Not used by sft. */
  oldLogp?: Float32Array;
  refLogp?: Float32Array;
  /** Required except for sft. */
  advantages?: Float32Array;
  /** Each 0 or 1. */
  mask: Float32Array;
  seqIds: Int32Array;
  /** Importance-sampling weights on the surrogate (rejected by sft). */
  isWeight?: Float32Array;
  dhidden?: Float32Array;
  /** [vocab, dim], accumulated. */
  dhead?: Float32Array;
  logp?: Float32Array;
  entropy?: Float32Array;
}

export interface GrpoLossStats {
  loss: number;
  tokens: number;
  klSum: number;
  entropySum: number;
  clipLow: number;
  clipHigh: number;
  clipRegion: number;
  /** Σ mask·[argmax of the logits = target] (first index on ties): token accuracy = correct / tokens. */
  correct: number;
  /** The CPU loss's scratch bytes (absent on 'cuda'). */
  workspaceBytes?: number;
}

export interface AdamWTensorArgs {
  weight: Float32Array;
  grad: Float32Array;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  /** BF16 copy rewritten after the update. */
  bf16?: Uint16Array;
  /** Default true. */
  decay?: boolean;
}

export interface NativeOps {
  /** Whether the backend has `op` for these element types (a: gemm A, embedding table, grpoLoss head; b: gemm B). */
  supports(op: OpName, opts?: { device?: OpDevice; a?: 'f32' | 'bf16'; b?: 'f32' | 'bf16' }): boolean;
  /** The builds of `op` this machine runs (tests force each), best last; 'auto' runs the last. */
  impls(op: OpName, opts?: { device?: OpDevice }): string[];
  /** Returns the wall time of the call and the process CPU time it used (all threads). */
  gemm(a: GemmArgs): { seconds: number; cpuSeconds: number };
  gemmMulti(a: GemmMultiArgs): { seconds: number; cpuSeconds: number };
  /** y [rows, n]; rstd [rows] optional. */
  rmsnorm(a: OnBackend & { rows: number; n: number; eps?: number; x: Float32Array; w: Float32Array; y: Float32Array; rstd?: Float32Array }): void;
  /** dx may be dy (in place); dw accumulates. */
  rmsnormBackward(a: OnBackend & { rows: number; n: number; eps?: number; x: Float32Array; w: Float32Array; dy: Float32Array; dx: Float32Array; dw: Float32Array }): void;
  rmsnormHeadsBackward(a: OnBackend & {
    tokens: number; heads: number; headDim: number; eps?: number;
    x: Float32Array; w: Float32Array; dy: Float32Array; dx: Float32Array; dw: Float32Array;
  }): void;
  /** x [tokens, heads, headDim] rotated in place. */
  rope(a: OnBackend & { tokens: number; heads: number; headDim: number; theta?: number; pos: Int32Array; x: Float32Array }): void;
  ropeBackward(a: OnBackend & { tokens: number; heads: number; headDim: number; theta?: number; pos: Int32Array; dy: Float32Array; dx: Float32Array }): void;
  /** Over a cached prefix: sequence s has nQ[s] query rows (q, out) and nKv[s] ≥ nQ[s] key rows (k, v); query i sits at position nKv − nQ + i. */
  attention(a: OnBackend & {
    qHeads: number; kvHeads: number; headDim: number; nQ: number[]; nKv: number[];
    q: Float32Array; k: Float32Array; v: Float32Array; out: Float32Array; lse?: Float32Array;
  }): void;
  attentionPacked(a: AttentionArgs & { o: Float32Array; lse: Float32Array }): void;
  /** o and lse optional: recomputed when absent. */
  attentionBackward(a: AttentionArgs & { o?: Float32Array; lse?: Float32Array; dout: Float32Array; dq: Float32Array; dk: Float32Array; dv: Float32Array }): void;
  /** z [T, 3C] (B, C, x) → y [T, C], carrying shift registers states [nseq, 2, C] (in/out) when given. */
  shortconv(a: OnBackend & { channels: number; lengths: number[]; z: Float32Array; kernel: Float32Array; y: Float32Array; states?: Float32Array }): void;
  shortconvPacked(a: OnBackend & { channels: number; cuSeqlens: Int32Array; z: Float32Array; kernel: Float32Array; y: Float32Array }): void;
  shortconvBackward(a: OnBackend & {
    channels: number; cuSeqlens: Int32Array; z: Float32Array; kernel: Float32Array; dy: Float32Array;
    dz: Float32Array; dkernel: Float32Array;
  }): void;
  swiglu(a: OnBackend & { a: Float32Array; b: Float32Array; out: Float32Array }): void;
  /** da/db may be a/b (in place). */
  swigluBackward(a: OnBackend & { rows: number; F: number; a: Float32Array; b: Float32Array; dh: Float32Array; da: Float32Array; db: Float32Array }): void;
  /** table: Float32Array or Uint16Array (BF16 bits). */
  embedding(a: OnBackend & { ids: Int32Array; table: Float32Array | Uint16Array; vocab: number; dim: number; out: Float32Array }): void;
  /** dE accumulates; paddingIdx (default −1: none) gets no gradient. */
  embeddingBackward(a: OnBackend & { vocab: number; dim: number; paddingIdx?: number; ids: Int32Array; dx: Float32Array; dE: Float32Array }): void;
  grpoLoss(a: GrpoLossArgs): GrpoLossStats;
  /** step is 1-based; when skipped (non-finite gradient) nothing was written. */
  adamw(a: OnBackend & {
    tensors: AdamWTensorArgs[]; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number;
    maxGradNorm?: number; step: number;
  }): { gradNorm: number; clipCoef: number; skipped: boolean; badTensor: number };
  /** xa [rows, rank] = x·Aᵀ (optional output); y += scale·xa·Bᵀ. 'cuda' rounds x, A, B and xa to BF16 as its trainer does. */
  loraForward(a: OnBackend & { rows: number; in: number; out: number; rank: number; scale: number; x: Float32Array; A: Float32Array; B: Float32Array; xa?: Float32Array; y: Float32Array }): void;
  /** dA, dB, dx accumulate. */
  loraBackward(a: OnBackend & {
    rows: number; in: number; out: number; rank: number; scale: number; dy: Float32Array; x: Float32Array;
    A: Float32Array; B: Float32Array; dA: Float32Array; dB: Float32Array; dx?: Float32Array;
  }): void;
  /** dst [rows.length, dim] = src rows. */
  gatherRows(a: OnBackend & { src: Float32Array; srcRows: number; rows: Int32Array; dim: number; dst: Float32Array }): void;
  /** dst rows[i] = src row i (rows distinct); other rows untouched. */
  scatterRows(a: OnBackend & { src: Float32Array; rows: Int32Array; dim: number; dst: Float32Array; dstRows: number }): void;
  /** Softmax row kernel of the loss: z ← exp(z − shift) in place. */
  rowExpStats(a: OnBackend & { length: number; z: Float32Array; shift: number }): { sum: number; sumEz: number };
  /**
   * One token per row of logits [rows, vocab]: allowed mask → repetition penalty (seen ids) → temperature (0 = greedy) →
   * top-k → top-p → min-p → inverse CDF at `uniform` in ascending id order. logq: log q of the token under that
   * distribution (0 when greedy); logp: log softmax of the raw row at temperature 1.
   */
  sample(a: OnBackend & {
    logits: Float32Array; rows: number; vocab: number;
    params: { temperature?: number; topK?: number; topP?: number; minP?: number; repetitionPenalty?: number; uniform: number; seen?: Int32Array; allowed?: Int32Array }[];
  }): { token: Int32Array; logq: Float32Array; logp: Float32Array };
}

export interface NativeTrainMath {
  /** step = optimizer steps already taken (0-based), HF semantics. */
  lrAt(a: { kind: LrScheduleKind; baseLr: number; warmupSteps: number; totalSteps: number; step: number; numCycles?: number }): number;
  loraInit(a: { in: number; out: number; rank: number; seed: number; A: Float32Array; B: Float32Array }): void;
  loraMerge(a: { in: number; out: number; rank: number; scale: number; A: Float32Array; B: Float32Array; W: Float32Array | Uint16Array; sign?: 1 | -1 }): void;
  loraScale(a: { alpha: number; rank: number; useRslora?: boolean }): number;
}

// ---- training engine (native/binding/trainer.cpp)
export interface NativeTrainerOptions {
  mode: 'full' | 'lora';
  /** PEFT semantics: targetModules is a list of module-name suffixes, or one full-match regex string. */
  lora?: { r: number; alpha: number; targetModules: string[] | string; useRslora?: boolean; seed?: number };
  optimizer?: {
    lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; maxGradNorm?: number;
    schedule?: LrScheduleKind; warmupSteps?: number; totalSteps?: number; numCycles?: number;
  };
  precision?: PrecisionMode;
  /** Split a micro-batch into passes of at most this many tokens (whole sequences); 0 = one pass. */
  maxPassTokens?: number;
  /** Keep only each layer's input in the forward and recompute layers during the backward. */
  checkpointing?: boolean;
}

/** GRPO loss options (names and defaults read by native/binding/grpo_loss_args.h). */
export interface NativeLossOptions {
  /** Default 'dapo'. 'sft' needs temperature 1 and beta 0. */
  lossType?: EngineLossType;
  epsilonLow?: number;
  /** Defaults to epsilonLow. */
  epsilonHigh?: number;
  beta?: number;
  temperature?: number;
  maxCompletionLength?: number;
  /** bnpo/dapo denominator (e.g. completion tokens of the whole generation batch); ≤ 0: this call's Σ mask. */
  tokenNormalizer?: number;
  /** grpo/dr_grpo sequence count; ≤ 0: distinct seqIds of this call. */
  sequenceNormalizer?: number;
  chunkRows?: number;
}

export interface NativeMicroStep {
  loss: number;
  tokens: number;
  klSum: number;
  entropySum: number;
  clipLow: number;
  clipHigh: number;
  clipRegion: number;
  /** Σ over scored tokens of [argmax of the logits = token] (first index on ties). */
  correct: number;
  /** [T] per packed token (0 where mask is 0). */
  logp: Float32Array;
  entropy: Float32Array;
}

export interface NativeStepResult {
  gradNorm: number;
  clipCoef: number;
  skipped: boolean;
  lr: number;
  step: number;
  badTensor: string | null;
}

export interface NativeTrainerInfo {
  mode: 'full' | 'lora';
  step: number;
  trainableParameters: number;
  /** 'cuda' for the GPU trainer (created from a 'cuda' model; native/binding/cuda_trainer_engine.cpp), absent on the CPU. */
  device?: 'cuda';
  lora: { rank: number; scale: number; merged: boolean; modules: string[] } | null;
}

export interface NativeTrainer {
  info(): NativeTrainerInfo;
  accumulate(batch: PackedBatch, loss: NativeLossOptions): Promise<NativeMicroStep>;
  logprobs(batch: PackedBatch, opts: { adapter?: boolean; temperature?: number }): Promise<{ logp: Float32Array; entropy: Float32Array }>;
  step(): Promise<NativeStepResult>;
  zeroGrad(): Promise<void>;
  merge(): Promise<void>;
  unmerge(): Promise<void>;
  saveState(dir: string, extraJson?: string): Promise<void>;
  loadState(dir: string): Promise<string>;
  saveModel(dir: string): Promise<void>;
  saveAdapter(dir: string): Promise<void>;
  loadAdapter(dir: string): Promise<void>;
  /** Trainable tensors: HF weight names (full) or "<module>.lora_A.weight" / ".lora_B.weight" (LoRA). */
  parameterNames(): string[];
  /** Copy of a trainable tensor's FP32 master weights. */
  parameter(name: string): Float32Array;
  /** Copy of its accumulated gradient. */
  gradient(name: string): Float32Array;
  /** Overwrites its master weights (and the model's BF16 copy); optimizer state is kept. */
  setParameter(name: string, data: Float32Array): void;
}

export interface NativeTrainerClass {
  /**
   * A 'cuda' model gets the GPU trainer: same methods, weights shared with the model (LoRA: its adapter is installed
   * on the model, so generation samples from the current policy; full: steps rewrite the model's BF16 weights).
   * merge()/unmerge() reject on the GPU; precision is always BF16 GEMM inputs.
   */
  create(model: NativeModel, opts: NativeTrainerOptions): Promise<NativeTrainer>;
}

// ---- CUDA backend (native/binding/cuda.cpp)
export interface NativeCudaStatus {
  compiled: boolean;
  deviceCount: number;
  deviceName: string;
  reason: string;
  /** libcublasLt could be loaded (otherwise GEMMs use the built-in tiled kernel). */
  cublasLt: boolean;
}

