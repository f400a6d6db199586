// Op backwards (native/backend/cpu/backward) against float64 references (test/ref/train-ref.ts) and against
// central finite differences of the float64 reference forwards, on fresh random inputs every run.
//
// Tolerances, as max over elements of |got − want| / (atol + rtol·|want|) ≤ 1:
// - float64 reference backward vs finite differences (h = 1e-5): truncation O(h²) ≈ 1e-10 and cancellation
//   ≈ 1e-16/h ≈ 1e-11 relative to the loss scale → atol 1e-7·scale, rtol 1e-6.
// - native FP32 vs float64 reference on the same (FP32-rounded) inputs: each output is a short FP32 sum
//   (≤ a few hundred terms) with relative rounding ~1e-7 per term → atol 1e-5·scale, rtol 1e-4.
// - native FP32 vs finite differences: the sum of both budgets, rounded up → atol 2e-5·scale, rtol 2e-4.
// scale = max |want| so atol tracks the magnitude of the gradient being checked.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import * as ref from './ref/train-ref.ts';
import { attentionIsas } from './util/isa.ts';
import { freshRandom } from './util/random.ts';

const ops = () => native().train;
const { rand: R, tag } = freshRandom();

/** Random values rounded to FP32 so native and reference see identical inputs. */
function rnd(n: number, scale = 1): Float64Array {
  return ref.f64(ref.f32(ref.randn(R, n, scale)));
}
function maxAbs(v: ArrayLike<number>): number {
  let m = 1e-30; // a loop, not Math.max(...v): large gradients overflow the argument stack
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  return m;
}

function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, kind: 'fp32' | 'fd64' | 'fp32fd') {
  const s = maxAbs(want);
  const [atol, rtol] = kind === 'fd64' ? [1e-7 * s, 1e-6] : kind === 'fp32' ? [1e-5 * s, 1e-4] : [2e-5 * s, 2e-4];
  const w = ref.worstRatio(got, want, atol, rtol);
  expect(w, tag(`${what}: worst error ratio ${w.toExponential(2)}`)).toBeLessThanOrEqual(1);
}

describe('rmsnorm backward', () => {
  it('rows: dx and dw (+=) match the float64 reference and finite differences', () => {
    const rows = 5, n = 16, eps = 1e-5;
    const x = rnd(rows * n), w = ref.f64(ref.f32(ref.uniform(R, n, 0.5, 1.5))), dy = rnd(rows * n);
    const dw0 = rnd(n); // accumulation target starts non-zero
    const want = ref.rmsnormBackward(x, w, dy, rows, n, eps);
    const fdx = ref.finiteDiff((xx) => ref.dot(dy, ref.rmsnormForward(xx, w, rows, n, eps)), Float64Array.from(x));
    const fdw = ref.finiteDiff((ww) => ref.dot(dy, ref.rmsnormForward(x, ww, rows, n, eps)), Float64Array.from(w));
    close('ref dx vs fd', want.dx, fdx, 'fd64');
    close('ref dw vs fd', want.dw, fdw, 'fd64');
    const dx = new Float32Array(rows * n), dw = ref.f32(dw0);
    ops().rmsnormBackward({ rows, n, eps, x: ref.f32(x), w: ref.f32(w), dy: ref.f32(dy), dx, dw });
    close('dx vs ref', dx, want.dx, 'fp32');
    close('dx vs fd', dx, fdx, 'fp32fd');
    close('dw vs ref', Array.from(dw, (v, i) => v - dw0[i]), want.dw, 'fp32');
    close('dw vs fd', Array.from(dw, (v, i) => v - dw0[i]), fdw, 'fp32fd');
    // dx may overwrite dy in place (the model backward relies on it): same bits as the out-of-place call.
    const inplace = ref.f32(dy);
    ops().rmsnormBackward({ rows, n, eps, x: ref.f32(x), w: ref.f32(w), dy: inplace, dx: inplace, dw: new Float32Array(n) });
    expect(Array.from(inplace)).toEqual(Array.from(dx));
  });

  it('per-head q/k norm: one [D] weight, dw summed over tokens and heads', () => {
    const T = 3, H = 4, D = 8, eps = 1e-5;
    const x = rnd(T * H * D), w = ref.f64(ref.f32(ref.uniform(R, D, 0.5, 1.5))), dy = rnd(T * H * D);
    const want = ref.rmsnormBackward(x, w, dy, T * H, D, eps);
    const fdw = ref.finiteDiff((ww) => ref.dot(dy, ref.rmsnormForward(x, ww, T * H, D, eps)), Float64Array.from(w));
    close('ref dw vs fd', want.dw, fdw, 'fd64');
    const dx = new Float32Array(T * H * D), dw = new Float32Array(D);
    ops().rmsnormHeadsBackward({ tokens: T, heads: H, headDim: D, eps, x: ref.f32(x), w: ref.f32(w), dy: ref.f32(dy), dx, dw });
    close('dx vs ref', dx, want.dx, 'fp32');
    close('dw vs fd', dw, fdw, 'fp32fd');
  });

  it('rejects arrays of the wrong length', () => {
    const a = new Float32Array(10);
    expect(() => ops().rmsnormBackward({ rows: 2, n: 4, x: a, w: new Float32Array(4), dy: a, dx: a, dw: new Float32Array(4) })).toThrow(/expected 8/);
  });
});

describe('rope backward (NeoX half split, theta 1e6)', () => {
  it('matches the reference and finite differences, including large positions', () => {
    const T = 5, H = 3, D = 8, theta = 1e6;
    const pos = Int32Array.from({ length: T }, (_, i) => (i === 0 ? 0 : Math.floor(R() * 30000)));
    const x = rnd(T * H * D), dy = rnd(T * H * D);
    const want = ref.ropeBackward(dy, T, H, D, pos, theta);
    const fd = ref.finiteDiff((xx) => ref.dot(dy, ref.ropeForward(xx, T, H, D, pos, theta)), Float64Array.from(x));
    close('ref vs fd', want, fd, 'fd64');
    const dx = new Float32Array(T * H * D);
    ops().ropeBackward({ tokens: T, heads: H, headDim: D, theta, pos, dy: ref.f32(dy), dx });
    close('dx vs ref', dx, want, 'fp32');
    close('dx vs fd', dx, fd, 'fp32fd');
    // In place (dx aliasing dy) gives the same result.
    const inplace = ref.f32(dy);
    ops().ropeBackward({ tokens: T, heads: H, headDim: D, theta, pos, dy: inplace, dx: inplace });
    expect(Array.from(inplace)).toEqual(Array.from(dx));
  });

  it('rejects an odd head_dim and negative positions with clear errors', () => {
    const a = new Float32Array(3 * 1 * 5);
    expect(() => ops().ropeBackward({ tokens: 3, heads: 1, headDim: 5, pos: new Int32Array(3), dy: a, dx: a })).toThrow(/even/);
    const b = new Float32Array(2 * 1 * 4);
    expect(() => ops().ropeBackward({ tokens: 2, heads: 1, headDim: 4, pos: Int32Array.from([0, -1]), dy: b, dx: b })).toThrow(/negative position/);
  });
});

describe('attention backward (causal GQA, ragged packed batch)', () => {
  function setup(cu: number[], Hq: number, Hkv: number, D: number) {
    const T = cu[cu.length - 1];
    const s: ref.AttnShape = { T, Hq, Hkv, D, cu, scale: 1 / Math.sqrt(D) };
    const q = rnd(T * Hq * D), k = rnd(T * Hkv * D), v = rnd(T * Hkv * D), dO = rnd(T * Hq * D);
    const args = { tokens: T, qHeads: Hq, kvHeads: Hkv, headDim: D, cuSeqlens: Int32Array.from(cu), q: ref.f32(q), k: ref.f32(k), v: ref.f32(v) };
    return { T, s, q, k, v, dO, args };
  }

  it('small batch (lengths 5, 1, 7): vs reference and finite differences, with and without saved stats', () => {
    const { T, s, q, k, v, dO, args } = setup([0, 5, 6, 13], 4, 2, 8);
    const want = ref.attentionBackward(q, k, v, dO, s);
    const L = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => ref.dot(dO, ref.attentionForward(qq, kk, vv, s).o);
    close('ref dq vs fd', want.dq, ref.finiteDiff((x) => L(x, k, v), Float64Array.from(q)), 'fd64');
    const fdk = ref.finiteDiff((x) => L(q, x, v), Float64Array.from(k));
    const fdv = ref.finiteDiff((x) => L(q, k, x), Float64Array.from(v));
    close('ref dk vs fd', want.dk, fdk, 'fd64');
    close('ref dv vs fd', want.dv, fdv, 'fd64');
    // Forward statistics from the native tiled forward (every build the CPU has) agree with the reference.
    const fw = ref.attentionForward(q, k, v, s);
    for (const isa of attentionIsas()) {
      const o = new Float32Array(T * 4 * 8), lse = new Float32Array(T * 4);
      ops().attentionForwardStats({ ...args, isa, o, lse });
      close(`forward o (${isa})`, o, fw.o, 'fp32');
      close(`forward lse (${isa})`, lse, fw.lse, 'fp32');
    }
    const o = new Float32Array(T * 4 * 8), lse = new Float32Array(T * 4);
    ops().attentionForwardStats({ ...args, o, lse });
    for (const [saved, isa] of [true, false].flatMap((sv) => attentionIsas().map((i) => [sv, i] as const))) {
      const dq = new Float32Array(q.length).fill(NaN), dk = new Float32Array(k.length).fill(NaN), dv = new Float32Array(v.length).fill(NaN);
      ops().attentionBackward({ ...args, isa, dout: ref.f32(dO), dq, dk, dv, ...(saved ? { o, lse } : {}) });
      close(`dq (saved=${saved}, ${isa})`, dq, want.dq, 'fp32');
      close(`dk (saved=${saved})`, dk, want.dk, 'fp32');
      close(`dv (saved=${saved})`, dv, want.dv, 'fp32');
      close(`dk vs fd (saved=${saved})`, dk, fdk, 'fp32fd');
      close(`dv vs fd (saved=${saved})`, dv, fdv, 'fp32fd');
    }
  });

  it('sequences longer than one 64-row tile (150 and 70 tokens) match the reference', () => {
    const { s, q, k, v, dO, args } = setup([0, 150, 220], 2, 1, 8);
    const want = ref.attentionBackward(q, k, v, dO, s);
    const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
    ops().attentionBackward({ ...args, dout: ref.f32(dO), dq, dk, dv });
    close('dq', dq, want.dq, 'fp32');
    close('dk', dk, want.dk, 'fp32');
    close('dv', dv, want.dv, 'fp32');
  });

  // head_dim 16/32/48/64 run the register-blocked AVX-512 tile kernels, multiples of 8 the blocked plain loops (4 wide
  // portable, 8 wide AVX2), others (12) the unblocked ones; every build the CPU has runs (isa). Lengths cover partial
  // tiles (1, 5, 63, 65, 70, 130), exact tiles (64, 128), an empty sequence and several packed ones; GQA groups 1, 2
  // and 4.
  for (const [cu, Hq, Hkv, D] of [
    [[0, 130, 131, 195, 272], 4, 2, 32],
    [[0, 65, 128, 256], 8, 2, 64],
    [[0, 63, 63, 190], 3, 3, 16],
    [[0, 100, 129], 4, 1, 48],
    [[0, 70, 75], 2, 1, 12],
  ] as [number[], number, number, number][]) {
    it(`head_dim ${D}, Hq ${Hq} / Hkv ${Hkv}, lengths ${cu.slice(1).map((c, i) => c - cu[i]!).join(', ')}: every ISA build, saved and recomputed stats`, () => {
      const { T, s, q, k, v, dO, args } = setup(cu, Hq, Hkv, D);
      const want = ref.attentionBackward(q, k, v, dO, s);
      const fw = ref.attentionForward(q, k, v, s);
      for (const isa of attentionIsas()) {
        const o = new Float32Array(T * Hq * D), lse = new Float32Array(T * Hq);
        ops().attentionForwardStats({ ...args, isa, o, lse });
        close(`forward o (${isa})`, o, fw.o, 'fp32');
        close(`forward lse (${isa})`, lse, fw.lse, 'fp32');
        for (const saved of [true, false]) {
          const dq = new Float32Array(q.length).fill(NaN), dk = new Float32Array(k.length).fill(NaN), dv = new Float32Array(v.length).fill(NaN);
          ops().attentionBackward({ ...args, isa, dout: ref.f32(dO), dq, dk, dv, ...(saved ? { o, lse } : {}) });
          close(`dq (saved=${saved}, ${isa})`, dq, want.dq, 'fp32');
          close(`dk (saved=${saved}, ${isa})`, dk, want.dk, 'fp32');
          close(`dv (saved=${saved}, ${isa})`, dv, want.dv, 'fp32');
        }
      }
    });
  }

  it('rejects q_heads not divisible by kv_heads and inconsistent cu_seqlens', () => {
    const { args } = setup([0, 3], 2, 1, 4);
    const z = () => new Float32Array(3 * 2 * 4);
    const kv = () => new Float32Array(3 * 2 * 4);
    expect(() => ops().attentionBackward({ ...args, qHeads: 3, kvHeads: 2, q: new Float32Array(36), k: kv(), v: kv(), dout: new Float32Array(36), dq: new Float32Array(36), dk: kv(), dv: kv() })).toThrow(/multiple of kv_heads/);
    expect(() => ops().attentionBackward({ ...args, cuSeqlens: Int32Array.from([0, 2]), dout: z(), dq: z(), dk: new Float32Array(12), dv: new Float32Array(12) })).toThrow(/cu_seqlens/);
    const o = z(), lse = new Float32Array(6);
    expect(() => ops().attentionForwardStats({ ...args, isa: 'sse9' as 'auto', o, lse })).toThrow(/'isa' must be one of/);
    if (!attentionIsas().includes('avx512')) expect(() => ops().attentionForwardStats({ ...args, isa: 'avx512', o, lse })).toThrow(/lacks/);
  });
});

describe('short conv backward (B, C, x gates; 3-tap causal; zero state per sequence)', () => {
  it('dz and dK (+=) match the reference and finite differences across sequences of length 1, 3, 5', () => {
    const C = 5, cu = [0, 1, 4, 9], T = 9;
    const z = rnd(T * 3 * C), K = rnd(C * 3), dy = rnd(T * C), dK0 = rnd(C * 3);
    const want = ref.shortconvBackward(z, K, dy, cu, C);
    const fdz = ref.finiteDiff((x) => ref.dot(dy, ref.shortconvForward(x, K, cu, C)), Float64Array.from(z));
    const fdK = ref.finiteDiff((x) => ref.dot(dy, ref.shortconvForward(z, x, cu, C)), Float64Array.from(K));
    close('ref dz vs fd', want.dz, fdz, 'fd64');
    close('ref dK vs fd', want.dK, fdK, 'fd64');
    const y = new Float32Array(T * C);
    ops().shortconvForward({ channels: C, cuSeqlens: Int32Array.from(cu), z: ref.f32(z), kernel: ref.f32(K), y });
    close('forward y', y, ref.shortconvForward(z, K, cu, C), 'fp32');
    const dz = new Float32Array(T * 3 * C), dK = ref.f32(dK0);
    ops().shortconvBackward({ channels: C, cuSeqlens: Int32Array.from(cu), z: ref.f32(z), kernel: ref.f32(K), dy: ref.f32(dy), dz, dkernel: dK });
    close('dz vs ref', dz, want.dz, 'fp32');
    close('dz vs fd', dz, fdz, 'fp32fd');
    const dKdelta = Array.from(dK, (v, i) => v - dK0[i]);
    close('dK vs ref', dKdelta, want.dK, 'fp32');
    close('dK vs fd', dKdelta, fdK, 'fp32fd');
  });
});

describe('swiglu backward', () => {
  const isas = ['portable', ...(native().cpuFeatures().avx512f ? ['avx512' as const] : [])] as const;
  for (const isa of isas) for (const F of [7, 37]) it(`${isa}, F = ${F}: da and db match the reference and finite differences`, () => {
    const rows = 3;
    const a = rnd(rows * F, 2), b = rnd(rows * F), dh = rnd(rows * F);
    const want = ref.swigluBackward(a, b, dh);
    close('ref da vs fd', want.da, ref.finiteDiff((x) => ref.dot(dh, ref.swigluForward(x, b)), Float64Array.from(a)), 'fd64');
    close('ref db vs fd', want.db, ref.finiteDiff((x) => ref.dot(dh, ref.swigluForward(a, x)), Float64Array.from(b)), 'fd64');
    const da = new Float32Array(rows * F), db = new Float32Array(rows * F);
    ops().swigluBackward({ rows, F, a: ref.f32(a), b: ref.f32(b), dh: ref.f32(dh), da, db, isa });
    close('da', da, want.da, 'fp32');
    close('db', db, want.db, 'fp32');
    // da/db may overwrite a/b in place: same bits as the out-of-place call.
    const a2 = ref.f32(a), b2 = ref.f32(b);
    ops().swigluBackward({ rows, F, a: a2, b: b2, dh: ref.f32(dh), da: a2, db: b2, isa });
    expect([Array.from(a2), Array.from(b2)]).toEqual([Array.from(da), Array.from(db)]);
  });
});

describe('embedding backward', () => {
  it('scatter-adds repeated ids into dE (+=) and drops the padding id like nn.Embedding(padding_idx=0)', () => {
    const V = 7, C = 4;
    const ids = Int32Array.from([3, 0, 5, 3, 6, 0, 3]);
    const dx = rnd(ids.length * C), dE0 = rnd(V * C), E = rnd(V * C);
    // With no padding id the backward is the exact gradient of the lookup.
    const fd = ref.finiteDiff((e) => ref.dot(dx, ref.embeddingForward(e, ids, C)), Float64Array.from(E));
    close('ref vs fd', ref.embeddingBackward(ids, dx, V, C, -1), fd, 'fd64');
    const noPad = new Float32Array(V * C);
    ops().embeddingBackward({ tokens: ids.length, vocab: V, dim: C, paddingIdx: -1, ids, dx: ref.f32(dx), dE: noPad });
    close('no padding vs fd', noPad, fd, 'fp32fd');
    const dE = ref.f32(dE0);
    ops().embeddingBackward({ tokens: ids.length, vocab: V, dim: C, ids, dx: ref.f32(dx), dE });
    const want = ref.embeddingBackward(ids, dx, V, C, 0);
    close('padding 0 vs ref', Array.from(dE, (v, i) => v - dE0[i]), want, 'fp32');
    for (let c = 0; c < C; c++) expect(dE[c]).toBe(ref.f32([dE0[c]])[0]); // row 0 untouched
  });

  it('rejects an id outside the vocabulary', () => {
    expect(() => ops().embeddingBackward({ tokens: 1, vocab: 4, dim: 2, ids: Int32Array.from([4]), dx: new Float32Array(2), dE: new Float32Array(8) })).toThrow(/outside the vocabulary/);
  });
});
