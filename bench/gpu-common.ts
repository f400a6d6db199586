// What the GPU benchmarks share: the H100 peak they report MFU against, and the gate that decides whether this run
// can time a GPU at all (asked for with --gpu, a usable device, and not the CPU emulation of CUDA).
import { native } from '../lib/engine/native.ts';
import type { BenchContext } from './types.ts';

/** H100 SXM dense BF16 tensor-core peak (FP32 accumulate), FLOP/s. */
export const H100_BF16_DENSE_FLOPS = 989e12;

/** True when `name`'s GPU rows can be measured; otherwise prints why not (the bench then returns no rows). */
export function gpuBenchReady(ctx: Partial<BenchContext>, name: string): boolean {
  if (!ctx.gpu) {
    console.log(`(${name}: pass --gpu, e.g. make bench-gpu)`);
    return false;
  }
  const info = native().backendInfo();
  if (!info.cudaUsable) {
    console.log(`no GPU (${info.cudaReason || 'CUDA backend not compiled'})`);
    return false;
  }
  if (info.cudaEmulated) {
    console.log('no GPU: this addon runs the CUDA backend on the CPU emulator (correctness only, timings meaningless)');
    return false;
  }
  return true;
}
