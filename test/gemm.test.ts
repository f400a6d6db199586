// Matrix products (native/backend/cpu/gemm*.cpp) against a float64 reference, for every implementation this CPU
// can run, on fresh random inputs each run (the seed is printed in failure messages; LFM2_TEST_SEED=<seed> replays it).
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import type { GemmArgs } from '../lib/engine/native-types.ts';
import { freshRandom } from './util/random.ts';

const { seed, rand } = freshRandom();

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** f32 -> bf16 bits, round to nearest even (inputs here are finite). */
function toBf16(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
function fromBf16(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

const SENTINEL = -12345.5; // exact in float32; a kernel reading or writing padding shows up in the results
/** Uniform in [-1, 1), never all zeros; padding elements (beyond the row width) hold SENTINEL. */
function matrix(rows: number, cols: number, ld: number): Float32Array {
  const m = new Float32Array(Math.max(0, (rows - 1) * ld + cols)).fill(SENTINEL);
  for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) m[r * ld + c] = rand() * 2 - 1;
  return m;
}
function toBf16Array(m: Float32Array): Uint16Array {
  return Uint16Array.from(m, toBf16);
}

type Op = GemmArgs['op'];
interface Case {
  op: Op;
  M: number;
  N: number;
  K: number;
  bf16: boolean;
  beta: number;
  padded: boolean;
  fast?: boolean;
}

/** C[i,j] and sum_k |a_ik b_kj| in float64, from exactly the values the kernel sees (bf16 B decoded exactly). */
function reference(c: Case, a: ArrayLike<number>, lda: number, bvals: ArrayLike<number>, ldb: number) {
  const { op, M, N, K } = c;
  const val = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let i = 0; i < M; ++i)
    for (let j = 0; j < N; ++j) {
      let s = 0;
      let m = 0;
      for (let k = 0; k < K; ++k) {
        const av = op === 'tn' ? a[k * lda + i]! : a[i * lda + k]!;
        const bv = op === 'nt' ? bvals[j * ldb + k]! : bvals[k * ldb + j]!;
        s += av * bv;
        m += Math.abs(av * bv);
      }
      val[i * N + j] = s;
      mag[i * N + j] = m;
    }
  return { val, mag };
}

const U32 = 2 ** -24; // unit roundoff of float32
const UBF16 = 2 ** -8; // unit roundoff of bfloat16 (8 significant bits)
/** Standard bound for any-order float32 summation of n terms: gamma_n = n*u / (1 - n*u). */
const gamma = (n: number) => (n * U32) / (1 - n * U32);

function runCase(impl: string, c: Case): void {
  const { op, M, N, K, bf16, beta, padded } = c;
  const aRows = op === 'tn' ? K : M;
  const aCols = op === 'tn' ? M : K;
  const bRows = op === 'nt' ? N : K;
  const bCols = op === 'nt' ? K : N;
  const lda = aCols + (padded ? 3 : 0);
  const ldb = bCols + (padded ? 5 : 0);
  const ldc = N + (padded ? 2 : 0);
  const a = matrix(aRows, aCols, lda);
  const bF = matrix(bRows, bCols, ldb);
  const b = bf16 ? toBf16Array(bF) : bF;
  const bvals: ArrayLike<number> = bf16 ? Float64Array.from(b as Uint16Array, fromBf16) : bF;
  const c0 = matrix(M, N, ldc);
  // beta = 0 must not read C: NaN there would leak into the result.
  if (beta === 0) for (let i = 0; i < M; ++i) for (let j = 0; j < N; ++j) c0[i * ldc + j] = NaN;
  const out = c0.slice();
  native().gemm({ op, m: M, n: N, k: K, a, lda, b, ldb, c: out, ldc, beta, impl: impl as GemmArgs['impl'], precision: c.fast ? 'fast' : 'exact' });

  // Exact path: the float32 summation bound alone (K products, one add of beta*C, one final rounding: K + 2
  // operations, in any order). Fast path: A (and an F32 B) may first be rounded to bf16, so each product carries
  // a relative error of up to (1 + u_bf16)^2 - 1 on top (bf16 x bf16 products are exact in float32).
  // With AVX512_BF16 the fast kernels must round their operands to nearest even and nothing else: the reference
  // built from the rounded operands then bounds them by the float32 summation error alone (a truncating rounding,
  // or an operand left unrounded, fails it). Small-M gemm_nt (M <= 64, in place) rounds A against BF16 weights and
  // stays exact against F32 ones; every packed product rounds both operands.
  const rounds = c.fast === true && impl === 'avx512' && native().cpuFeatures().avx512bf16;
  const smallNt = op === 'nt' && M <= 64;
  const roundA = rounds && !(smallNt && !bf16);
  const roundB = rounds && !smallNt;
  const rel = c.fast && !rounds ? (1 + UBF16) ** 2 - 1 + gamma(K + 2) : gamma(K + 2);
  const rounded = (m: ArrayLike<number>) => Float64Array.from(m as ArrayLike<number>, (x) => fromBf16(toBf16(x)));
  const { val, mag } = reference(c, roundA ? rounded(a) : a, lda, roundB ? rounded(bvals) : bvals, ldb);
  const where = `impl=${impl} ${JSON.stringify(c)} seed=${seed}`;
  for (let i = 0; i < M; ++i) {
    for (let j = 0; j < N; ++j) {
      const old = beta === 0 ? 0 : c0[i * ldc + j]!;
      const want = val[i * N + j]! + beta * old;
      const tol = rel * (mag[i * N + j]! + Math.abs(beta * old)) + 1e-30;
      const got = out[i * ldc + j]!;
      if (!(Math.abs(got - want) <= tol)) {
        throw new Error(`C[${i},${j}] = ${got}, want ${want} (|err| ${Math.abs(got - want)} > tol ${tol}) ${where}`);
      }
    }
    for (let j = N; j < ldc && i < M - 1; ++j) expect(out[i * ldc + j], `padding of C row ${i} ${where}`).toBe(SENTINEL);
  }
}

const impls = native().gemmImpls().supported;

// Shapes chosen around the kernels' blocking: register tiles 6x16 (AVX2) and 12x32 (AVX-512), cache blocks
// MC=144, KC=256|384, NC=2048, A packed once and shared by the threads when they split C's columns, and the
// in-place small-M path of gemm_nt (M <= 64, tiles of 8, 4, 2 and 1 rows of A
// by 3 or 6 weight rows; decode shapes have their own tests above). None is a multiple of every block size.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 37, 300], // decode, single row
  [2, 19, 9],
  [5, 77, 129],
  [8, 33, 17],
  [11, 50, 64], // 4-row blocks, then 2 and 1
  [64, 13, 70], // largest M of the in-place path
  [65, 20, 33], // smallest M of the packed path
  [13, 17, 1], // K = 1
  [31, 1, 40], // N = 1
  [150, 70, 300], // M > MC, K > KC, N not a multiple of 16
  [7, 2100, 5], // N > NC
  [20, 5, 600], // several depth blocks accumulate onto beta*C
  [160, 700, 400], // columns split between threads with A packed once for all: 2 row blocks × 2 depth blocks
];

// ---- small-M gemm_nt (decode): every weight row streamed once per call and dotted with all M rows of A. With
// AVX512_BF16 and BF16 weights, fast precision rounds A to BF16 once (round to nearest even) and sums the BF16
// products with vdpbf16ps in FP32; elsewhere fast runs the exact kernel.
// M around the register blocks (8, 4, 2 and 1 rows of A) and the small-M limit (64); N around the 6-row weight tiles
// and their 3-row halves; K around the 32-element vdpbf16ps step (ragged tails of 1..31) and one LFM2 depth (4608).
const DECODE_M = [1, 2, 7, 8, 9, 31, 32, 33, 63, 64];
const DECODE_NK: [number, number][] = [
  [1, 1],
  [5, 31],
  [6, 32],
  [7, 33],
  [13, 64],
  [19, 95],
  [37, 300],
  [3, 4607],
];

/** Rounds to the nearest bf16 value (ties to even), as a float64. */
const roundBf16 = (x: number) => fromBf16(toBf16(x));

/**
 * gemm_nt with BF16 weights on one decode shape, against two float64 references built from the values the kernel
 * sees: `want` from A as given, `wantR` from A rounded to bf16.
 *  - Every implementation and precision: |got − want| ≤ u·S + γ(K+2)·((1 + u)·S + |βc|), with S = Σ|a·b|,
 *    u = 2^-8 the unit roundoff of bf16 (8 significant bits, round to nearest) and γ(n) the FP32 bound for summing
 *    n terms in any order (K products and βc). The u·S term is fast precision's rounding of A (B is already bf16 and
 *    a product of two bf16 values is exact in FP32); the exact path stays within the γ term alone.
 *  - fast with AVX512_BF16 (avx512): |got − wantR| ≤ γ(K+2)·(Σ|â·b| + |βc|), i.e. A was rounded to nearest even
 *    (a truncating or missing rounding exceeds this by ~u·S) and nothing else was lost.
 *  1e-30 absorbs vdpbf16ps's flushed denormals (at most K·2^-126 here).
 */
function decodeCase(impl: string, fast: boolean, M: number, N: number, K: number, beta: number, padded: boolean): void {
  const lda = K + (padded ? 3 : 0);
  const ldb = K + (padded ? 5 : 0);
  const ldc = N + (padded ? 2 : 0);
  const a = matrix(M, K, lda);
  const b = toBf16Array(matrix(N, K, ldb));
  const c0 = matrix(M, N, ldc);
  if (beta === 0) for (let i = 0; i < M; ++i) for (let j = 0; j < N; ++j) c0[i * ldc + j] = NaN;
  const out = c0.slice();
  native().gemm({ op: 'nt', m: M, n: N, k: K, a, lda, b, ldb, c: out, ldc, beta, impl: impl as GemmArgs['impl'], precision: fast ? 'fast' : 'exact' });
  const rounds = fast && impl === 'avx512' && native().cpuFeatures().avx512bf16;
  const where = `impl=${impl} fast=${fast} M=${M} N=${N} K=${K} beta=${beta} padded=${padded} seed=${seed}`;
  const bv = Float64Array.from(b, fromBf16);
  for (let i = 0; i < M; ++i) {
    for (let j = 0; j < N; ++j) {
      let want = 0;
      let wantR = 0;
      let mag = 0;
      let magR = 0;
      for (let k = 0; k < K; ++k) {
        const av = a[i * lda + k]!;
        const ar = roundBf16(av);
        const w = bv[j * ldb + k]!;
        want += av * w;
        wantR += ar * w;
        mag += Math.abs(av * w);
        magR += Math.abs(ar * w);
      }
      const bc = beta === 0 ? 0 : beta * c0[i * ldc + j]!;
      const got = out[i * ldc + j]!;
      const tol = UBF16 * mag + gamma(K + 2) * ((1 + UBF16) * mag + Math.abs(bc)) + 1e-30;
      if (!(Math.abs(got - (want + bc)) <= tol)) {
        throw new Error(`C[${i},${j}] = ${got}, want ${want + bc} (|err| ${Math.abs(got - want - bc)} > tol ${tol}) ${where}`);
      }
      if (rounds) {
        const tolR = gamma(K + 2) * (magR + Math.abs(bc)) + 1e-30;
        if (!(Math.abs(got - (wantR + bc)) <= tolR)) {
          throw new Error(`C[${i},${j}] = ${got}, want ${wantR + bc} with A rounded to bf16 (|err| ${Math.abs(got - wantR - bc)} > tol ${tolR}) ${where}`);
        }
      }
    }
    for (let j = N; j < ldc && i < M - 1; ++j) expect(out[i * ldc + j], `padding of C row ${i} ${where}`).toBe(SENTINEL);
  }
}

describe('small-M gemm_nt (decode), BF16 weights', () => {
  for (const impl of native().gemmImpls().supported) {
    for (const fast of [false, true]) {
      it(`${impl} ${fast ? 'fast' : 'exact'}: M = 1..64 around the register blocks, ragged N and K, beta 0/1/0.75`, () => {
        let n = 0;
        for (const M of DECODE_M)
          for (const [N, K] of DECODE_NK) for (const beta of [0, 1, 0.75]) decodeCase(impl, fast, M, N, K, beta, n++ % 2 === 1);
      });
    }
  }

  it('gemmMulti equals one gemm per part, bit for bit, for every implementation, precision and M', () => {
    const K = 70;
    for (const impl of native().gemmImpls().supported)
      for (const precision of ['exact', 'fast'] as const)
        for (const M of [1, 8, 33, 64, 65, 150])
          for (const bf16 of [true, false]) {
            const a = matrix(M, K, K);
            const shapes = [
              { n: 13, beta: 0 },
              { n: 0, beta: 0 },
              { n: 6, beta: 1 },
              { n: 31, beta: 0.5 },
            ];
            const parts = shapes.map(({ n, beta }) => {
              const bF = matrix(n, K, K);
              return { b: bf16 ? toBf16Array(bF) : bF, n, beta, c: matrix(M, n, n) };
            });
            const want = parts.map((p) => {
              const c = p.c.slice();
              native().gemm({ op: 'nt', m: M, n: p.n, k: K, a, b: p.b, c, beta: p.beta, impl, precision });
              return c;
            });
            native().gemmMulti({ m: M, k: K, a, parts, impl, precision });
            parts.forEach((p, i) => expect(p.c, `part ${i} impl=${impl} ${precision} M=${M} bf16=${bf16} seed=${seed}`).toEqual(want[i]));
          }
  });

  it('gemmMulti rejects bad parts with clear errors', () => {
    const a = new Float32Array(8);
    const part = () => ({ b: new Float32Array(8), n: 2, c: new Float32Array(4) });
    expect(() => native().gemmMulti({ m: 2, k: 4, a, parts: Array.from({ length: 9 }, part) })).toThrow(/at most 8 parts/);
    expect(() => native().gemmMulti({ m: 2, k: 4, a, parts: [part(), { ...part(), b: new Uint16Array(8) }] })).toThrow(/same type/);
    expect(() => native().gemmMulti({ m: 2, k: 4, a, parts: [{ ...part(), c: new Float32Array(3) }] })).toThrow(/'c' has 3 elements/);
    expect(() => native().gemmMulti({ m: 2, k: 4, a, parts: [{ ...part(), ldb: 3 }] })).toThrow(/leading dimension/);
  });
});

describe('gemm', () => {
  it('reports its implementations', () => {
    const { supported, auto } = native().gemmImpls();
    expect(supported).toContain('portable');
    expect(supported).toContain(auto);
    const f = native().cpuFeatures();
    expect(supported.includes('avx2')).toBe(f.avx2 && f.fma && f.f16c);
  });

  for (const impl of impls) {
    for (const op of ['nt', 'nn', 'tn'] as const) {
      it(`${impl} ${op}: float64 reference, odd shapes, beta 0/1/0.75, F32 and BF16 B, padded leading dims`, () => {
        let n = 0;
        for (const [M, N, K] of SHAPES)
          for (const bf16 of op === 'tn' ? [false] : [false, true])
            for (const beta of [0, 1, 0.75]) runCase(impl, { op, M, N, K, bf16, beta, padded: n++ % 2 === 1 });
      });
    }
    for (const op of ['nt', 'nn', 'tn'] as const) {
      it(`${impl} ${op} fast precision: within bf16 rounding of the operands, odd shapes, padded leading dims`, () => {
        let n = 0;
        for (const [M, N, K] of SHAPES)
          for (const bf16 of op === 'tn' ? [false] : [false, true])
            for (const beta of [0, 1]) runCase(impl, { op, M, N, K, bf16, beta, padded: n++ % 2 === 1, fast: true });
      });
    }
    it(`${impl}: K = 0 gives beta*C, empty M or N is a no-op`, () => {
      for (const op of ['nt', 'nn', 'tn'] as const) {
        const c = new Float32Array([1, 2, 3, 4, 5, 6]);
        native().gemm({ op, m: 2, n: 3, k: 0, a: new Float32Array(0), b: new Float32Array(0), c, beta: 0.5, impl });
        expect(Array.from(c)).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
        native().gemm({ op, m: 2, n: 3, k: 0, a: new Float32Array(0), b: new Float32Array(0), c: c.fill(NaN), beta: 0, impl });
        expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
        const e = new Float32Array(0);
        expect(() => native().gemm({ op, m: 0, n: 4, k: 3, a: e, b: new Float32Array(12), c: e, impl })).not.toThrow();
        expect(() => native().gemm({ op, m: 4, n: 0, k: 3, a: new Float32Array(12), b: e, c: e, impl })).not.toThrow();
      }
    });
  }

  it('rejects bad arguments with clear errors instead of crashing', () => {
    const g = native().gemm;
    const a = new Float32Array(12);
    const b = new Float32Array(12);
    const c = new Float32Array(9);
    expect(() => g({ op: 'xy' as 'nt', m: 3, n: 3, k: 4, a, b, c })).toThrow(/op must be/);
    expect(() => g({ op: 'nt', m: 3, n: 3, k: 4, a, b, c, lda: 3 })).toThrow(/leading dimension/);
    expect(() => g({ op: 'nt', m: 4, n: 3, k: 4, a, b, c })).toThrow(/'a' has 12 elements, needs 16/);
    expect(() => g({ op: 'nt', m: 3, n: 3, k: 4, a, b, c: new Float32Array(8) })).toThrow(/'c'/);
    expect(() => g({ op: 'tn', m: 3, n: 3, k: 4, a, b: new Uint16Array(12), c })).toThrow(/Float32Array/);
    expect(() => g({ op: 'nn', m: 3, n: 3, k: 4, a, b, c, precision: 'half' as 'fast' })).toThrow(/precision must be/);
    expect(() => g({ op: 'nt', m: 3, n: 3, k: 4, a, b, c, impl: 'sse' as 'avx2' })).toThrow(/impl must be/);
    expect(() => g({ op: 'nt', m: -1, n: 3, k: 4, a, b, c })).toThrow(/non-negative/);
    const f = native().cpuFeatures();
    if (!f.avx512f) expect(() => g({ op: 'nt', m: 3, n: 3, k: 4, a, b, c, impl: 'avx512' })).toThrow(/not supported/);
  });

  it('measures machine ceilings', () => {
    const peak = native().cpuPeakFlops('fma-f32', 0.05);
    expect(peak).toBeGreaterThan(1e9);
    expect(() => native().cpuPeakFlops('nope' as 'fma-f32', 0.05)).toThrow(/unknown kind/);
    if (!native().cpuFeatures().avx512bf16) expect(() => native().cpuPeakFlops('dot-bf16', 0.05)).toThrow(/no instructions/);
    expect(native().cpuReadBandwidth(1 << 22, 0.02)).toBeGreaterThan(1e8);
    expect(() => native().cpuReadBandwidth(10, 0.02)).toThrow(/bytes must be/);
  });
});
