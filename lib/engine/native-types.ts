// Types of the native module's exports. Keep in sync with native/binding/*.cpp.
export interface BackendInfo {
  threads: number;
  cudaCompiled: boolean;
  avx512: boolean;
  avx512bf16: boolean;
  avx2: boolean;
}

export interface NativeAddon {
  backendInfo(): BackendInfo;
  setThreads(n: number): void;
}
