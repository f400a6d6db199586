// Every op of the op table (native/backend/backend_ops.h, `native().ops`) on one backend against the float64
// references of test/ref/train-ref.ts, on fresh random inputs each run (the seed is in every failure message;
// LFM2_TEST_SEED=<seed> replays it). The backend is LFM2_OPS_DEVICE: 'cpu' in the unit project, 'cuda' in the gpu
// project (vitest.config.ts), which runs on a GPU or on the CUDA emulator. Every build of a kernel the machine has
// (ops.impls: the CPU's portable / AVX2 / AVX-512 families, the GPU's cuBLASLt and tiled GEMMs) runs.
//
// Tolerances are max over elements of |got − want| / (atol + rtol·|want|) ≤ 1 (ref.worstRatio), stated per op:
// - float64 reference backward vs central finite differences (h = 1e-5): truncation O(h²) ≈ 1e-10 and cancellation
//   ≈ 1e-16/h ≈ 1e-11 relative to the loss scale → atol 1e-7·scale, rtol 1e-6 ('fd64').
// - native FP32 vs float64 on the same FP32 inputs: each output is a short FP32 sum (≤ a few hundred terms) with
//   relative rounding ~6e-8 per term → atol 1e-5·scale, rtol 1e-4 ('fp32'); vs finite differences, both budgets
//   summed and rounded up → atol 2e-5·scale, rtol 2e-4 ('fp32fd'). scale = max |want|.
// The GPU's atomically accumulated gradients and its BF16 GEMM operands get their own bounds where they apply.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import type { OpDevice, OpName } from '../lib/engine/native-types.ts';
import { bf16ToF32, f32ToBf16 } from '../lib/io/dtypes.ts';
import * as ref from './ref/train-ref.ts';
import { freshRandom } from './util/random.ts';

const device = (process.env.LFM2_OPS_DEVICE ?? 'cpu') as OpDevice;
const info = native().backendInfo();
const available = device === 'cpu' || info.cudaUsable;
const why = available ? '' : `(skipped: no usable CUDA backend: ${info.cudaReason || 'not compiled in'})`;
if (!available) console.log(`op suite on '${device}' ${why}`);
const cpu = device === 'cpu';

const ops = () => native().ops;
const on = { device };
// Asked while collecting the tests, so guarded: without the backend every test is skipped anyway.
const impls = (op: OpName) => (available ? ops().impls(op, on) : ['auto']);
const has = (op: OpName, a: 'f32' | 'bf16' = 'f32', b: 'f32' | 'bf16' = 'f32') => available && ops().supports(op, { device, a, b });
const { seed, rand: R, tag } = freshRandom();

/** Random values rounded to FP32 so native and reference see identical inputs. */
function rnd(n: number, scale = 1): Float64Array {
  return ref.f64(ref.f32(ref.randn(R, n, scale)));
}
// The scale of an error budget: never 0, so an all-zero reference still gets a (tiny) absolute tolerance.
const maxAbs = (v: ArrayLike<number>) => Math.max(1e-30, ref.maxAbs(v));
type Kind = 'fd64' | 'fp32' | 'fp32fd';
/** got ≈ want within a named budget (header) or explicit [atol as a multiple of max|want|, rtol]. */
function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, kind: Kind | [number, number]) {
  const s = maxAbs(want);
  const [a, rtol] = typeof kind !== 'string' ? kind : kind === 'fd64' ? [1e-7, 1e-6] : kind === 'fp32' ? [1e-5, 1e-4] : [2e-5, 2e-4];
  const w = ref.worstRatio(got, want, a * s, rtol);
  expect(w, tag(`${device} ${what}: worst error ratio ${w.toExponential(2)}`)).toBeLessThanOrEqual(1);
}
const minus = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a, (v, i) => v - b[i]!);
const bfBits = (x: ArrayLike<number>) => Uint16Array.from(x, (v) => f32ToBf16(v));
const bfVals = (bits: Uint16Array) => Float64Array.from(bits, bf16ToF32);

describe.skipIf(!available)(`op table on '${device}' ${why}`, () => {
  it('answers supports() and impls() for every op; unknown ops and devices are errors', () => {
    const all: OpName[] = [
      'gemm.nn', 'gemm.nt', 'gemm.tn', 'gemm.tt', 'gemmMulti', 'rmsnorm', 'rmsnormBackward', 'rmsnormHeadsBackward',
      'rope', 'ropeBackward', 'attention', 'attentionPacked', 'attentionBackward', 'shortconv', 'shortconvPacked',
      'shortconvBackward', 'swiglu', 'swigluBackward', 'embedding', 'embeddingBackward', 'grpoLoss', 'adamw',
      'loraForward', 'loraBackward', 'gatherRows', 'scatterRows', 'rowExpStats', 'sample',
    ];
    for (const op of all) {
      expect(impls(op).length, op).toBeGreaterThan(0);
      expect(typeof ops().supports(op, on), op).toBe('boolean');
    }
    // Every op a model runs exists on every backend, in some element type.
    for (const op of ['rmsnorm', 'rope', 'attention', 'attentionBackward', 'shortconv', 'swiglu', 'adamw', 'loraForward'] as OpName[])
      expect(has(op), op).toBe(true);
    expect(['f32', 'bf16'].some((t) => has('embedding', t as 'f32'))).toBe(true);
    expect(() => ops().impls('conv2d' as OpName, on)).toThrow(/unknown op 'conv2d'/);
    expect(() => ops().supports('rmsnorm', { device: 'tpu' as OpDevice })).toThrow(/'cpu' or 'cuda'/);
  });

  // ---- GEMM -------------------------------------------------------------------------------------------------------
  describe('gemm', () => {
    const SENTINEL = -12345.5; // exact in float32; a kernel reading or writing padding shows up in the results
    /** Uniform in [-1, 1); padding elements (beyond the row width) hold SENTINEL. */
    function matrix(rows: number, cols: number, ld: number): Float32Array {
      const m = new Float32Array(Math.max(0, (rows - 1) * ld + cols)).fill(SENTINEL);
      for (let r = 0; r < rows; ++r) for (let c = 0; c < cols; ++c) m[r * ld + c] = R() * 2 - 1;
      return m;
    }
    const U32 = 2 ** -24; // unit roundoff of float32
    const UBF16 = 2 ** -8; // unit roundoff of bfloat16 (8 significant bits)
    /** Bound for any-order float32 summation of n terms: gamma_n = n*u / (1 - n*u). */
    const gamma = (n: number) => (n * U32) / (1 - n * U32);
    const roundBf16 = (x: number) => bf16ToF32(f32ToBf16(x));
    type Layout = 'nn' | 'nt' | 'tn' | 'tt';
    interface Case { op: Layout; M: number; N: number; K: number; a: 'f32' | 'bf16'; b: 'f32' | 'bf16'; alpha: number; beta: number; padded: boolean; fast?: boolean }
    // The element types each backend takes (CPU: FP32 A, FP32 or BF16 B; GPU: BF16 A and B).
    const dtypes = (op: Layout) =>
      ([['f32', 'f32'], ['f32', 'bf16'], ['bf16', 'bf16']] as const).filter(([a, b]) => has(`gemm.${op}`, a, b));
    const layouts = (['nn', 'nt', 'tn', 'tt'] as const).filter((op) => dtypes(op).length > 0);

    /**
     * One product against a float64 reference built from exactly the values the kernel sees (BF16 operands decoded
     * exactly): |got − want| ≤ rel·(|alpha|·Σ|a·b| + |beta·c|) with rel = γ(K+2) (K products, the scaling by alpha and
     * the add of beta·c, any order; BF16×BF16 products are exact in FP32). CPU fast precision may first round A (and
     * an F32 B) to bf16, adding (1 + u_bf16)² − 1 per product; with AVX512_BF16 it must round to nearest even and
     * nothing else, so the reference built from the rounded operands bounds it by γ(K+2) alone (a truncating rounding,
     * or an operand left unrounded, fails it). Small-M gemm_nt (M ≤ 64, in place) rounds A against BF16 weights and
     * stays exact against F32 ones; every packed product rounds both operands.
     */
    function runCase(impl: string, c: Case): void {
      const { op, M, N, K, alpha, beta, padded } = c;
      const ta = op[0] === 't', tb = op[1] === 't';
      const [aRows, aCols] = ta ? [K, M] : [M, K];
      const [bRows, bCols] = tb ? [N, K] : [K, N];
      const lda = aCols + (padded ? 3 : 0), ldb = bCols + (padded ? 5 : 0), ldc = N + (padded ? 2 : 0);
      const aF = matrix(aRows, aCols, lda), bF = matrix(bRows, bCols, ldb);
      const a = c.a === 'bf16' ? bfBits(aF) : aF, b = c.b === 'bf16' ? bfBits(bF) : bF;
      const av: ArrayLike<number> = c.a === 'bf16' ? bfVals(a as Uint16Array) : aF;
      const bv: ArrayLike<number> = c.b === 'bf16' ? bfVals(b as Uint16Array) : bF;
      const c0 = matrix(M, N, ldc);
      // beta = 0 must not read C: NaN there would leak into the result.
      if (beta === 0) for (let i = 0; i < M; ++i) for (let j = 0; j < N; ++j) c0[i * ldc + j] = NaN;
      const out = c0.slice();
      ops().gemm({ device, op, m: M, n: N, k: K, a, lda, b, ldb, c: out, ldc, alpha, beta, impl, precision: c.fast ? 'fast' : 'exact' });
      const rounds = c.fast === true && (impl === 'avx512' || impl === 'amx') && native().cpuFeatures().avx512bf16;
      const smallNt = op === 'nt' && M <= 64;
      const roundA = rounds && !(smallNt && c.b === 'f32');
      const roundB = rounds && !smallNt;
      const rel = c.fast && !rounds ? (1 + UBF16) ** 2 - 1 + gamma(K + 2) : gamma(K + 2);
      const A = roundA ? Float64Array.from(av, roundBf16) : av, B = roundB ? Float64Array.from(bv, roundBf16) : bv;
      const where = `${device} impl=${impl} ${JSON.stringify(c)} seed=${seed}`;
      for (let i = 0; i < M; ++i) {
        for (let j = 0; j < N; ++j) {
          let s = 0, mag = 0;
          for (let k = 0; k < K; ++k) {
            const p = (ta ? A[k * lda + i]! : A[i * lda + k]!) * (tb ? B[j * ldb + k]! : B[k * ldb + j]!);
            s += p;
            mag += Math.abs(p);
          }
          const old = beta === 0 ? 0 : beta * c0[i * ldc + j]!;
          const want = alpha * s + old;
          const tol = rel * (Math.abs(alpha) * mag + Math.abs(old)) + 1e-30;
          const got = out[i * ldc + j]!;
          if (!(Math.abs(got - want) <= tol)) throw new Error(`C[${i},${j}] = ${got}, want ${want} (|err| ${Math.abs(got - want)} > tol ${tol}) ${where}`);
        }
        for (let j = N; j < ldc && i < M - 1; ++j) expect(out[i * ldc + j], `padding of C row ${i} ${where}`).toBe(SENTINEL);
      }
    }

    // CPU shapes sit around its kernels' blocking: register tiles 6x16 (AVX2), 12x32 (AVX-512) and 32x32 (AMX, depth
    // padded to 32), cache blocks MC=144|512, KC=256|384|1024, NC=2048, A packed once and shared by the threads
    // when they split C's columns, and the in-place small-M path of gemm_nt (M <= 64, tiles of 8, 4, 2 and 1 rows of
    // A by 3 or 6 weight rows). GPU shapes
    // cover partial and several tiles of the tiled kernel and cuBLASLt in every dimension, small enough for the
    // emulator.
    const SHAPES: [number, number, number][] = cpu
      ? [
          [1, 1, 1], [1, 37, 300], [2, 19, 9], [5, 77, 129], [8, 33, 17], [11, 50, 64], [64, 13, 70], [65, 20, 33],
          [13, 17, 1], [31, 1, 40], [150, 70, 300], [7, 2100, 5], [20, 5, 600], [160, 700, 400], [290, 45, 2070], [530, 33, 70],
        ]
      : [[1, 7, 5], [33, 65, 129], [128, 256, 1024]];
    // alpha ≠ 1 is what the GPU backward uses (scaled products); beta 0 / 1 / 0.75 overwrite and accumulate.
    const SCALES: [number, number][] = [[1, 0], [1, 1], [1, 0.75], [0.75, 0.5]];

    it('reports its builds and element types', () => {
      const builds = impls('gemm.nt');
      if (cpu) {
        expect(builds).toContain('portable');
        const f = native().cpuFeatures();
        expect(builds.includes('avx2')).toBe(f.avx2 && f.fma && f.f16c);
        expect(builds.includes('avx512')).toBe(f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx2 && f.fma && f.f16c);
        expect(builds.includes('amx')).toBe(builds.includes('avx512') && f.avx512bf16 && f.amxBf16);
      } else expect(builds).toContain('tiled');
      expect(layouts.length).toBeGreaterThanOrEqual(3);
    });

    for (const impl of impls('gemm.nt')) {
      for (const op of layouts) {
        it(`${impl} ${op}: float64 reference, odd shapes, alpha/beta, every element type, padded leading dims`, () => {
          let n = 0;
          for (const [M, N, K] of SHAPES)
            for (const [a, b] of dtypes(op))
              for (const [alpha, beta] of SCALES) runCase(impl, { op, M, N, K, a, b, alpha, beta, padded: n++ % 2 === 1 });
        });
      }
      if (cpu)
        for (const op of layouts) {
          it(`${impl} ${op} fast precision: within bf16 rounding of the operands, odd shapes, padded leading dims`, () => {
            let n = 0;
            for (const [M, N, K] of SHAPES)
              for (const [a, b] of dtypes(op))
                for (const beta of [0, 1]) runCase(impl, { op, M, N, K, a, b, alpha: 1, beta, padded: n++ % 2 === 1, fast: true });
          });
        }
      it(`${impl}: K = 0 gives beta*C, empty M or N is a no-op`, () => {
        for (const op of layouts) {
          const [ta] = dtypes(op)[0]!;
          const empty = (n: number) => (ta === 'bf16' ? new Uint16Array(n) : new Float32Array(n));
          const bEmpty = (n: number) => (dtypes(op)[0]![1] === 'bf16' ? new Uint16Array(n) : new Float32Array(n));
          const c = new Float32Array([1, 2, 3, 4, 5, 6]);
          ops().gemm({ device, op, m: 2, n: 3, k: 0, a: empty(0), b: bEmpty(0), c, beta: 0.5, impl });
          expect(Array.from(c)).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
          ops().gemm({ device, op, m: 2, n: 3, k: 0, a: empty(0), b: bEmpty(0), c: c.fill(NaN), beta: 0, impl });
          expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
          const e = new Float32Array(0);
          expect(() => ops().gemm({ device, op, m: 0, n: 4, k: 3, a: empty(0), b: bEmpty(12), c: e, impl })).not.toThrow();
          expect(() => ops().gemm({ device, op, m: 4, n: 0, k: 3, a: empty(12), b: bEmpty(0), c: e, impl })).not.toThrow();
        }
      });
    }

    // ---- small-M gemm_nt (CPU decode): every weight row streamed once per call and dotted with all M rows of A.
    // With AVX512_BF16 and BF16 weights, fast precision rounds A to BF16 once (round to nearest even) and sums the
    // BF16 products with vdpbf16ps in FP32; elsewhere fast runs the exact kernel. M around the register blocks (8, 4,
    // 2 and 1 rows of A) and the small-M limit (64); N around the 6-row weight tiles and their 3-row halves; K around
    // the 32-element vdpbf16ps step (ragged tails of 1..31) and one LFM2 depth (4608).
    const DECODE_M = [1, 2, 7, 8, 9, 31, 32, 33, 63, 64];
    const DECODE_NK: [number, number][] = [[1, 1], [5, 31], [6, 32], [7, 33], [13, 64], [19, 95], [37, 300], [3, 4607]];
    /**
     * Against two float64 references built from the values the kernel sees: `want` from A as given, `wantR` from A
     * rounded to bf16.
     *  - Every build and precision: |got − want| ≤ u·S + γ(K+2)·((1 + u)·S + |βc|), with S = Σ|a·b| and u = 2^-8:
     *    the u·S term is fast precision's rounding of A (B is already bf16 and a product of two bf16 values is exact
     *    in FP32); the exact path stays within the γ term alone.
     *  - fast with AVX512_BF16 (avx512): |got − wantR| ≤ γ(K+2)·(Σ|â·b| + |βc|), i.e. A was rounded to nearest even.
     *  1e-30 absorbs vdpbf16ps's flushed denormals (at most K·2^-126 here).
     */
    function decodeCase(impl: string, fast: boolean, M: number, N: number, K: number, beta: number, padded: boolean): void {
      const lda = K + (padded ? 3 : 0), ldb = K + (padded ? 5 : 0), ldc = N + (padded ? 2 : 0);
      const a = matrix(M, K, lda);
      const b = bfBits(matrix(N, K, ldb));
      const c0 = matrix(M, N, ldc);
      if (beta === 0) for (let i = 0; i < M; ++i) for (let j = 0; j < N; ++j) c0[i * ldc + j] = NaN;
      const out = c0.slice();
      ops().gemm({ device, op: 'nt', m: M, n: N, k: K, a, lda, b, ldb, c: out, ldc, beta, impl, precision: fast ? 'fast' : 'exact' });
      const rounds = fast && (impl === 'avx512' || impl === 'amx') && native().cpuFeatures().avx512bf16;
      const where = `impl=${impl} fast=${fast} M=${M} N=${N} K=${K} beta=${beta} padded=${padded} seed=${seed}`;
      const bv = bfVals(b);
      for (let i = 0; i < M; ++i) {
        for (let j = 0; j < N; ++j) {
          let want = 0, wantR = 0, mag = 0, magR = 0;
          for (let k = 0; k < K; ++k) {
            const av = a[i * lda + k]!, ar = roundBf16(av), w = bv[j * ldb + k]!;
            want += av * w;
            wantR += ar * w;
            mag += Math.abs(av * w);
            magR += Math.abs(ar * w);
          }
          const bc = beta === 0 ? 0 : beta * c0[i * ldc + j]!;
          const got = out[i * ldc + j]!;
          const tol = UBF16 * mag + gamma(K + 2) * ((1 + UBF16) * mag + Math.abs(bc)) + 1e-30;
          if (!(Math.abs(got - (want + bc)) <= tol)) throw new Error(`C[${i},${j}] = ${got}, want ${want + bc} (|err| ${Math.abs(got - want - bc)} > tol ${tol}) ${where}`);
          if (rounds) {
            const tolR = gamma(K + 2) * (magR + Math.abs(bc)) + 1e-30;
            if (!(Math.abs(got - (wantR + bc)) <= tolR)) throw new Error(`C[${i},${j}] = ${got}, want ${wantR + bc} with A rounded to bf16 (|err| ${Math.abs(got - wantR - bc)} > tol ${tolR}) ${where}`);
          }
        }
        for (let j = N; j < ldc && i < M - 1; ++j) expect(out[i * ldc + j], `padding of C row ${i} ${where}`).toBe(SENTINEL);
      }
    }
    if (cpu)
      for (const impl of impls('gemm.nt'))
        for (const fast of [false, true])
          it(`small-M gemm.nt (decode), BF16 weights, ${impl} ${fast ? 'fast' : 'exact'}: M = 1..64 around the register blocks, ragged N and K, beta 0/1/0.75`, () => {
            let n = 0;
            for (const M of DECODE_M) for (const [N, K] of DECODE_NK) for (const beta of [0, 1, 0.75]) decodeCase(impl, fast, M, N, K, beta, n++ % 2 === 1);
          });

    it.skipIf(!has('gemmMulti', 'f32', 'bf16'))('gemmMulti equals one gemm.nt per part, bit for bit, for every build, precision and M', () => {
      const K = 70;
      for (const impl of impls('gemmMulti'))
        for (const precision of ['exact', 'fast'] as const)
          for (const M of [1, 8, 33, 64, 65, 150])
            for (const bf16 of [true, false]) {
              const a = matrix(M, K, K);
              const parts = [{ n: 13, beta: 0 }, { n: 0, beta: 0 }, { n: 6, beta: 1 }, { n: 31, beta: 0.5 }].map(({ n, beta }) => {
                const bF = matrix(n, K, K);
                return { b: bf16 ? bfBits(bF) : bF, n, beta, c: matrix(M, n, n) };
              });
              const want = parts.map((p) => {
                const c = p.c.slice();
                ops().gemm({ device, op: 'nt', m: M, n: p.n, k: K, a, b: p.b, c, beta: p.beta, impl, precision });
                return c;
              });
              ops().gemmMulti({ device, m: M, k: K, a, parts, impl, precision });
              parts.forEach((p, i) => expect(p.c, `part ${i} impl=${impl} ${precision} M=${M} bf16=${bf16} seed=${seed}`).toEqual(want[i]));
            }
    });

    it.skipIf(!has('gemmMulti', 'f32', 'bf16'))('gemmMulti rejects bad parts with clear errors', () => {
      const a = new Float32Array(8);
      const part = () => ({ b: new Float32Array(8), n: 2, c: new Float32Array(4) });
      const g = (parts: ReturnType<typeof part>[] | object[]) => ops().gemmMulti({ device, m: 2, k: 4, a, parts: parts as ReturnType<typeof part>[] });
      expect(() => g(Array.from({ length: 9 }, part))).toThrow(/at most 8 parts/);
      expect(() => g([part(), { ...part(), b: new Uint16Array(8) }])).toThrow(/same type/);
      expect(() => g([{ ...part(), c: new Float32Array(3) }])).toThrow(/'c' has 3 elements/);
      expect(() => g([{ ...part(), ldb: 3 }])).toThrow(/leading dimension/);
    });

    it('rejects bad arguments with clear errors instead of crashing', () => {
      const [at, bt] = dtypes('nt')[0]!;
      const arr = (t: 'f32' | 'bf16', n: number) => (t === 'bf16' ? new Uint16Array(n) : new Float32Array(n));
      const a = arr(at, 12), b = arr(bt, 12), c = new Float32Array(9);
      const g = (x: Partial<Parameters<ReturnType<typeof ops>['gemm']>[0]>) =>
        ops().gemm({ device, op: 'nt', m: 3, n: 3, k: 4, a, b, c, ...x });
      expect(() => g({ op: 'xy' as 'nt' })).toThrow(/op must be/);
      expect(() => g({ lda: 3 })).toThrow(/leading dimension/);
      expect(() => g({ m: 4 })).toThrow(/'a' has 12 elements, needs 16/);
      expect(() => g({ c: new Float32Array(8) })).toThrow(/'c'/);
      expect(() => g({ precision: 'half' as 'fast' })).toThrow(/precision must be/);
      expect(() => g({ impl: 'sse' })).toThrow(/impl must be/);
      expect(() => g({ m: -1 })).toThrow(/non-negative/);
      expect(() => g({ a: new Int32Array(12) as unknown as Float32Array })).toThrow(/Float32Array \(FP32\) or Uint16Array/);
      if (cpu) {
        expect(() => g({ op: 'tn', b: new Uint16Array(12) })).toThrow(/'tn' needs an FP32 B/);
        expect(() => g({ op: 'tt' })).toThrow(/'tt' is not available/);
        if (!native().cpuFeatures().avx512f) expect(() => g({ impl: 'avx512' })).toThrow(/not supported/);
      } else expect(() => g({ a: new Float32Array(12) })).toThrow(/BF16 A and B/);
    });
  });

  // ---- RMSNorm ------------------------------------------------------------------------------------------------------
  describe('rmsnorm', () => {
    // FP32 sum of ≤ 1024 squares and one sqrt: relative error ≲ 1e-6 on rstd, carried into y; 1e-5 of the largest
    // value leaves margin.
    it.each([[7, 64], [5, 1024], [33, 16], [37, 1024], [80, 64]])('rows %i × n %i: y and rstd match float64', (rows, n) => {
      const x = rnd(rows * n, 2), w = ref.f64(ref.f32(ref.uniform(R, n, 0.5, 1.5)));
      const y = new Float32Array(rows * n), rstd = new Float32Array(rows);
      ops().rmsnorm({ device, rows, n, eps: 1e-5, x: ref.f32(x), w: ref.f32(w), y, rstd });
      close('y', y, ref.rmsnormForward(x, w, rows, n, 1e-5), [1e-5, 0]);
      const wantRstd = Array.from({ length: rows }, (_, r) => {
        let ss = 0;
        for (let i = 0; i < n; i++) ss += x[r * n + i]! ** 2;
        return 1 / Math.sqrt(ss / n + 1e-5);
      });
      close('rstd', rstd, wantRstd, [1e-5, 0]);
    });

    it('backward over rows: dx and dw (+=) match the float64 reference and finite differences; dx may overwrite dy', () => {
      for (const [rows, n] of [[5, 16], [37, 256]] as const) {
        const eps = 1e-5;
        const x = rnd(rows * n), w = ref.f64(ref.f32(ref.uniform(R, n, 0.5, 1.5))), dy = rnd(rows * n);
        const dw0 = rnd(n); // accumulation target starts non-zero
        const want = ref.rmsnormBackward(x, w, dy, rows, n, eps);
        const dx = new Float32Array(rows * n), dw = ref.f32(dw0);
        ops().rmsnormBackward({ device, rows, n, eps, x: ref.f32(x), w: ref.f32(w), dy: ref.f32(dy), dx, dw });
        close('dx vs ref', dx, want.dx, 'fp32');
        // The GPU adds each row's dw share with an FP32 atomic: rows·2^-24 of Σ|terms| in any order, 1e-4 absolute here.
        close('dw vs ref', minus(dw, dw0), want.dw, cpu ? 'fp32' : [1e-4, 1e-4]);
        if (rows === 5) {
          const fdx = ref.finiteDiff((xx) => ref.dot(dy, ref.rmsnormForward(xx, w, rows, n, eps)), Float64Array.from(x));
          const fdw = ref.finiteDiff((ww) => ref.dot(dy, ref.rmsnormForward(x, ww, rows, n, eps)), Float64Array.from(w));
          close('ref dx vs fd', want.dx, fdx, 'fd64');
          close('ref dw vs fd', want.dw, fdw, 'fd64');
          close('dx vs fd', dx, fdx, 'fp32fd');
          close('dw vs fd', minus(dw, dw0), fdw, 'fp32fd');
        }
        // dx may overwrite dy in place (the model backward relies on it): same bits as the out-of-place call.
        const inplace = ref.f32(dy);
        ops().rmsnormBackward({ device, rows, n, eps, x: ref.f32(x), w: ref.f32(w), dy: inplace, dx: inplace, dw: new Float32Array(n) });
        expect(Array.from(inplace)).toEqual(Array.from(dx));
      }
    });

    it('backward per head (q/k norm): one [D] weight, dw summed over tokens and heads', () => {
      const T = 3, H = 4, D = 8, eps = 1e-5;
      const x = rnd(T * H * D), w = ref.f64(ref.f32(ref.uniform(R, D, 0.5, 1.5))), dy = rnd(T * H * D);
      const want = ref.rmsnormBackward(x, w, dy, T * H, D, eps);
      const fdw = ref.finiteDiff((ww) => ref.dot(dy, ref.rmsnormForward(x, ww, T * H, D, eps)), Float64Array.from(w));
      close('ref dw vs fd', want.dw, fdw, 'fd64');
      const dx = new Float32Array(T * H * D), dw = new Float32Array(D);
      ops().rmsnormHeadsBackward({ device, tokens: T, heads: H, headDim: D, eps, x: ref.f32(x), w: ref.f32(w), dy: ref.f32(dy), dx, dw });
      close('dx vs ref', dx, want.dx, 'fp32');
      close('dw vs fd', dw, fdw, 'fp32fd');
    });

    it('rejects arrays of the wrong length', () => {
      const a = new Float32Array(10);
      expect(() => ops().rmsnorm({ device, rows: 3, n: 4, x: a, w: new Float32Array(4), y: new Float32Array(12) })).toThrow(/'x' has 10 elements, expected 12/);
      expect(() => ops().rmsnormBackward({ device, rows: 2, n: 4, x: a, w: new Float32Array(4), dy: a, dx: a, dw: new Float32Array(4) })).toThrow(/expected 8/);
    });
  });

  // ---- RoPE ---------------------------------------------------------------------------------------------------------
  describe('rope (NeoX half split, theta 1e6)', () => {
    it('forward at small and large positions matches float64; position 0 is the identity', () => {
      const H = 3, D = 64, theta = 1e6;
      const pos = Int32Array.from([0, 1, 17, 4095, 32767, 127999, ...Array.from({ length: 4 }, () => Math.floor(R() * 32768))]);
      const T = pos.length;
      const x = rnd(T * H * D);
      const y = ref.f32(x);
      ops().rope({ device, tokens: T, heads: H, headDim: D, theta, pos, x: y });
      // cos/sin from double angles rounded to f32, then 2 products + 1 sum in f32: error ≲ 3·6e-8 of |x|.
      close('y', y, ref.ropeForward(x, T, H, D, pos, theta), [1e-6, 1e-6]);
      expect(Array.from(y.subarray(0, H * D))).toEqual(Array.from(ref.f32(x.subarray(0, H * D))));
    });

    it('backward matches the reference and finite differences, including large positions; in place too', () => {
      const T = 5, H = 3, D = 8, theta = 1e6;
      const pos = Int32Array.from({ length: T }, (_, i) => (i === 0 ? 0 : Math.floor(R() * 30000)));
      const x = rnd(T * H * D), dy = rnd(T * H * D);
      const want = ref.ropeBackward(dy, T, H, D, pos, theta);
      const fd = ref.finiteDiff((xx) => ref.dot(dy, ref.ropeForward(xx, T, H, D, pos, theta)), Float64Array.from(x));
      close('ref vs fd', want, fd, 'fd64');
      const dx = new Float32Array(T * H * D);
      ops().ropeBackward({ device, tokens: T, heads: H, headDim: D, theta, pos, dy: ref.f32(dy), dx });
      close('dx vs ref', dx, want, [1e-6, 1e-6]);
      close('dx vs fd', dx, fd, 'fp32fd');
      const inplace = ref.f32(dy);
      ops().ropeBackward({ device, tokens: T, heads: H, headDim: D, theta, pos, dy: inplace, dx: inplace });
      expect(Array.from(inplace)).toEqual(Array.from(dx));
    });

    it('rejects an odd head_dim and negative positions with clear errors', () => {
      const a = new Float32Array(3 * 1 * 5);
      expect(() => ops().ropeBackward({ device, tokens: 3, heads: 1, headDim: 5, pos: new Int32Array(3), dy: a, dx: a })).toThrow(/even/);
      expect(() => ops().rope({ device, tokens: 3, heads: 1, headDim: 5, pos: new Int32Array(3), x: a })).toThrow(/even/);
      const b = new Float32Array(2 * 1 * 4);
      expect(() => ops().ropeBackward({ device, tokens: 2, heads: 1, headDim: 4, pos: Int32Array.from([0, -1]), dy: b, dx: b })).toThrow(/negative position/);
    });
  });

  // ---- attention ----------------------------------------------------------------------------------------------------
  describe('attention over a cached prefix (causal GQA, ragged)', () => {
    // Cases: decode-like rows (CPU row kernel: AVX2 when D % 8 == 0, portable otherwise) and prefill chunks of ≥ 32
    // queries (CPU tile path: 64×64 tiles, online softmax; GPU: 128-key tiles), with and without a cached prefix
    // (nKv > nQ), on every build the machine has (head_dim 16/32/64 take the AVX-512 tile kernels, 24 the blocked
    // plain loops).
    it.each([
      { name: 'short rows, D 16', H: 4, KVH: 2, D: 16, nQ: [1, 3, 2, 5], nKv: [1, 3, 7, 5] },
      { name: 'short rows, D 6 (portable)', H: 4, KVH: 1, D: 6, nQ: [1, 4], nKv: [6, 4] },
      // Decode over a KV cache: LFM2-350M's head_dim 64 and 2 query heads per KV head, an odd group of 3, caches
      // longer than the 8-lane blocks with ragged tails.
      { name: 'decode rows, D 64, GQA 2, long cache', H: 4, KVH: 2, D: 64, nQ: [1, 2, 1], nKv: [77, 130, 9] },
      { name: 'decode rows, D 32, 3 heads per KV head', H: 6, KVH: 2, D: 32, nQ: [1, 3], nKv: [45, 20] },
      { name: 'long chunks, tile path', H: 4, KVH: 2, D: 16, nQ: [40, 150, 2], nKv: [45, 150, 9] },
      { name: 'long chunks, tile path, D 32, prefix not tile-aligned', H: 4, KVH: 2, D: 32, nQ: [33, 130, 64], nKv: [100, 130, 64] },
      { name: 'long chunks, tile path, D 24, prefix', H: 2, KVH: 1, D: 24, nQ: [70], nKv: [200] },
      { name: 'long chunks, tile path, D 64, MHA', H: 3, KVH: 3, D: 64, nQ: [129], nKv: [129] },
    ].flatMap((c) => impls('attention').map((impl) => ({ ...c, impl }))))('$name, $impl: out and lse match float64', ({ H, KVH, D, nQ, nKv, impl }) => {
      const sq = nQ.reduce((a, b) => a + b), skv = nKv.reduce((a, b) => a + b);
      const q = rnd(sq * H * D, 1.5), k = rnd(skv * KVH * D, 1.5), v = rnd(skv * KVH * D);
      const out = new Float32Array(sq * H * D), lse = new Float32Array(sq * H);
      ops().attention({ device, q: ref.f32(q), k: ref.f32(k), v: ref.f32(v), out, lse, qHeads: H, kvHeads: KVH, headDim: D, nQ, nKv, impl });
      let oq = 0, okv = 0;
      for (let s = 0; s < nQ.length; s++) {
        // The reference runs the whole context as one fresh sequence (zero queries for the cached rows): its last
        // nQ rows see exactly the keys the cached queries see.
        const n = nKv[s]!, first = n - nQ[s]!;
        const qs = new Float64Array(n * H * D);
        qs.set(q.subarray(oq * H * D, (oq + nQ[s]!) * H * D), first * H * D);
        const want = ref.attentionForward(qs, k.subarray(okv * KVH * D, (okv + n) * KVH * D), v.subarray(okv * KVH * D, (okv + n) * KVH * D),
          { T: n, Hq: H, Hkv: KVH, D, cu: [0, n], scale: 1 / Math.sqrt(D) });
        // Scores up to ~|q||k|/√D ≈ 10, exp/sum in FP32 over ≤ 200 keys: relative error ≲ 1e-6; 1e-5 of the largest
        // output (and of max(1, |lse|)) leaves margin. The GPU's online softmax over 128-key tiles: 2e-5 + 1e-4·|o|.
        close(`out, sequence ${s}`, out.subarray(oq * H * D, (oq + nQ[s]!) * H * D), want.o.subarray(first * H * D), cpu ? [1e-5, 0] : [2e-5, 1e-4]);
        const lw = want.lse.subarray(first * H), lg = lse.subarray(oq * H, (oq + nQ[s]!) * H);
        for (let i = 0; i < lg.length; i++)
          expect(Math.abs(lg[i]! - lw[i]!), tag(`${device} lse ${i}, sequence ${s}`)).toBeLessThan(1e-5 * Math.max(1, Math.abs(lw[i]!)));
        oq += nQ[s]!;
        okv += n;
      }
    });

    it('rejects bad shapes with clear errors', () => {
      const z = (n: number) => new Float32Array(n);
      expect(() => ops().attention({ device, q: z(128), k: z(64), v: z(64), out: z(128), qHeads: 1, kvHeads: 1, headDim: 64, nQ: [2], nKv: [1] })).toThrow(/keys for 2 queries/);
      expect(() => ops().attention({ device, q: z(64), k: z(64), v: z(64), out: z(64), qHeads: 3, kvHeads: 2, headDim: 64, nQ: [1], nKv: [1] })).toThrow(/multiple of kvHeads/);
    });
  });

  describe('attention over packed fresh sequences (training forward and backward)', () => {
    function setup(cu: number[], Hq: number, Hkv: number, D: number) {
      const T = cu[cu.length - 1]!;
      const s: ref.AttnShape = { T, Hq, Hkv, D, cu, scale: 1 / Math.sqrt(D) };
      const q = rnd(T * Hq * D), k = rnd(T * Hkv * D), v = rnd(T * Hkv * D), dO = rnd(T * Hq * D);
      const args = { device, tokens: T, qHeads: Hq, kvHeads: Hkv, headDim: D, cuSeqlens: Int32Array.from(cu), q: ref.f32(q), k: ref.f32(k), v: ref.f32(v) };
      return { T, s, q, k, v, dO, args };
    }
    // Forward outputs: FP32 dot products of ≤ 64 terms and an online softmax: 'fp32'. Gradients: the CPU writes each
    // element once ('fp32'); the GPU adds dk/dv with atomics over up to T·(Hq/Hkv) queries in any order, on O(1)–O(10)
    // values → atol 1e-4·scale, rtol 1e-3.
    const grad = (cpu ? 'fp32' : [1e-4, 1e-3]) as Kind | [number, number];

    it('small batch (lengths 5, 1, 7): vs reference and finite differences, with and without saved stats', () => {
      const { T, s, q, k, v, dO, args } = setup([0, 5, 6, 13], 4, 2, 8);
      const want = ref.attentionBackward(q, k, v, dO, s);
      const L = (qq: Float64Array, kk: Float64Array, vv: Float64Array) => ref.dot(dO, ref.attentionForward(qq, kk, vv, s).o);
      close('ref dq vs fd', want.dq, ref.finiteDiff((x) => L(x, k, v), Float64Array.from(q)), 'fd64');
      const fdk = ref.finiteDiff((x) => L(q, x, v), Float64Array.from(k));
      const fdv = ref.finiteDiff((x) => L(q, k, x), Float64Array.from(v));
      close('ref dk vs fd', want.dk, fdk, 'fd64');
      close('ref dv vs fd', want.dv, fdv, 'fd64');
      const fw = ref.attentionForward(q, k, v, s);
      for (const impl of impls('attentionPacked')) {
        const o = new Float32Array(T * 4 * 8), lse = new Float32Array(T * 4);
        ops().attentionPacked({ ...args, impl, o, lse });
        close(`forward o (${impl})`, o, fw.o, 'fp32');
        close(`forward lse (${impl})`, lse, fw.lse, 'fp32');
      }
      const o = new Float32Array(T * 4 * 8), lse = new Float32Array(T * 4);
      ops().attentionPacked({ ...args, o, lse });
      for (const saved of [true, false])
        for (const impl of impls('attentionBackward')) {
          const dq = new Float32Array(q.length).fill(NaN), dk = new Float32Array(k.length).fill(NaN), dv = new Float32Array(v.length).fill(NaN);
          ops().attentionBackward({ ...args, impl, dout: ref.f32(dO), dq, dk, dv, ...(saved ? { o, lse } : {}) });
          close(`dq (saved=${saved}, ${impl})`, dq, want.dq, grad);
          close(`dk (saved=${saved})`, dk, want.dk, grad);
          close(`dv (saved=${saved})`, dv, want.dv, grad);
          close(`dk vs fd (saved=${saved})`, dk, fdk, 'fp32fd');
          close(`dv vs fd (saved=${saved})`, dv, fdv, 'fp32fd');
        }
    });

    // CPU: head_dim 16/32/48/64 run the register-blocked AVX-512 tile kernels, multiples of 8 the blocked plain loops
    // (4 wide portable, 8 wide AVX2), others (12) the unblocked ones; lengths cover partial tiles (1, 5, 63, 65, 70,
    // 130), exact tiles (64, 128), an empty sequence and several packed ones; GQA groups 1, 2 and 4. GPU: LFM2-350M's
    // head_dim 64, a sequence spanning two 128-key tiles, an empty one.
    const CASES: [number[], number, number, number][] = cpu
      ? [
          [[0, 150, 220], 2, 1, 8],
          [[0, 130, 131, 195, 272], 4, 2, 32],
          [[0, 65, 128, 256], 8, 2, 64],
          [[0, 63, 63, 190], 3, 3, 16],
          [[0, 100, 129], 4, 1, 48],
          [[0, 70, 75], 2, 1, 12],
        ]
      : [[[0, 1, 6, 6, 146, 155], 4, 2, 64]];
    for (const [cu, Hq, Hkv, D] of CASES) {
      it(`head_dim ${D}, Hq ${Hq} / Hkv ${Hkv}, lengths ${cu.slice(1).map((c, i) => c - cu[i]!).join(', ')}: every build, saved and recomputed stats`, () => {
        const { T, s, q, k, v, dO, args } = setup(cu, Hq, Hkv, D);
        const want = ref.attentionBackward(q, k, v, dO, s);
        const fw = ref.attentionForward(q, k, v, s);
        for (const impl of impls('attentionBackward')) {
          const o = new Float32Array(T * Hq * D), lse = new Float32Array(T * Hq);
          ops().attentionPacked({ ...args, impl, o, lse });
          close(`forward o (${impl})`, o, fw.o, 'fp32');
          close(`forward lse (${impl})`, lse, fw.lse, 'fp32');
          for (const saved of [true, false]) {
            const dq = new Float32Array(q.length).fill(NaN), dk = new Float32Array(k.length).fill(NaN), dv = new Float32Array(v.length).fill(NaN);
            ops().attentionBackward({ ...args, impl, dout: ref.f32(dO), dq, dk, dv, ...(saved ? { o, lse } : {}) });
            close(`dq (saved=${saved}, ${impl})`, dq, want.dq, grad);
            close(`dk (saved=${saved}, ${impl})`, dk, want.dk, grad);
            close(`dv (saved=${saved}, ${impl})`, dv, want.dv, grad);
          }
        }
      });
    }

    it('rejects q_heads not divisible by kv_heads, inconsistent cu_seqlens and unknown builds', () => {
      const { args } = setup([0, 3], 2, 1, 4);
      const z = () => new Float32Array(3 * 2 * 4);
      const kv = () => new Float32Array(3 * 2 * 4);
      expect(() => ops().attentionBackward({ ...args, qHeads: 3, kvHeads: 2, q: new Float32Array(36), k: kv(), v: kv(), dout: new Float32Array(36), dq: new Float32Array(36), dk: kv(), dv: kv() })).toThrow(/multiple of kvHeads/);
      expect(() => ops().attentionBackward({ ...args, cuSeqlens: Int32Array.from([0, 2]), dout: z(), dq: z(), dk: new Float32Array(12), dv: new Float32Array(12) })).toThrow(/cuSeqlens/);
      const o = z(), lse = new Float32Array(6);
      expect(() => ops().attentionPacked({ ...args, impl: 'sse9', o, lse })).toThrow(/impl must be one of/);
      if (cpu && !impls('attentionPacked').includes('avx512')) expect(() => ops().attentionPacked({ ...args, impl: 'avx512', o, lse })).toThrow(/lacks/);
    });
  });

  // ---- short convolution --------------------------------------------------------------------------------------------
  describe('short conv (B, C, x gates; 3-tap causal)', () => {
    const cuOf = (lengths: number[]) => lengths.reduce((cu, l) => [...cu, cu[cu.length - 1]! + l], [0]);

    it('from zero state matches the float64 reference; several sequences in one call', () => {
      const C = cpu ? 300 : 160; // CPU: more than one 256-channel block
      const lengths = cpu ? [1, 2, 6] : [1, 7, 2, 30];
      const cu = cuOf(lengths), T = cu[cu.length - 1]!;
      const z = rnd(T * 3 * C), K = rnd(C * 3, 0.6);
      const y = new Float32Array(T * C);
      ops().shortconv({ device, channels: C, lengths, z: ref.f32(z), kernel: ref.f32(K), y });
      // One product, 3 MACs and one gate product in FP32 per output: error ≲ 1e-6 relative.
      close('y', y, ref.shortconvForward(z, K, cu, C), [1e-6, 1e-5]);
      const packed = new Float32Array(T * C);
      ops().shortconvPacked({ device, channels: C, cuSeqlens: Int32Array.from(cu), z: ref.f32(z), kernel: ref.f32(K), y: packed });
      close('packed y', packed, ref.shortconvForward(z, K, cu, C), [1e-6, 1e-5]);
    });

    it('carries the shift-register state: chunks with random states match the reference, new states too', () => {
      const C = 48, lengths = [1, 4];
      const cu = cuOf(lengths), T = cu[cu.length - 1]!;
      const z = rnd(T * 3 * C), K = rnd(C * 3, 0.6), states0 = rnd(2 * 2 * C);
      const y = new Float32Array(T * C), states = ref.f32(states0);
      ops().shortconv({ device, channels: C, lengths, z: ref.f32(z), kernel: ref.f32(K), y, states });
      lengths.forEach((n, i) => {
        const want = ref.shortconvForwardWithState(z.subarray(cu[i]! * 3 * C, cu[i + 1]! * 3 * C), K, n, C, states0.subarray(i * 2 * C, (i + 1) * 2 * C));
        close(`y, sequence ${i}`, y.subarray(cu[i]! * C, cu[i + 1]! * C), want.y, [1e-6, 1e-5]);
        close(`new state, sequence ${i}`, states.subarray(i * 2 * C, (i + 1) * 2 * C), want.state, [1e-7, 1e-6]);
      });
    });

    it('running sequences in chunks through the state equals one full pass, bit for bit', () => {
      const C = 32, lengths = [7, 1, 12];
      const cu = cuOf(lengths), T = cu[cu.length - 1]!;
      const z = ref.f32(rnd(T * 3 * C)), K = ref.f32(rnd(C * 3, 0.6));
      const full = new Float32Array(T * C);
      ops().shortconv({ device, channels: C, lengths, z, kernel: K, y: full });
      // Each sequence split at a different point: its first part fresh, the rest continuing from the returned state.
      const splitA = lengths.map((l) => Math.max(1, Math.floor(l / 2)));
      const zA: number[] = [], zB: number[] = [], lenB: number[] = [], seqOfB: number[] = [];
      lengths.forEach((l, s) => {
        for (let t = 0; t < l; t++) (t < splitA[s]! ? zA : zB).push(...z.subarray((cu[s]! + t) * 3 * C, (cu[s]! + t + 1) * 3 * C));
        if (l > splitA[s]!) (lenB.push(l - splitA[s]!), seqOfB.push(s));
      });
      const yA = new Float32Array(zA.length / 3), stA = new Float32Array(lengths.length * 2 * C);
      ops().shortconv({ device, channels: C, lengths: splitA, z: Float32Array.from(zA), kernel: K, y: yA, states: stA });
      const stB = new Float32Array(lenB.length * 2 * C);
      seqOfB.forEach((s, i) => stB.set(stA.subarray(s * 2 * C, (s + 1) * 2 * C), i * 2 * C));
      const yB = new Float32Array(zB.length / 3);
      ops().shortconv({ device, channels: C, lengths: lenB, z: Float32Array.from(zB), kernel: K, y: yB, states: stB });
      let ia = 0, ib = 0;
      lengths.forEach((l, s) => {
        for (let t = 0; t < l; t++) {
          const got = t < splitA[s]! ? yA.subarray(ia * C, ++ia * C) : yB.subarray(ib * C, ++ib * C);
          expect(Array.from(got)).toEqual(Array.from(full.subarray((cu[s]! + t) * C, (cu[s]! + t + 1) * C)));
        }
      });
    });

    it('a prefill, a one-token decode step and a second chunk through the state equal one full pass', () => {
      const C = 32, T = 7;
      const z = ref.f32(rnd(T * 3 * C)), K = ref.f32(rnd(C * 3, 0.6));
      const run = (zz: Float32Array, n: number, states?: Float32Array) => {
        const y = new Float32Array(n * C), st = states ?? new Float32Array(2 * C);
        ops().shortconv({ device, channels: C, lengths: [n], z: zz, kernel: K, y, states: st });
        return { y, st };
      };
      const full = new Float32Array(T * C);
      ops().shortconv({ device, channels: C, lengths: [T], z, kernel: K, y: full });
      const a = run(z.subarray(0, 3 * 3 * C), 3);
      const b = run(z.subarray(3 * 3 * C, 4 * 3 * C), 1, a.st);
      const c = run(z.subarray(4 * 3 * C), 3, b.st);
      expect(Array.from([...a.y, ...b.y, ...c.y])).toEqual(Array.from(full));
    });

    it('backward: dz and dK (+=) match the reference and finite differences (lengths 1, 3, 5); a larger ragged batch', () => {
      const C = 5, cu = [0, 1, 4, 9], T = 9;
      const z = rnd(T * 3 * C), K = rnd(C * 3), dy = rnd(T * C), dK0 = rnd(C * 3);
      const want = ref.shortconvBackward(z, K, dy, cu, C);
      const fdz = ref.finiteDiff((x) => ref.dot(dy, ref.shortconvForward(x, K, cu, C)), Float64Array.from(z));
      const fdK = ref.finiteDiff((x) => ref.dot(dy, ref.shortconvForward(z, x, cu, C)), Float64Array.from(K));
      close('ref dz vs fd', want.dz, fdz, 'fd64');
      close('ref dK vs fd', want.dK, fdK, 'fd64');
      const dz = new Float32Array(T * 3 * C), dK = ref.f32(dK0);
      ops().shortconvBackward({ device, channels: C, cuSeqlens: Int32Array.from(cu), z: ref.f32(z), kernel: ref.f32(K), dy: ref.f32(dy), dz, dkernel: dK });
      close('dz vs ref', dz, want.dz, 'fp32');
      close('dz vs fd', dz, fdz, 'fp32fd');
      close('dK vs ref', minus(dK, dK0), want.dK, 'fp32');
      close('dK vs fd', minus(dK, dK0), fdK, 'fp32fd');
      // 160 channels (several blocks), an empty sequence: dK sums T products per element in FP32, T·2^-24 of
      // Σ|terms| — bounded by 1e-4 of the largest value here.
      const C2 = 160, cu2 = [0, 1, 8, 8, 10, 40], T2 = 40;
      const z2 = rnd(T2 * 3 * C2), K2 = rnd(C2 * 3, 0.5), dy2 = rnd(T2 * C2);
      const want2 = ref.shortconvBackward(z2, K2, dy2, cu2, C2);
      const dz2 = new Float32Array(T2 * 3 * C2), dK2 = new Float32Array(C2 * 3);
      ops().shortconvBackward({ device, channels: C2, cuSeqlens: Int32Array.from(cu2), z: ref.f32(z2), kernel: ref.f32(K2), dy: ref.f32(dy2), dz: dz2, dkernel: dK2 });
      close('dz, ragged', dz2, want2.dz, [1e-6, 1e-5]);
      close('dK, ragged', dK2, want2.dK, [1e-4, 1e-4]);
    });

    it('rejects bad lengths', () => {
      expect(() => ops().shortconv({ device, channels: 3, lengths: [2], z: new Float32Array(9), kernel: new Float32Array(9), y: new Float32Array(6) })).toThrow(/'z' has 9 elements/);
      expect(() => ops().shortconv({ device, channels: 1, lengths: [0], z: new Float32Array(0), kernel: new Float32Array(3), y: new Float32Array(0) })).toThrow(/≥ 1/);
    });
  });

  // ---- SwiGLU -------------------------------------------------------------------------------------------------------
  describe('swiglu', () => {
    for (const impl of impls('swiglu')) {
      it(`${impl}: silu(a) ⊙ b matches float64, large |a| and a 16-lane tail included`, () => {
        const a = rnd(3001, 3), b = rnd(3001);
        a.set([90, -90, 200, -200, 0, 1e-30], 100);
        const out = new Float32Array(3001);
        ops().swiglu({ device, a: ref.f32(a), b: ref.f32(b), out, impl });
        // One exp (libm, the AVX-512 polynomial: relative error < 2e-7, or the GPU's expf), one divide and two
        // products in FP32: relative error ≲ 4·6e-8 + 2e-7.
        close('out', out, ref.swigluForward(a, b), [1e-6, 1e-5]);
      });
      for (const F of [7, 37])
        it(`${impl}, F = ${F}: backward da and db match the reference and finite differences; in place too`, () => {
          const rows = 3;
          const a = rnd(rows * F, 2), b = rnd(rows * F), dh = rnd(rows * F);
          const want = ref.swigluBackward(a, b, dh);
          close('ref da vs fd', want.da, ref.finiteDiff((x) => ref.dot(dh, ref.swigluForward(x, b)), Float64Array.from(a)), 'fd64');
          close('ref db vs fd', want.db, ref.finiteDiff((x) => ref.dot(dh, ref.swigluForward(a, x)), Float64Array.from(b)), 'fd64');
          const da = new Float32Array(rows * F), db = new Float32Array(rows * F);
          ops().swigluBackward({ device, rows, F, a: ref.f32(a), b: ref.f32(b), dh: ref.f32(dh), da, db, impl });
          close('da', da, want.da, 'fp32');
          close('db', db, want.db, 'fp32');
          // da/db may overwrite a/b in place: same bits as the out-of-place call.
          const a2 = ref.f32(a), b2 = ref.f32(b);
          ops().swigluBackward({ device, rows, F, a: a2, b: b2, dh: ref.f32(dh), da: a2, db: b2, impl });
          expect([Array.from(a2), Array.from(b2)]).toEqual([Array.from(da), Array.from(db)]);
        });
    }

    it('rejects wrong lengths, types and builds', () => {
      const z = (n: number) => new Float32Array(n);
      expect(() => ops().swiglu({ device, a: z(3), b: z(4), out: z(3) })).toThrow(/'b' has 4 elements/);
      expect(() => ops().swiglu({ device, a: z(3), b: z(3), out: z(3), impl: 'sse' })).toThrow(/impl must be/);
      // @ts-expect-error wrong type on purpose
      expect(() => ops().swiglu({ device, a: [1, 2], b: z(2), out: z(2) })).toThrow(TypeError);
    });
  });

  // ---- embedding ----------------------------------------------------------------------------------------------------
  describe('embedding', () => {
    it('looks up rows exactly (every table type the backend takes) and rejects out-of-range ids', () => {
      const V = 50, C = 24;
      const table = ref.f32(rnd(V * C));
      const ids = Int32Array.from([3, 0, 49, 3, 17, ...Array.from({ length: 20 }, () => Math.floor(R() * 10))]);
      const tables = [...(has('embedding', 'f32') ? [table] : []), ...(has('embedding', 'bf16') ? [bfBits(table)] : [])];
      expect(tables.length).toBeGreaterThan(0);
      for (const t of tables) {
        const out = new Float32Array(ids.length * C);
        ops().embedding({ device, ids, table: t, vocab: V, dim: C, out });
        const value = (i: number) => (t instanceof Uint16Array ? bf16ToF32(t[i]!) : t[i]!);
        for (let i = 0; i < ids.length; i++) for (let c = 0; c < C; c++) expect(out[i * C + c]).toBe(value(ids[i]! * C + c));
        expect(() => ops().embedding({ device, ids: Int32Array.from([1, 50]), table: t, vocab: V, dim: C, out: new Float32Array(2 * C) })).toThrow(/token id 50 .*outside the vocabulary/);
        expect(() => ops().embedding({ device, ids: Int32Array.from([-1]), table: t, vocab: V, dim: C, out: new Float32Array(C) })).toThrow(/outside the vocabulary/);
      }
    });

    it('backward scatter-adds repeated ids into dE (+=) and drops the padding id like nn.Embedding(padding_idx)', () => {
      const V = 11, C = 24;
      const ids = Int32Array.from([3, 0, 5, 3, 6, 0, 3, 4, 4, ...Array.from({ length: 30 }, () => Math.floor(R() * V))]);
      const dx = rnd(ids.length * C), dE0 = rnd(V * C);
      for (const pad of [0, 4, -1]) {
        const dE = ref.f32(dE0);
        ops().embeddingBackward({ device, vocab: V, dim: C, paddingIdx: pad, ids, dx: ref.f32(dx), dE });
        // ≤ 40 FP32 additions per element (GPU atomics in any order): a few ulps of the summed magnitudes.
        close(`dE − dE0 (padding ${pad})`, minus(dE, dE0), ref.embeddingBackward(ids, dx, V, C, pad), [1e-6, 1e-5]);
        if (pad >= 0) for (let c = 0; c < C; c++) expect(dE[pad * C + c]).toBe(ref.f32([dE0[pad * C + c]!])[0]); // untouched
      }
      // With no padding id the backward is the exact gradient of the lookup.
      const E = rnd(V * C), small = ids.subarray(0, 7), dxs = dx.subarray(0, 7 * C);
      const fd = ref.finiteDiff((e) => ref.dot(dxs, ref.embeddingForward(e, small, C)), Float64Array.from(E));
      close('ref vs fd', ref.embeddingBackward(small, dxs, V, C, -1), fd, 'fd64');
      const noPad = new Float32Array(V * C);
      ops().embeddingBackward({ device, vocab: V, dim: C, ids: small, dx: ref.f32(dxs), dE: noPad });
      close('no padding vs fd', noPad, fd, 'fp32fd');
    });

    it('backward rejects an id outside the vocabulary', () => {
      expect(() => ops().embeddingBackward({ device, vocab: 4, dim: 2, ids: Int32Array.from([4]), dx: new Float32Array(2), dE: new Float32Array(8) })).toThrow(/outside the vocabulary/);
    });
  });

  // ---- AdamW (torch.optim.AdamW + clip_grad_norm_) -----------------------------------------------------------------
  describe('adamw', () => {
    // Weights are O(1) and each FP32 step rounds them by ≤ 1 ulp (6e-8) plus the FP32 update's own relative error
    // (~1e-6 of an update of size ≈ lr = 1e-3), so after 6 steps |Δw| ≤ 6·(1.2e-7 + 1e-9) < 1e-6 → atol 1e-6, rtol
    // 1e-6. Moments are short FP32 recurrences whose terms can cancel: each step adds ≤ 1 ulp (6e-8) of the largest
    // term, so after 6 steps the absolute error is < 1e-6·scale (scale = max |moment|) → atol 1e-6·scale, rtol 1e-5.
    // The global norm is a double sum of FP32 squares → rtol 1e-6.
    const sizes = [5, 10000, 7]; // the large one is split over the CPU's thread pool and the GPU's blocks
    const decay = [true, false, true];
    function makeTensors() {
      const nat = sizes.map((n, i) => ({
        weight: ref.f32(ref.randn(R, n)), grad: new Float32Array(n), expAvg: new Float32Array(n), expAvgSq: new Float32Array(n),
        bf16: new Uint16Array(n), decay: decay[i],
      }));
      const st: ref.AdamWRefState[] = nat.map((t) => ({ w: ref.f64(t.weight), m: new Float64Array(t.weight.length), v: new Float64Array(t.weight.length) }));
      return { nat, st };
    }
    const exactly = (what: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number) => {
      const w = ref.worstRatio(got, want, atol, rtol);
      expect(w, tag(`${device} ${what}: worst error ratio ${w.toExponential(2)}`)).toBeLessThanOrEqual(1);
    };

    for (const impl of impls('adamw'))
      for (const maxGradNorm of [1.0, 0]) {
        it(`${impl}: matches the float64 reference over 6 steps with a warmup+linear schedule (max_grad_norm ${maxGradNorm}); BF16 copies`, () => {
          const { nat, st } = makeTensors();
          const cfg = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm };
          const w0 = nat.map((t) => Float32Array.from(t.weight));
          for (let step = 1; step <= 6; step++) {
            const lr = ref.lrRef('linear', cfg.lr, 2, 10, step - 1);
            const grads = sizes.map((n) => ref.f64(ref.f32(ref.randn(R, n, 0.5))));
            nat.forEach((t, i) => t.grad.set(grads[i]!));
            const res = ops().adamw({ device, tensors: nat, ...cfg, lr, step, impl });
            const norm = ref.adamwRef(st, grads, { ...cfg, lr }, step, decay);
            expect(res.skipped).toBe(false);
            exactly(`step ${step} grad norm`, [res.gradNorm], [norm], 0, 1e-6);
            if (maxGradNorm > 0) {
              expect(norm, tag('gradients are large enough to be clipped')).toBeGreaterThan(maxGradNorm);
              exactly('clip coef', [res.clipCoef], [maxGradNorm / (norm + 1e-6)], 0, 1e-6);
            } else expect(res.clipCoef).toBe(1);
          }
          nat.forEach((t, i) => {
            exactly(`tensor ${i} weight`, t.weight, st[i]!.w, 1e-6, 1e-6);
            exactly(`tensor ${i} exp_avg`, t.expAvg, st[i]!.m, 1e-6 * maxAbs(st[i]!.m), 1e-5);
            exactly(`tensor ${i} exp_avg_sq`, t.expAvgSq, st[i]!.v, 1e-6 * maxAbs(st[i]!.v), 1e-5);
            expect(Array.from(t.bf16)).toEqual(Array.from(bfBits(t.weight)));
            // The weights really moved (lr 0 at step 1, then ≈ 1e-3 per step).
            expect(maxAbs(t.weight.map((v, j) => v - w0[i]![j]!))).toBeGreaterThan(1e-4);
          });
        });
      }

    for (const bad of [NaN, Infinity, -Infinity]) {
      it(`skips the whole step on a ${bad} gradient and writes nothing`, () => {
        const { nat } = makeTensors();
        nat.forEach((t) => t.grad.set(ref.randn(R, t.grad.length)));
        ops().adamw({ device, tensors: nat, lr: 1e-3, step: 1 }); // non-trivial moments first
        const before = nat.map((t) => [t.weight, t.expAvg, t.expAvgSq, t.bf16].map((a) => Array.from(a)));
        nat.forEach((t) => t.grad.set(ref.randn(R, t.grad.length)));
        nat[1]!.grad[1234] = bad;
        const res = ops().adamw({ device, tensors: nat, lr: 1e-3, step: 2 });
        expect(res.skipped).toBe(true);
        expect(res.badTensor).toBe(1);
        expect(Number.isFinite(res.gradNorm)).toBe(false);
        nat.forEach((t, i) => expect([t.weight, t.expAvg, t.expAvgSq, t.bf16].map((a) => Array.from(a))).toEqual(before[i]));
      });
    }

    it.skipIf(impls('adamw').length < 2)("every element kernel the machine has gives the first build's bits (weights, moments, BF16 copies)", () => {
      // Odd sizes: vector bodies and scalar tails; one tensor large enough to split over the pool.
      const n = [3, 50_001, 17];
      const base = n.map((k) => ({ w: ref.f32(ref.randn(R, k)), m: ref.f32(ref.randn(R, k, 0.1)), v: ref.f32(ref.randn(R, k, 0.01)).map(Math.abs) }));
      const grads = n.map((k) => ref.f32(ref.randn(R, k, 0.5)));
      const results = impls('adamw').map((impl) => {
        const ts = base.map((b, i) => ({
          weight: b.w.slice(), grad: grads[i]!, expAvg: b.m.slice(), expAvgSq: b.v.slice(), bf16: new Uint16Array(n[i]!), decay: i !== 1,
        }));
        const res = ops().adamw({ device, tensors: ts, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 1, step: 3, impl });
        return { ts, res };
      });
      for (const { ts, res } of results.slice(1)) {
        exactly('grad norm', [res.gradNorm], [results[0]!.res.gradNorm], 0, 1e-12);
        ts.forEach((t, i) => {
          const want = results[0]!.ts[i]!;
          expect(Buffer.from(t.weight.buffer).equals(Buffer.from(want.weight.buffer)), `tensor ${i} weights`).toBe(true);
          expect(Buffer.from(t.expAvg.buffer).equals(Buffer.from(want.expAvg.buffer)), `tensor ${i} exp_avg`).toBe(true);
          expect(Buffer.from(t.expAvgSq.buffer).equals(Buffer.from(want.expAvgSq.buffer)), `tensor ${i} exp_avg_sq`).toBe(true);
          expect(Buffer.from(t.bf16.buffer).equals(Buffer.from(want.bf16.buffer)), `tensor ${i} bf16`).toBe(true);
        });
      }
    });

    it('rejects a 0 step, bad betas, mismatched buffers and unknown builds with clear errors', () => {
      const { nat } = makeTensors();
      expect(() => ops().adamw({ device, tensors: nat, lr: 1e-3, step: 0 })).toThrow(/1-based/);
      expect(() => ops().adamw({ device, tensors: nat, lr: 1e-3, beta1: 1, step: 1 })).toThrow(/betas/);
      expect(() => ops().adamw({ device, tensors: [{ ...nat[0]!, grad: new Float32Array(3) }], lr: 1e-3, step: 1 })).toThrow(/expected 5/);
      expect(() => ops().adamw({ device, tensors: nat, lr: 1e-3, step: 1, impl: 'sse' })).toThrow(/impl must be one of/);
    });
  });

  // ---- LoRA products ------------------------------------------------------------------------------------------------
  describe('LoRA products of one adapted linear', () => {
    // Odd sizes: partial tiles of the GEMMs in every dimension. The GPU trainer rounds x, dy, A, B and x·Aᵀ (and
    // s·dy·B) to BF16 before each GEMM: the reference rounds the same operands (`op`) and the bounds add one BF16 ulp
    // (2^-8) of each rounded intermediate; FP32 accumulation of ≤ 70 products is ≤ 1e-5 of Σ|terms| on both.
    const T = 37, IN = 70, OUT = 45, RK = 5, S = 1.75;
    const ULP = cpu ? 0 : 2 ** -8;
    const FP32_SUM = 1e-5;
    const op = (x: ArrayLike<number>) => (cpu ? Float64Array.from(x) : bfVals(bfBits(x)));
    const abs = (v: ArrayLike<number>) => Float64Array.from(v, Math.abs);
    /** [M, N] = a [M, K] · b [K, N] (ta/tb: stored transposed), and Σ|a·b| per element. */
    function matmul(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, ta = false, tb = false) {
      const c = new Float64Array(M * N), mag = new Float64Array(M * N);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          let s = 0, sa = 0;
          for (let k = 0; k < K; k++) {
            const p = (ta ? a[k * M + i]! : a[i * K + k]!) * (tb ? b[j * K + k]! : b[k * N + j]!);
            s += p;
            sa += Math.abs(p);
          }
          c[i * N + j] = s;
          mag[i * N + j] = sa;
        }
      return { c, mag };
    }
    function within(what: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>) {
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const r = Math.abs(got[i]! - want[i]!) / (bound[i]! + 1e-30);
        if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
      }
      expect(got.length, what).toBe(want.length);
      expect(worst, tag(`${device} ${what}: worst error / bound`)).toBeLessThanOrEqual(1);
      return worst;
    }

    it('forward: y += s·(x·Aᵀ)·Bᵀ and xa = x·Aᵀ; the float64 reference of the math agrees', () => {
      const x = ref.f32(rnd(T * IN)), A = ref.f32(rnd(RK * IN, 0.2)), B = ref.f32(rnd(OUT * RK, 0.2)), y0 = ref.f32(rnd(T * OUT));
      const y = Float32Array.from(y0), xa = new Float32Array(T * RK);
      ops().loraForward({ device, rows: T, in: IN, out: OUT, rank: RK, scale: S, x, A, B, xa, y });
      const xaRef = matmul(op(x), op(A), T, IN, RK, false, true);
      within('xa', xa, xaRef.c, Float64Array.from(xaRef.mag, (m) => FP32_SUM * m + 1e-12));
      const up = matmul(op(xaRef.c), op(B), T, RK, OUT, false, true);
      // A flip of xa's rounding (one BF16 ulp) times |B|, plus the FP32 sums of both products and of y0 + s·up.
      const flip = matmul(abs(xaRef.c), abs(op(B)), T, RK, OUT, false, true);
      const want = Float64Array.from(y0, (v, i) => v + S * up.c[i]!);
      within('y', y, want, Float64Array.from(want, (_, i) => S * (ULP * flip.c[i]! + FP32_SUM * (up.mag[i]! + flip.c[i]!)) + 1e-7 * Math.abs(y0[i]!)));
      if (cpu) close('y − y0 vs ref.loraForward', minus(y, y0), ref.loraForward(ref.f64(x), ref.f64(A), ref.f64(B), T, IN, OUT, RK, S), 'fp32');
    });

    it('backward: dA, dB, dx (all +=) match the reference; finite differences agree with the reference', () => {
      const x = ref.f32(rnd(T * IN)), dy = ref.f32(rnd(T * OUT, 0.5)), A = ref.f32(rnd(RK * IN, 0.2)), B = ref.f32(rnd(OUT * RK, 0.2));
      const dA0 = ref.f32(rnd(RK * IN, 0.1)), dB0 = ref.f32(rnd(OUT * RK, 0.1)), dx0 = ref.f32(rnd(T * IN, 0.1));
      const dA = Float32Array.from(dA0), dB = Float32Array.from(dB0), dx = Float32Array.from(dx0);
      ops().loraBackward({ device, rows: T, in: IN, out: OUT, rank: RK, scale: S, dy, x, A, B, dA, dB, dx });
      const xo = op(x), dyo = op(dy), Ao = op(A), Bo = op(B);
      const xa = matmul(xo, Ao, T, IN, RK, false, true); // [T, r]
      const dxa = matmul(dyo, Bo, T, OUT, RK); // [T, r] (× s)
      const xab = op(xa.c), dxab = op(Float64Array.from(dxa.c, (v) => S * v));
      // dB = s·dyᵀ·xa: a flipped xa element moves one term by an ulp of |xa|; the += adds one FP32 rounding.
      const gB = matmul(dyo, xab, OUT, T, RK, true, false), gBflip = matmul(abs(dyo), abs(xa.c), OUT, T, RK, true, false);
      within('dB', minus(dB, dB0), Float64Array.from(gB.c, (v) => S * v), Float64Array.from(gB.c, (_, i) => S * (ULP * gBflip.c[i]! + FP32_SUM * gB.mag[i]!) + 1e-7 * Math.abs(dB0[i]!) + 1e-12));
      // dA = (s·dy·B)ᵀ·x and dx = (s·dy·B)·A: a flipped dxa element, plus FP32 sums.
      const gA = matmul(dxab, xo, RK, T, IN, true, false), gAflip = matmul(abs(dxab), abs(xo), RK, T, IN, true, false);
      within('dA', minus(dA, dA0), gA.c, Float64Array.from(gA.c, (_, i) => (ULP + FP32_SUM) * gAflip.c[i]! + 1e-7 * Math.abs(dA0[i]!) + 1e-12));
      const gx = matmul(dxab, Ao, T, RK, IN), gxflip = matmul(abs(dxab), abs(Ao), T, RK, IN);
      const dxBound = Float64Array.from(gx.c, (_, i) => (ULP + FP32_SUM) * gxflip.c[i]! + 1e-7 * Math.abs(dx0[i]!) + 1e-12);
      within('dx', minus(dx, dx0), gx.c, dxBound);
      if (!cpu) {
        // The bounds are tight enough to see the BF16 rounding: dx from unrounded operands falls outside them.
        const exact = ref.loraBackward(ref.f64(dy), ref.f64(x), ref.f64(A), ref.f64(B), T, IN, OUT, RK, S);
        let w = 0;
        for (let i = 0; i < exact.dx.length; i++) w = Math.max(w, Math.abs(dx[i]! - dx0[i]! - exact.dx[i]!) / dxBound[i]!);
        expect(w, tag('dx vs an unrounded reference: worst error / bound')).toBeGreaterThan(1);
      }
      // The float64 reference of the math against finite differences, on a small shape.
      const n = 6, i = 12, o = 10, r = 4;
      const xs = rnd(n * i), As = rnd(r * i), Bs = rnd(o * r), dys = rnd(n * o);
      const want = ref.loraBackward(dys, xs, As, Bs, n, i, o, r, S);
      const L = (xx: Float64Array, AA: Float64Array, BB: Float64Array) => ref.dot(dys, ref.loraForward(xx, AA, BB, n, i, o, r, S));
      close('ref dA vs fd', want.dA, ref.finiteDiff((v) => L(xs, v, Bs), Float64Array.from(As)), 'fd64');
      close('ref dB vs fd', want.dB, ref.finiteDiff((v) => L(xs, As, v), Float64Array.from(Bs)), 'fd64');
      close('ref dx vs fd', want.dx, ref.finiteDiff((v) => L(v, As, Bs), Float64Array.from(xs)), 'fd64');
    });
  });

  // ---- loss rows ----------------------------------------------------------------------------------------------------
  describe('loss rows', () => {
    it('gather and scatter move exactly the rows asked for; bad rows are errors', () => {
      const Tn = 23, C = 19;
      const src = ref.f32(rnd(Tn * C));
      const rows = Int32Array.from([5, 0, 22, 9, 13, 1]);
      const got = new Float32Array(rows.length * C);
      ops().gatherRows({ device, src, srcRows: Tn, rows, dim: C, dst: got });
      expect(Array.from(got)).toEqual(Array.from(rows).flatMap((r) => Array.from(src.subarray(r * C, (r + 1) * C))));
      const dst = ref.f32(rnd(Tn * C)), want = Float32Array.from(dst);
      const vals = ref.f32(rnd(rows.length * C));
      ops().scatterRows({ device, src: vals, rows, dim: C, dst, dstRows: Tn });
      rows.forEach((r, i) => want.set(vals.subarray(i * C, (i + 1) * C), r * C));
      expect(Array.from(dst)).toEqual(Array.from(want));
      expect(() => ops().gatherRows({ device, src, srcRows: Tn, rows: Int32Array.from([23]), dim: C, dst: new Float32Array(C) })).toThrow(/row 23 outside \[0, 23\)/);
      expect(() => ops().scatterRows({ device, src: vals.subarray(0, 2 * C), rows: Int32Array.from([4, 4]), dim: C, dst, dstRows: Tn })).toThrow(/appears twice/);
    });
  });
});

// The CPU's measured ceilings (native/binding/cpu_probes.cpp) feed the benchmarks' rooflines.
describe.skipIf(!cpu)('CPU ceilings', () => {
  it('measures the arithmetic peak and the read bandwidth; bad arguments are errors', () => {
    expect(native().cpuPeakFlops('fma-f32', 0.05)).toBeGreaterThan(1e9);
    expect(() => native().cpuPeakFlops('nope' as 'fma-f32', 0.05)).toThrow(/unknown kind/);
    if (!native().cpuFeatures().avx512bf16) expect(() => native().cpuPeakFlops('dot-bf16', 0.05)).toThrow(/no instructions/);
    if (native().cpuFeatures().amxBf16) expect(native().cpuPeakFlops('amx-bf16', 0.05)).toBeGreaterThan(1e10);
    else expect(() => native().cpuPeakFlops('amx-bf16', 0.05)).toThrow(/no instructions/);
    expect(native().cpuReadBandwidth(1 << 22, 0.02)).toBeGreaterThan(1e8);
    expect(() => native().cpuReadBandwidth(10, 0.02)).toThrow(/bytes must be/);
  });
});
