// Every CUDA kernel family against the float64 references of test/ref/train-ref.ts on fresh random inputs.
// Skips (with the reason printed) where no GPU is usable; runs on an H100/H200.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/engine/native.ts';
import {
  adamwRef,
  attentionBackward,
  attentionForward,
  embeddingBackward,
  f32,
  f64,
  randn,
  rmsnormBackward,
  rmsnormForward,
  rng,
  ropeBackward,
  ropeForward,
  shortconvBackward,
  shortconvForward,
  swigluBackward,
  swigluForward,
} from '../ref/train-ref.ts';
import { freshRandom } from '../util/random.ts';
import { bf16Bits, bf16Value, gpu, skipReason, worst } from './gpu-available.ts';

const ops = () => native().cudaOps;
// Fresh inputs each run; the seed is in the test names and LFM2_TEST_SEED=<seed> replays it.
const { seed } = freshRandom();
const tag = `(seed ${seed})`;

describe.skipIf(!gpu)(`CUDA kernels vs float64 references ${skipReason}`, () => {
  it(`GEMM: BF16 inputs, FP32 accumulation, all transpositions, alpha/beta, cuBLASLt and fallback ${tag}`, () => {
    const r = rng(seed);
    for (const [M, N, K] of [[1, 7, 5], [33, 65, 129], [128, 256, 1024]]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const A = bf16Bits(randn(r, M * K)), B = bf16Bits(randn(r, K * N));
          const a = bf16Value(A), b = bf16Value(B);
          const C0 = f32(randn(r, M * N));
          const alpha = 0.75, beta = 0.5;
          const ref = new Float64Array(M * N), mag = new Float64Array(M * N);
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++) {
              let s = 0, m = 0;
              for (let k = 0; k < K; k++) {
                const p = (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
                s += p;
                m += Math.abs(p);
              }
              ref[i * N + j] = beta * C0[i * N + j] + alpha * s;
              mag[i * N + j] = m;
            }
          for (const fallback of [false, true]) {
            const C = ops().gemm(A, B, Float32Array.from(C0), M, N, K, ta, tb, alpha, beta, fallback);
            // BF16×BF16 products are exact in FP32; the only error is FP32 summation: |err| ≤ γ_K·Σ|a·b| with
            // γ_K ≈ K·2^-24 (worst-case recursive summation), plus one rounding of beta·C.
            for (let i = 0; i < M * N; i++) {
              const tol = K * 2 ** -24 * alpha * mag[i] + 2 ** -23 * Math.abs(ref[i]) + 1e-30;
              expect(Math.abs(C[i] - ref[i]), `M${M} N${N} K${K} ta${ta} tb${tb} fb${fallback} i${i}`).toBeLessThanOrEqual(tol);
            }
          }
        }
      }
    }
  });

  it(`RMSNorm forward/backward, token rows and per-head rows ${tag}`, () => {
    const r = rng(seed + 1);
    for (const [rows, n] of [[37, 1024], [5 * 16, 64]]) {
      const x = randn(r, rows * n, 2), w = randn(r, n), dy = randn(r, rows * n);
      const eps = 1e-5;
      const { y, rstd } = ops().rmsnorm(f32(x), f32(w), rows, n, eps);
      // FP32 sum of n squares (n ≤ 1024): relative error ≲ n·2^-24 ≈ 6e-5 on rstd, carried into y.
      expect(worst(y, rmsnormForward(x, w, rows, n, eps), 1e-5, 1e-4)).toBeLessThanOrEqual(1);
      const dw = f32(randn(r, n));
      const dw0 = f64(dw);
      const dx = ops().rmsnormBackward(f32(x), f32(w), rstd, f32(dy), dw, rows, n);
      const ref = rmsnormBackward(x, w, dy, rows, n, eps);
      expect(worst(dx, ref.dx, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
      // dw accumulates one FP32 atomic per row: rows·2^-24 relative on a sum of |rows| terms.
      expect(worst(dw, ref.dw.map((v, i) => v + dw0[i]), 1e-4, 1e-4)).toBeLessThanOrEqual(1);
    }
  });

  it(`RoPE forward/backward, NeoX halves, theta 1e6, positions up to 32k ${tag}`, () => {
    const r = rng(seed + 2);
    const T = 9, H = 3, D = 64, theta = 1e6;
    const pos = Int32Array.from({ length: T }, () => Math.floor(r() * 32768));
    const x = randn(r, T * H * D);
    // Angles in double, rounded once to float sin/cos: error ≤ a few FP32 ulps of |x|.
    expect(worst(ops().rope(f32(x), pos, H, D, theta, false), ropeForward(x, T, H, D, pos, theta), 1e-6, 1e-6)).toBeLessThanOrEqual(1);
    expect(worst(ops().rope(f32(x), pos, H, D, theta, true), ropeBackward(x, T, H, D, pos, theta), 1e-6, 1e-6)).toBeLessThanOrEqual(1);
  });

  it(`SwiGLU forward/backward ${tag}`, () => {
    const r = rng(seed + 3);
    const n = 10_000;
    const a = randn(r, n, 3), b = randn(r, n), d = randn(r, n);
    // Elementwise FP32 with one expf: a few ulps.
    expect(worst(ops().swiglu(f32(a), f32(b)), swigluForward(a, b), 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    const g = ops().swigluBackward(f32(a), f32(b), f32(d));
    const ref = swigluBackward(a, b, d);
    expect(worst(g.da, ref.da, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    expect(worst(g.db, ref.db, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
  });

  it(`embedding lookup (BF16 table, exact) and scatter-add backward with repeated ids; bad id is an error ${tag}`, () => {
    const r = rng(seed + 4);
    const V = 300, C = 96;
    const tab = bf16Bits(randn(r, V * C));
    const ids = Int32Array.from({ length: 50 }, () => Math.floor(r() * 20));  // many repeats
    const out = ops().embedding(ids, tab, V, C);
    const tv = bf16Value(tab);
    for (let t = 0; t < ids.length; t++) for (let c = 0; c < C; c++) expect(out[t * C + c]).toBe(tv[ids[t] * C + c]);
    const dout = randn(r, ids.length * C);
    const dtab = ops().embeddingBackward(ids, f32(dout), new Float32Array(V * C), V, C);
    // ≤ 50 FP32 atomic additions per element in any order.
    expect(worst(dtab, embeddingBackward(ids, f64(f32(dout)), V, C, -1), 1e-5, 1e-5)).toBeLessThanOrEqual(1);
    expect(() => ops().embedding(Int32Array.of(1, V), tab, V, C)).toThrow(/token id 300 at 1 outside \[0, 300\)/);
  });

  it(`short conv forward (ragged, fresh and with states) and backward ${tag}`, () => {
    const r = rng(seed + 5);
    const C = 160, lengths = [1, 7, 2, 30];
    const cu = [0];
    for (const l of lengths) cu.push(cu[cu.length - 1] + l);
    const T = cu[cu.length - 1];
    const z = randn(r, T * 3 * C), K = randn(r, C * 3, 0.5), dy = randn(r, T * C);
    const fresh = ops().shortconv(f32(z), f32(K), C, lengths);
    expect(worst(fresh.y, shortconvForward(z, K, cu, C), 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    // Chunked: the first half of every sequence, then the rest continuing from the returned registers, equals
    // the whole sequences in one call.
    const splitA = lengths.map((l) => Math.max(1, Math.floor(l / 2)));
    const zA: number[] = [], zB: number[] = [], lenB: number[] = [], seqOfB: number[] = [];
    lengths.forEach((l, s) => {
      for (let t = 0; t < l; t++) (t < splitA[s] ? zA : zB).push(...z.subarray((cu[s] + t) * 3 * C, (cu[s] + t + 1) * 3 * C));
      if (l > splitA[s]) (lenB.push(l - splitA[s]), seqOfB.push(s));
    });
    const first = ops().shortconv(Float32Array.from(zA), f32(K), C, splitA);
    const st = new Float32Array(lenB.length * 2 * C);
    seqOfB.forEach((s, i) => st.set(first.states.subarray(s * 2 * C, (s + 1) * 2 * C), i * 2 * C));
    const second = ops().shortconv(Float32Array.from(zB), f32(K), C, lenB, st);
    let ia = 0, ib = 0;
    lengths.forEach((l, s) => {
      for (let t = 0; t < l; t++) {
        const got = t < splitA[s] ? first.y.subarray(ia * C, ++ia * C) : second.y.subarray(ib * C, ++ib * C);
        expect(Array.from(got)).toEqual(Array.from(fresh.y.subarray((cu[s] + t) * C, (cu[s] + t + 1) * C)));
      }
    });
    const dK = new Float32Array(C * 3);
    const dz = ops().shortconvBackward(f32(z), f32(K), f32(dy), dK, C, lengths);
    const ref = shortconvBackward(z, K, dy, cu, C);
    expect(worst(dz, ref.dz, 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    // dK sums T products per element in FP32: T·2^-24 relative of Σ|terms| — bounded by 1e-4 absolute here.
    expect(worst(dK, ref.dK, 1e-4, 1e-4)).toBeLessThanOrEqual(1);
  });

  it(`attention forward (ragged prefill and decode over a cache, GQA) and backward ${tag}`, () => {
    const r = rng(seed + 6);
    const H = 4, KVH = 2, D = 64;
    const lengths = [1, 5, 140, 9];  // 140 spans two 128-key tiles
    const cu = [0];
    for (const l of lengths) cu.push(cu[cu.length - 1] + l);
    const T = cu[cu.length - 1];
    const q = randn(r, T * H * D), k = randn(r, T * KVH * D), v = randn(r, T * KVH * D), dO = randn(r, T * H * D);
    const s = { T, Hq: H, Hkv: KVH, D, cu, scale: 1 / Math.sqrt(D) };
    const ref = attentionForward(q, k, v, s);
    const got = ops().attention(f32(q), f32(k), f32(v), lengths, lengths, H, KVH, D);
    // FP32 dot products of 64 terms and an online softmax over ≤ 140 keys: errors ~1e-6 on O(1) outputs.
    expect(worst(got.out, ref.o, 2e-5, 1e-4)).toBeLessThanOrEqual(1);
    expect(worst(got.lse, ref.lse, 2e-5, 1e-5)).toBeLessThanOrEqual(1);
    // Decode: the last query row of each sequence over its whole context equals that row of the prefill.
    const lastQ: number[] = [];
    lengths.forEach((l, i) => lastQ.push(...q.subarray((cu[i] + l - 1) * H * D, (cu[i] + l) * H * D)));
    const dec = ops().attention(Float32Array.from(lastQ), f32(k), f32(v), lengths.map(() => 1), lengths, H, KVH, D);
    lengths.forEach((l, i) => {
      const row = cu[i] + l - 1;
      expect(worst(dec.out.subarray(i * H * D, (i + 1) * H * D), ref.o.subarray(row * H * D, (row + 1) * H * D), 2e-5, 1e-4)).toBeLessThanOrEqual(1);
    });
    const g = ops().attentionBackward(f32(q), f32(k), f32(v), got.out, got.lse, f32(dO), lengths, H, KVH, D);
    const rb = attentionBackward(q, k, v, dO, s);
    // Gradients sum up to 140·(H/KVH) FP32 terms (atomics in any order) on O(1)–O(10) values.
    expect(worst(g.dq, rb.dq, 1e-4, 1e-3)).toBeLessThanOrEqual(1);
    expect(worst(g.dk, rb.dk, 1e-4, 1e-3)).toBeLessThanOrEqual(1);
    expect(worst(g.dv, rb.dv, 1e-4, 1e-3)).toBeLessThanOrEqual(1);
  });

  it(`AdamW: three steps with clipping and weight decay match torch semantics; BF16 copy; NaN gradient skips ${tag}`, () => {
    const r = rng(seed + 7);
    const n = 5000;
    const cfg = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm: 1.0 };
    const w = f32(randn(r, n)), m = new Float32Array(n), v = new Float32Array(n), bf = new Uint16Array(n);
    const st = { w: f64(w), m: new Float64Array(n), v: new Float64Array(n) };
    for (let step = 1; step <= 3; step++) {
      const g = f32(randn(r, n, 0.1));
      const norm = ops().adamw(w, g, m, v, bf, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weightDecay, cfg.maxGradNorm, step);
      const refNorm = adamwRef([st], [f64(g)], cfg, step);
      expect(Math.abs(norm - refNorm)).toBeLessThan(1e-9 * refNorm + 1e-12);  // double accumulation
      // FP32 update arithmetic: a few ulps of w plus a few ulps of the lr-sized (1e-3) step. m can cancel to ~0
      // (0.09·g1 + 0.1·g2), leaving an absolute error of a few ulps of its ~0.03 terms: atol 1e-8.
      expect(worst(w, st.w, 1e-8, 1e-6)).toBeLessThanOrEqual(1);
      expect(worst(m, st.m, 1e-8, 1e-5)).toBeLessThanOrEqual(1);
      expect(worst(v, st.v, 1e-12, 1e-5)).toBeLessThanOrEqual(1);
    }
    expect(Array.from(bf)).toEqual(Array.from(bf16Bits(w)));
    const before = Float32Array.from(w);
    const bad = f32(randn(r, n));
    bad[17] = NaN;
    expect(Number.isFinite(ops().adamw(w, bad, m, v, bf, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 4))).toBe(false);
    expect(Array.from(w)).toEqual(Array.from(before));
  });

  it('bad shapes are clear errors, not crashes', () => {
    expect(() => ops().attention(new Float32Array(64), new Float32Array(64), new Float32Array(64), [2], [1], 1, 1, 64)).toThrow();
    expect(() => ops().shortconv(new Float32Array(3), new Float32Array(3), 1, [0])).toThrow(/≥ 1/);
    expect(() => ops().rmsnorm(new Float32Array(5), new Float32Array(2), 2, 2, 1e-5)).toThrow(/elements, expected 4/);
  });
});
