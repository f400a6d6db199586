// Whether the GPU suites can run, and a printed reason when they cannot (so a skipped suite is never silent).
import { native } from '../../lib/engine/native.ts';

const info = native().backendInfo();
export const gpu: boolean = info.cudaUsable;
export const skipReason: string = gpu
  ? ''
  : info.cudaCompiled
    ? `GPU tests skipped: ${info.cudaReason}`
    : 'GPU tests skipped: the addon was built without the CUDA backend (nvcc not found or LFM2_CUDA=0)';
if (!gpu) console.log(skipReason);

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
