// Whether the GPU suites can run, on what, and a printed reason when they cannot (so a skipped suite is never
// silent). vitest.config.ts points LFM2_ADDON at the CUDA emulation module (lfm2_rl_emu.node) when the normal
// addon sees no GPU; the suites then run the same CUDA sources on the CPU emulator.
import { native } from '../../lib/engine/native.ts';

const info = native().backendInfo();
export const gpu: boolean = info.cudaUsable;
/** The suites run on the CPU emulation of CUDA (correctness only: no cuBLASLt, no real timing). */
export const emulated: boolean = gpu && info.cudaEmulated === true;
export const skipReason: string = gpu
  ? ''
  : info.cudaCompiled
    ? `GPU tests skipped: ${info.cudaReason}`
    : 'GPU tests skipped: the addon was built without the CUDA backend (nvcc not found or LFM2_CUDA=0) and the CUDA emulation module (lfm2_rl_emu.node) is not built';
if (!gpu) console.log(skipReason);
else if (emulated) console.log(`GPU suites run on ${info.cudaDeviceName} (${process.env.LFM2_ADDON ?? 'emulation module'})`);
else console.log(`GPU suites run on ${info.cudaDeviceName}`);

/**
 * A size for a GPU test: `real` on a GPU, `emu` on the emulator, where each CUDA thread is a fiber on one CPU core.
 * Pick `emu` so it still exercises the same code paths (several blocks, partial tiles, multi-tile loops).
 */
export function gpuScale<T>(real: T, emu: T): T {
  return emulated ? emu : real;
}

/** Round to BF16 (nearest even) and back: the exact values a BF16 tensor holds. */
export function bf16Bits(x: ArrayLike<number>): Uint16Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    f[0] = x[i];
    const b = u[0];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}
export function bf16Value(bits: Uint16Array): Float64Array {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return Float64Array.from(bits, (b) => ((u[0] = b << 16), f[0]));
}

/** Largest |a − b| / (atol + rtol·|b|): ≤ 1 means every element is within tolerance. */
export function worst(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (atol + rtol * Math.abs(b[i]));
    if (!(r <= w)) w = Number.isNaN(r) ? Infinity : r;
  }
  return w;
}
