// The GPU trainer's own device math (native/backend/cuda/cuda_train_ops.cuh: LoRA module forward/backward, loss-row
// gather/scatter, padding-aware embedding gradient) against float64 references on fresh random inputs. Skips
// (reason printed) without a usable GPU or the CUDA emulator.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/engine/native.ts';
import { freshRandom, randn } from '../util/random.ts';
import { bf16Bits, bf16Value, gpu, skipReason } from './gpu-available.ts';

const { rand, tag } = freshRandom();
const normals = (n: number, s = 1) => Float32Array.from({ length: n }, () => s * randn(rand));
const bf = (x: Float32Array) => bf16Value(bf16Bits(x));
// BF16 rounding of a float64 value computed in FP32 on the device: one BF16 ulp is ≤ 2^-8 of the value.
const BF16_ULP = 2 ** -8;
// FP32 accumulation of K products: a few 2^-24 relative per term; 1e-5 of Σ|terms| covers K up to a few hundred.
const FP32_SUM = 1e-5;

/** [M, N] = a [M, K] · b [K, N] in float64 (row-major), and Σ|a·b| per element for error bounds. */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, ta = false, tb = false) {
  const c = new Float64Array(M * N), abs = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0, sa = 0;
      for (let k = 0; k < K; k++) {
        const p = (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
        s += p;
        sa += Math.abs(p);
      }
      c[i * N + j] = s;
      abs[i * N + j] = sa;
    }
  return { c, abs };
}

/** max_i |got − want| / bound (NaN counts as infinite). */
function worstRatio(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const r = Math.abs(got[i] - want[i]) / (bound[i] + 1e-30);
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>, what: string) {
  expect(got.length, what).toBe(want.length);
  expect(worstRatio(got, want, bound), tag(`${what}: worst error / bound`)).toBeLessThanOrEqual(1);
}

describe.skipIf(!gpu)(`GPU trainer device math ${skipReason}`, () => {
  // Odd sizes: partial tiles of the GEMMs in every dimension.
  const T = 37, IN = 70, OUT = 45, R = 5, S = 1.75;

  it('LoRA forward: y + s·bf16(x·Aᵀ)·Bᵀ on BF16-rounded operands', () => {
    const x = normals(T * IN), A = normals(R * IN, 0.2), B = normals(OUT * R, 0.2), y0 = normals(T * OUT);
    const y = native().cudaTrainOps.loraForward({ x, A, B, y: y0, T, in: IN, out: OUT, r: R, scale: S });
    const xa = matmul(bf(x), bf(A), T, IN, R, false, true);          // [T, r]
    const xab = bf(Float32Array.from(xa.c));
    const up = matmul(xab, bf(B), T, R, OUT, false, true);            // [T, out]
    // Bound: a rounding flip of xa (one BF16 ulp) times |B|, plus the FP32 sums of both products.
    const flip = matmul(Float64Array.from(xa.c, Math.abs), Float64Array.from(bf(B), Math.abs), T, R, OUT, false, true);
    const want = Float64Array.from(y0, (v, i) => v + S * up.c[i]);
    const bound = Float64Array.from(want, (_, i) =>
      S * (BF16_ULP * flip.c[i] + FP32_SUM * (up.abs[i] + flip.c[i])) + 1e-7 * Math.abs(y0[i]));
    expectWithin(y, want, bound, 'y');
  });

  it('LoRA backward: dA, dB, dx with dy and the intermediates rounded to BF16', () => {
    const x = normals(T * IN), dy = normals(T * OUT, 0.5), A = normals(R * IN, 0.2), B = normals(OUT * R, 0.2);
    const g = native().cudaTrainOps.loraBackward({ x, dy, A, B, T, in: IN, out: OUT, r: R, scale: S });
    const xb = bf(x), dyb = bf(dy), Ab = bf(A), Bb = bf(B);
    const xa = matmul(xb, Ab, T, IN, R, false, true);    // [T, r]
    const dxa = matmul(dyb, Bb, T, OUT, R);              // [T, r] (× s)
    const xab = bf(Float32Array.from(xa.c));
    const dxab = bf(Float32Array.from(dxa.c, (v) => S * v));
    const absOf = (v: ArrayLike<number>) => Float64Array.from(v, Math.abs);
    // dB = s·dyᵀ·xa: a flipped xa element moves one term by an ulp of |xa|.
    const dB = matmul(dyb, xab, OUT, T, R, true, false);
    const dBflip = matmul(absOf(dyb), absOf(xa.c), OUT, T, R, true, false);
    expectWithin(g.dB, dB.c.map((v) => S * v), Float64Array.from(dB.c, (_, i) => S * (BF16_ULP * dBflip.c[i] + FP32_SUM * dB.abs[i]) + 1e-12), 'dB');
    // dA = bf16(dxa)ᵀ·x and dx = bf16(dxa)·A: a flipped dxa element, plus FP32 sums.
    const dA = matmul(dxab, xb, R, T, IN, true, false);
    const dAflip = matmul(absOf(dxab), absOf(xb), R, T, IN, true, false);
    expectWithin(g.dA, dA.c, Float64Array.from(dA.c, (_, i) => (BF16_ULP + FP32_SUM) * dAflip.c[i] + 1e-12), 'dA');
    const dx = matmul(dxab, Ab, T, R, IN);
    const dxflip = matmul(absOf(dxab), absOf(Ab), T, R, IN);
    const dxBound = Float64Array.from(dx.c, (_, i) => (BF16_ULP + FP32_SUM) * dxflip.c[i] + 1e-12);
    expectWithin(g.dx, dx.c, dxBound, 'dx');
    // The bounds are tight enough to see the BF16 rounding: the same dx from unrounded FP32 operands is outside them.
    const exactDxa = matmul(Float64Array.from(dy), Float64Array.from(B), T, OUT, R);
    const exactDx = matmul(exactDxa.c.map((v) => S * v), Float64Array.from(A), T, R, IN);
    expect(worstRatio(g.dx, exactDx.c, dxBound), tag('dx vs an unrounded reference')).toBeGreaterThan(1);
  });

  it('loss rows: gather and scatter move exactly the rows asked for', () => {
    const Tn = 23, C = 19;
    const src = normals(Tn * C);
    const rows = Int32Array.from([5, 0, 22, 9, 13, 1]);
    const got = native().cudaTrainOps.gatherRows(src, Tn, rows, C);
    expect(Array.from(got)).toEqual(Array.from(rows).flatMap((r) => Array.from(src.subarray(r * C, (r + 1) * C))));
    const dst0 = normals(Tn * C);
    const vals = normals(rows.length * C);
    const out = native().cudaTrainOps.scatterRows(vals, rows, C, dst0, Tn);
    const want = Float32Array.from(dst0);
    rows.forEach((r, i) => want.set(vals.subarray(i * C, (i + 1) * C), r * C));
    expect(Array.from(out)).toEqual(Array.from(want));
    expect(() => native().cudaTrainOps.gatherRows(src, Tn, Int32Array.from([23]), C)).toThrow(/row 23 outside \[0, 23\)/);
    expect(() => native().cudaTrainOps.scatterRows(vals.subarray(0, 2 * C), Int32Array.from([4, 4]), C, dst0, Tn)).toThrow(/appears twice/);
  });

  it('embedding lookup gradient: repeated ids accumulate, the padding id gets nothing', () => {
    const Tn = 31, C = 24, V = 11, pad = 0;
    const ids = Int32Array.from({ length: Tn }, () => Math.floor(rand() * V));
    ids[3] = pad;
    ids[7] = 4;
    ids[8] = 4;
    const dx = normals(Tn * C), dE0 = normals(V * C);
    for (const p of [pad, -1]) {
      const got = native().cudaTrainOps.embeddingBackwardPadded(ids, dx, V, C, p, dE0);
      const want = Float64Array.from(dE0), abs = Float64Array.from(dE0, Math.abs);
      for (let t = 0; t < Tn; t++) {
        if (ids[t] === p) continue;
        for (let c = 0; c < C; c++) {
          want[ids[t] * C + c] += dx[t * C + c];
          abs[ids[t] * C + c] += Math.abs(dx[t * C + c]);
        }
      }
      // FP32 atomics in any order: a few ulps of the summed magnitudes.
      expectWithin(got, want, Float64Array.from(abs, (a) => 1e-6 * a), `dE (padding ${p})`);
    }
  });
});
