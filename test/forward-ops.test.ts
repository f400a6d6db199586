// Every forward kernel of the CPU backend (native/binding/ops_forward.cpp) against float64 references on fresh
// random inputs. Tolerances are stated per kernel relative to the largest reference value.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import { f32ToBf16, bf16ToF32 } from '../lib/io/dtypes.ts';
import { attention, rmsnorm, rope, shortconv, swiglu } from './ref/lfm2-ref.ts';
import { attentionIsas } from './util/isa.ts';
import { randn as normal, rng } from './util/random.ts';

const ops = () => native().opsForward;

let seed = 1000;
function randn(n: number, std = 1, mean = 0): Float32Array {
  const r = rng(seed++);
  return Float32Array.from({ length: n }, () => mean + std * normal(r));
}
const f64 = (a: Float32Array) => Float64Array.from(a);

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, relTol: number) {
  expect(got.length).toBe(want.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < got.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  expect(maxRef).toBeGreaterThan(0);
  expect(maxDiff).toBeLessThanOrEqual(relTol * maxRef);
}

describe('rmsnorm', () => {
  it.each([
    [7, 64],
    [5, 1024],
    [33, 16],
  ])('rows %i × n %i matches float64 (y and rstd)', (rows, n) => {
    const x = randn(rows * n, 2, 0.3);
    const w = randn(n, 0.1, 1);
    const { y, rstd } = ops().rmsnorm(x, w, rows, n, 1e-5);
    // FP32 sum of squares over ≤ 1024 terms and one sqrt: relative error ≲ 1e-6; 1e-5 leaves margin.
    expectClose(y, rmsnorm(f64(x), f64(w), rows, n, 1e-5), 1e-5);
    const wantRstd = Array.from({ length: rows }, (_, r) => {
      let ss = 0;
      for (let i = 0; i < n; i++) ss += x[r * n + i] ** 2;
      return 1 / Math.sqrt(ss / n + 1e-5);
    });
    expectClose(rstd, wantRstd, 1e-5);
  });
});

describe('rope', () => {
  it('NeoX half-split rotation at small and large positions (theta 1e6) matches float64', () => {
    const H = 3, D = 64;
    const pos = Int32Array.from([0, 1, 17, 4095, 32767, 127999]);
    const x = randn(pos.length * H * D);
    const y = ops().rope(x, pos, H, D, 1e6);
    // cos/sin from double angles rounded to f32, then 2 products + 1 sum in f32: error ≲ 3·6e-8 of |x|.
    expectClose(y, rope(f64(x), Array.from(pos), H, D, 1e6), 1e-6);
    // Position 0 is the identity.
    expect(Array.from(y.subarray(0, H * D))).toEqual(Array.from(x.subarray(0, H * D)));
  });
});

describe('attention', () => {
  // Cases: decode-like rows (row kernel: AVX2 when D % 8 == 0, portable otherwise) and prefill chunks of ≥ 32
  // queries (tile path: 64×64 tiles, online softmax), with and without a cached prefix (nKv > nQ), on every build of
  // the kernels the CPU has (isa; head_dim 16/32/64 take the AVX-512 tile kernels, 24 the blocked plain loops).
  it.each([
    { name: 'short rows, D 16', H: 4, KVH: 2, D: 16, nQ: [1, 3, 2, 5], nKv: [1, 3, 7, 5] },
    { name: 'short rows, D 6 (portable)', H: 4, KVH: 1, D: 6, nQ: [1, 4], nKv: [6, 4] },
    // Decode over a KV cache (row kernel): LFM2-350M's head_dim 64 and 2 query heads per KV head, an odd group of 3,
    // caches longer than the 8-lane blocks with ragged tails.
    { name: 'decode rows, D 64, GQA 2, long cache', H: 4, KVH: 2, D: 64, nQ: [1, 2, 1], nKv: [77, 130, 9] },
    { name: 'decode rows, D 32, 3 heads per KV head', H: 6, KVH: 2, D: 32, nQ: [1, 3], nKv: [45, 20] },
    { name: 'long chunks, tile path', H: 4, KVH: 2, D: 16, nQ: [40, 150, 2], nKv: [45, 150, 9] },
    { name: 'long chunks, tile path, D 32, prefix not tile-aligned', H: 4, KVH: 2, D: 32, nQ: [33, 130, 64], nKv: [100, 130, 64] },
    { name: 'long chunks, tile path, D 24, prefix', H: 2, KVH: 1, D: 24, nQ: [70], nKv: [200] },
    { name: 'long chunks, tile path, D 64, MHA', H: 3, KVH: 3, D: 64, nQ: [129], nKv: [129] },
  ].flatMap((c) => attentionIsas().map((isa) => ({ ...c, isa }))))('causal GQA, $name, $isa, matches float64 (out and lse)', ({ H, KVH, D, nQ, nKv, isa }) => {
    const sq = nQ.reduce((a, b) => a + b), skv = nKv.reduce((a, b) => a + b);
    const q = randn(sq * H * D, 1.5), k = randn(skv * KVH * D, 1.5), v = randn(skv * KVH * D);
    const { out, lse } = ops().attention(q, k, v, { nHeads: H, nKvHeads: KVH, headDim: D, nQ, nKv, isa });
    let oq = 0, okv = 0;
    for (let s = 0; s < nQ.length; s++) {
      const qs = f64(q.subarray(oq * H * D, (oq + nQ[s]) * H * D));
      const ks = f64(k.subarray(okv * KVH * D, (okv + nKv[s]) * KVH * D));
      const vs = f64(v.subarray(okv * KVH * D, (okv + nKv[s]) * KVH * D));
      const want = attention(qs, ks, vs, nQ[s], nKv[s], H, KVH, D);
      // Scores up to ~|q||k|/√D ≈ 10, exp/sum in FP32 over ≤ 200 keys: relative error ≲ 1e-6; 1e-5 leaves margin.
      expectClose(out.subarray(oq * H * D, (oq + nQ[s]) * H * D), want, 1e-5);
      for (let i = 0; i < nQ[s]; i++)
        for (let h = 0; h < H; h++) {
          const g = Math.floor(h / (H / KVH));
          const vis = nKv[s] - nQ[s] + i + 1;
          const sc = Array.from({ length: vis }, (_, j) => {
            let d = 0;
            for (let e = 0; e < D; e++) d += qs[(i * H + h) * D + e] * ks[(j * KVH + g) * D + e];
            return d / Math.sqrt(D);
          });
          const mx = Math.max(...sc);
          const want = mx + Math.log(sc.reduce((a, b) => a + Math.exp(b - mx), 0));
          expect(Math.abs(lse[(oq + i) * H + h] - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
        }
      oq += nQ[s];
      okv += nKv[s];
    }
  });
});

describe('shortconv', () => {
  // Reference with a carried state: u_{-2}, u_{-1} come from the state instead of zeros.
  function refWithState(z: Float32Array, K: Float32Array, T: number, C: number, state: Float32Array) {
    const u = (t: number, c: number) =>
      t >= 0 ? z[t * 3 * C + c] * z[t * 3 * C + 2 * C + c] : state[(t + 2) * C + c];
    const y = new Float64Array(T * C);
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) {
        let v = 0;
        for (let k = 0; k < 3; k++) v += K[c * 3 + k] * u(t - 2 + k, c);
        y[t * C + c] = z[t * 3 * C + C + c] * v;
      }
    const newState = new Float64Array(2 * C);
    for (let c = 0; c < C; c++) {
      newState[c] = u(T - 2, c);
      newState[C + c] = u(T - 1, c);
    }
    return { y, newState };
  }

  it('from zero state matches the float64 reference; several sequences in one call', () => {
    const C = 300; // more than one 256-channel block
    const lengths = [1, 2, 6];
    const T = lengths.reduce((a, b) => a + b);
    const z = randn(T * 3 * C), K = randn(C * 3, 0.6);
    const { y } = ops().shortconv(z, K, C, lengths);
    let off = 0;
    for (const n of lengths) {
      // One product, 3 MACs and one gate product in FP32 per output: error ≲ 1e-6 relative.
      expectClose(y.subarray(off * C, (off + n) * C), shortconv(f64(z.subarray(off * 3 * C, (off + n) * 3 * C)), f64(K), n, C), 1e-6);
      off += n;
    }
  });

  it('carries the shift-register state: chunks with random states match the reference, new states too', () => {
    const C = 48;
    const lengths = [1, 4];
    const T = 5;
    const z = randn(T * 3 * C), K = randn(C * 3, 0.6), states = randn(2 * 2 * C);
    const r = ops().shortconv(z, K, C, lengths, states);
    let off = 0;
    lengths.forEach((n, i) => {
      const want = refWithState(z.subarray(off * 3 * C, (off + n) * 3 * C), K, n, C, states.subarray(i * 2 * C, (i + 1) * 2 * C));
      expectClose(r.y.subarray(off * C, (off + n) * C), want.y, 1e-6);
      expectClose(r.states.subarray(i * 2 * C, (i + 1) * 2 * C), want.newState, 1e-7);
      off += n;
    });
  });

  it('running a sequence in chunks through the state equals one full pass', () => {
    const C = 32, T = 7;
    const z = randn(T * 3 * C), K = randn(C * 3, 0.6);
    const full = ops().shortconv(z, K, C, [T]).y;
    const a = ops().shortconv(z.subarray(0, 3 * 3 * C), K, C, [3]);
    const b = ops().shortconv(z.subarray(3 * 3 * C, 4 * 3 * C), K, C, [1], a.states);
    const c = ops().shortconv(z.subarray(4 * 3 * C), K, C, [3], b.states);
    expect(Array.from([...a.y, ...b.y, ...c.y])).toEqual(Array.from(full));
  });
});

describe('swiglu', () => {
  const isas = ['portable', ...(native().cpuFeatures().avx512f ? ['avx512' as const] : [])] as const;
  for (const isa of isas) {
    it(`${isa}: silu(a) ⊙ b matches float64, large |a| and a 16-lane tail included`, () => {
      const a = randn(3001, 3), b = randn(3001);
      a.set([90, -90, 200, -200, 0, 1e-30], 100);
      // One exp (libm, or the AVX-512 polynomial: relative error < 2e-7), one divide and two products in FP32:
      // relative error ≲ 4·6e-8 + 2e-7.
      expectClose(ops().swiglu(a, b, isa), swiglu(f64(a), f64(b)), 1e-6);
    });
  }
});

describe('embedding', () => {
  it('looks up F32 and BF16 rows exactly and rejects out-of-range ids', () => {
    const V = 50, C = 24;
    const table = randn(V * C);
    const ids = Int32Array.from([3, 0, 49, 3, 17]);
    const out = ops().embedding(ids, table, V, C);
    const bf = Uint16Array.from(table, (x) => f32ToBf16(x));
    const outBf = ops().embedding(ids, bf, V, C);
    for (let t = 0; t < ids.length; t++)
      for (let i = 0; i < C; i++) {
        expect(out[t * C + i]).toBe(table[ids[t] * C + i]);
        expect(outBf[t * C + i]).toBe(bf16ToF32(bf[ids[t] * C + i]));
      }
    expect(() => ops().embedding(Int32Array.from([1, 50]), table, V, C)).toThrow(/token id 50 .*outside the vocabulary/);
    expect(() => ops().embedding(Int32Array.from([-1]), table, V, C)).toThrow(/outside the vocabulary/);
  });
});

describe('argument checks', () => {
  it('wrong lengths and types throw instead of reading out of bounds', () => {
    expect(() => ops().rmsnorm(new Float32Array(10), new Float32Array(4), 3, 4, 1e-5)).toThrow(/x has 10 elements, expected 12/);
    expect(() => ops().swiglu(new Float32Array(3), new Float32Array(4))).toThrow(/b has 4 elements/);
    expect(() => ops().swiglu(new Float32Array(3), new Float32Array(3), 'sse' as 'avx2')).toThrow(/isa must be/);
    // @ts-expect-error wrong type on purpose
    expect(() => ops().swiglu([1, 2], new Float32Array(2))).toThrow(TypeError);
    expect(() => ops().shortconv(new Float32Array(9), new Float32Array(9), 3, [2])).toThrow(/z has 9 elements/);
  });
});
