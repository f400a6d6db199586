// Types of the native module's exports. Keep in sync with native/binding/*.cpp.
export interface BackendInfo {
  threads: number;
  cudaCompiled: boolean;
  avx512: boolean;
  avx512bf16: boolean;
  avx2: boolean;
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
    opts?: { logits?: LogitsSelection; hidden?: boolean; precision?: PrecisionMode },
  ): Promise<NativeForwardResult>;
  createState(): NativeGenerationState;
  /** Appends chunks[i] to states[i] (prefill, chunked prefill or one-token decode, all sequences in one pass). */
  advance(
    states: NativeGenerationState[],
    chunks: Int32Array[],
    opts?: { logits?: LogitsSelection; precision?: PrecisionMode },
  ): Promise<NativeForwardResult>;
}

export interface NativeModelClass {
  load(dir: string, opts?: { dtype?: 'auto' | 'bf16' | 'f32' }): Promise<NativeModel>;
}

/** Forward kernels on plain arrays (native/binding/ops_forward.cpp), for tests. */
export interface NativeOpsForward {
  rmsnorm(x: Float32Array, w: Float32Array, rows: number, n: number, eps: number): { y: Float32Array; rstd: Float32Array };
  rope(x: Float32Array, positions: Int32Array, nHeads: number, headDim: number, theta: number): Float32Array;
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    opts: { nHeads: number; nKvHeads: number; headDim: number; nQ: number[]; nKv: number[] },
  ): { out: Float32Array; lse: Float32Array };
  shortconv(
    z: Float32Array,
    kernel: Float32Array,
    C: number,
    lengths: number[],
    states?: Float32Array,
  ): { y: Float32Array; states: Float32Array };
  swiglu(a: Float32Array, b: Float32Array): Float32Array;
  embedding(ids: Int32Array, table: Float32Array | Uint16Array, vocab: number, C: number): Float32Array;
}

// ---- matrix products and machine ceilings (native/binding/ops_gemm.cpp), for tests and benchmarks
export type GemmImplName = 'auto' | 'portable' | 'avx2' | 'avx512';
export interface GemmArgs {
  /** nt: C = beta*C + A[m,k]·B[n,k]ᵀ; nn: C = beta*C + A[m,k]·B[k,n]; tn: C = beta*C + A[k,m]ᵀ·B[k,n]. */
  op: 'nt' | 'nn' | 'tn';
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  /** Float32Array, or a Uint16Array of bf16 bit patterns (not for 'tn'). */
  b: Float32Array | Uint16Array;
  /** Written in place (beta = 0 never reads it). */
  c: Float32Array;
  lda?: number;
  ldb?: number;
  ldc?: number;
  beta?: number;
  impl?: GemmImplName;
  /** 'fast' (op 'nt' only) may round A to bf16 and use AVX512_BF16 dot products. */
  precision?: 'exact' | 'fast';
}
export interface CpuFeatures {
  avx2: boolean;
  fma: boolean;
  f16c: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512vl: boolean;
  avx512dq: boolean;
  avx512bf16: boolean;
}

export interface NativeAddon {
  backendInfo(): BackendInfo;
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
  Model: NativeModelClass;
  opsForward: NativeOpsForward;
  /** Runs one matrix product synchronously; returns the seconds spent in native code. */
  gemm(args: GemmArgs): number;
  /** Implementations this CPU can run (best last) and the one 'auto' picks. */
  gemmImpls(): { supported: Exclude<GemmImplName, 'auto'>[]; auto: Exclude<GemmImplName, 'auto'> };
  cpuFeatures(): CpuFeatures;
  /** Peak FLOP/s on all pool threads: 'fma-f32' (FP32 FMA stream) or 'dot-bf16' (vdpbf16ps, AVX512_BF16 only). */
  cpuPeakFlops(kind: 'fma-f32' | 'dot-bf16', seconds: number): number;
  /** Sustained read bytes/s over a buffer of `bytes` on all pool threads. */
  cpuReadBandwidth(bytes: number, seconds: number): number;
}
