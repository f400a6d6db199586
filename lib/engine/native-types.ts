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
