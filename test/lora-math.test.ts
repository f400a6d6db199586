// LoRA init, scale and merge (native/model/lora_math) against float64 references.
//
// Tolerances: native FP32 outputs are sums over ≤ 24 products → atol 1e-5·scale, rtol 1e-4 versus the float64
// reference; the float64 reference backward vs finite differences (h = 1e-5) → atol 1e-8·scale, rtol 1e-6.
// BF16 merge: the native result is the BF16 rounding of an FP32 sum, so it is within half a BF16 ulp (2^-9 relative)
// of the exact value plus FP32 error → rtol 2^-8.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import * as ref from './ref/train-ref.ts';
import { freshRandom } from './util/random.ts';

const ops = () => native().train;
const { rand: R, tag } = freshRandom();
const maxAbs = (v: ArrayLike<number>) => Math.max(1e-30, ...Array.from(v, Math.abs));
function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, atolScale = 1e-5, rtol = 1e-4) {
  const w = ref.worstRatio(got, want, atolScale * maxAbs(want), rtol);
  expect(w, tag(`${what}: worst error ratio ${w.toExponential(2)}`)).toBeLessThanOrEqual(1);
}
const rnd = (n: number, s = 1) => ref.f64(ref.f32(ref.randn(R, n, s)));

const N = 6, IN = 12, OUT = 10, r = 4;
const scale = 16 / r;

// The LoRA products themselves (forward, backward) are ops of the op table: test/ops.test.ts.
describe('a fresh adapter', () => {
  it('a fresh adapter (B = 0) leaves the output unchanged; A gets no gradient, B does', () => {
    const A = new Float32Array(r * IN), B = new Float32Array(OUT * r);
    ops().loraInit({ in: IN, out: OUT, rank: r, seed: 7, A, B });
    const x = ref.f32(rnd(N * IN)), y0 = ref.f32(rnd(N * OUT)), y = Float32Array.from(y0), xa = new Float32Array(N * r);
    native().ops.loraForward({ rows: N, in: IN, out: OUT, rank: r, scale, x, A, B, xa, y });
    expect(Array.from(y)).toEqual(Array.from(y0));
    const dA = new Float32Array(r * IN), dB = new Float32Array(OUT * r);
    native().ops.loraBackward({ rows: N, in: IN, out: OUT, rank: r, scale, dy: ref.f32(rnd(N * OUT)), x, A, B, dA, dB });
    expect(Array.from(dA).every((v) => v === 0)).toBe(true);
    expect(maxAbs(dB)).toBeGreaterThan(0);
  });
});

describe('LoRA init (PEFT: kaiming_uniform a=√5 for A, zeros for B)', () => {
  it('A ~ U(−1/√in, 1/√in), reproducible per seed, B = 0', () => {
    const inF = 256, rr = 16, out = 8;
    const s = Math.floor(R() * 1e9);
    const A = new Float32Array(rr * inF), B = new Float32Array(out * rr).fill(1);
    ops().loraInit({ in: inF, out, rank: rr, seed: s, A, B });
    const bound = 1 / Math.sqrt(inF);
    expect(maxAbs(A)).toBeLessThanOrEqual(bound);
    // Uniform on [−b, b]: mean 0, variance b²/3. With 4096 samples the standard error of the variance is ≈ 2% of
    // it and of the mean ≈ 0.009·b, so 10% and 0.05·b are > 4 standard errors.
    const mean = A.reduce((a, v) => a + v, 0) / A.length;
    const variance = A.reduce((a, v) => a + (v - mean) ** 2, 0) / A.length;
    expect(Math.abs(mean)).toBeLessThan(0.05 * bound);
    expect(Math.abs(variance / (bound * bound / 3) - 1)).toBeLessThan(0.1);
    expect(Array.from(B).every((v) => v === 0)).toBe(true);
    const again = new Float32Array(rr * inF), other = new Float32Array(rr * inF);
    ops().loraInit({ in: inF, out, rank: rr, seed: s, A: again, B });
    ops().loraInit({ in: inF, out, rank: rr, seed: s + 1, A: other, B });
    expect(Array.from(again)).toEqual(Array.from(A));
    expect(Array.from(other)).not.toEqual(Array.from(A));
  });

  it('scale is alpha/r, or alpha/sqrt(r) with rsLoRA', () => {
    expect(ops().loraScale({ alpha: 16, rank: 8 })).toBe(2);
    expect(ops().loraScale({ alpha: 16, rank: 8, useRslora: true })).toBeCloseTo(16 / Math.sqrt(8), 6);
    expect(() => ops().loraScale({ alpha: 16, rank: 0 })).toThrow(/rank/);
  });
});

describe('LoRA merge / unmerge', () => {
  it('FP32: merged weight equals W + s·B·A, and unmerge restores W', () => {
    const W = rnd(OUT * IN), A = rnd(r * IN), B = rnd(OUT * r);
    const w = ref.f32(W);
    ops().loraMerge({ in: IN, out: OUT, rank: r, scale, A: ref.f32(A), B: ref.f32(B), W: w });
    close('merged', w, ref.loraMerged(W, A, B, IN, OUT, r, scale, 1));
    ops().loraMerge({ in: IN, out: OUT, rank: r, scale, A: ref.f32(A), B: ref.f32(B), W: w, sign: -1 });
    close('unmerged', w, W, 1e-5, 1e-5);
  });

  it('BF16: merged weight is the BF16 rounding of W + s·B·A', () => {
    const W = rnd(OUT * IN), A = rnd(r * IN, 0.1), B = rnd(OUT * r, 0.1);
    const bits = new Uint16Array(new Uint32Array(ref.f32(W).buffer).map((b) => ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff));
    const Wb = ref.f64(new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer));
    ops().loraMerge({ in: IN, out: OUT, rank: r, scale, A: ref.f32(A), B: ref.f32(B), W: bits });
    const got = ref.f64(new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer));
    const want = ref.loraMerged(Wb, A, B, IN, OUT, r, scale, 1);
    const w = ref.worstRatio(got, want, 1e-6, 2 ** -8);
    expect(w, tag(`bf16 merge worst ratio ${w}`)).toBeLessThanOrEqual(1);
    expect(() => ops().loraMerge({ in: IN, out: OUT, rank: r, scale, A: ref.f32(A), B: ref.f32(B), W: bits, sign: 2 as 1 })).toThrow(/sign/);
  });
});
