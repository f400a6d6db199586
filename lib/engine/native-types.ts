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
}
