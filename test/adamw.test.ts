// AdamW (native/model/adamw) and LR schedules (native/model/lr_schedule) against float64 references of
// torch.optim.AdamW + clip_grad_norm_ and transformers' get_scheduler lambdas.
//
// Tolerances: weights are O(1) and each FP32 step rounds them by ≤ 1 ulp (6e-8) plus the FP32 update's own relative
// error (~1e-6 of an update of size ≈ lr = 1e-3), so after 6 steps |Δw| ≤ 6·(1.2e-7 + 1e-9) < 1e-6 → atol 1e-6,
// rtol 1e-6. Moments are short FP32 recurrences whose terms can cancel: each step adds ≤ 1 ulp (6e-8) of the
// largest term, so after 6 steps the absolute error is < 1e-6·scale (scale = max |moment|) → atol 1e-6·scale,
// rtol 1e-5. The global norm is a double sum of
// FP32 squares → rtol 1e-6. LR multipliers are computed in double on both sides → rtol 1e-12.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import type { AdamWTensorArgs, LrScheduleKind } from '../lib/engine/native-types.ts';
import * as ref from './ref/train-ref.ts';
import { freshRandom } from './util/random.ts';

const ops = () => native().train;
const { rand: R, tag } = freshRandom();
const maxAbs = (v: ArrayLike<number>) => Math.max(1e-30, ...Array.from(v, Math.abs));
function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number) {
  const w = ref.worstRatio(got, want, atol, rtol);
  expect(w, tag(`${what}: worst error ratio ${w.toExponential(2)}`)).toBeLessThanOrEqual(1);
}
function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer.slice(0));
  return Uint16Array.from(u, (b) => ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff);
}

const sizes = [5, 10000, 7]; // the large one is split over the thread pool
const decay = [true, false, true];

function makeTensors() {
  const nat: AdamWTensorArgs[] = sizes.map((n, i) => ({
    weight: ref.f32(ref.randn(R, n)), grad: new Float32Array(n), expAvg: new Float32Array(n), expAvgSq: new Float32Array(n),
    bf16: new Uint16Array(n), decay: decay[i],
  }));
  const st: ref.AdamWRefState[] = nat.map((t) => ({ w: ref.f64(t.weight), m: new Float64Array(t.weight.length), v: new Float64Array(t.weight.length) }));
  return { nat, st };
}

describe('AdamW', () => {
  for (const maxGradNorm of [1.0, 0]) {
    it(`matches the float64 reference over 6 steps with a warmup+linear schedule (max_grad_norm ${maxGradNorm})`, () => {
      const { nat, st } = makeTensors();
      const cfg = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, maxGradNorm };
      const w0 = nat.map((t) => Float32Array.from(t.weight));
      for (let step = 1; step <= 6; step++) {
        const lr = ops().lrAt({ kind: 'linear', baseLr: cfg.lr, warmupSteps: 2, totalSteps: 10, step: step - 1 });
        expect(lr).toBeCloseTo(ref.lrRef('linear', cfg.lr, 2, 10, step - 1), 15);
        const grads = sizes.map((n) => ref.f64(ref.f32(ref.randn(R, n, 0.5))));
        nat.forEach((t, i) => t.grad.set(grads[i]));
        const res = ops().adamwStep({ tensors: nat, ...cfg, lr, step });
        const norm = ref.adamwRef(st, grads, { ...cfg, lr }, step, decay);
        expect(res.skipped).toBe(false);
        close(`step ${step} grad norm`, [res.gradNorm], [norm], 0, 1e-6);
        if (maxGradNorm > 0) {
          expect(norm, tag('gradients are large enough to be clipped')).toBeGreaterThan(maxGradNorm);
          close('clip coef', [res.clipCoef], [maxGradNorm / (norm + 1e-6)], 0, 1e-6);
        } else expect(res.clipCoef).toBe(1);
      }
      nat.forEach((t, i) => {
        close(`tensor ${i} weight`, t.weight, st[i].w, 1e-6, 1e-6);
        close(`tensor ${i} exp_avg`, t.expAvg, st[i].m, 1e-6 * maxAbs(st[i].m), 1e-5);
        close(`tensor ${i} exp_avg_sq`, t.expAvgSq, st[i].v, 1e-6 * maxAbs(st[i].v), 1e-5);
        expect(Array.from(t.bf16!)).toEqual(Array.from(toBf16(t.weight)));
        // The weights really moved (lr 0 at step 1, then ≈ 1e-3 per step).
        expect(maxAbs(t.weight.map((v, j) => v - w0[i][j]))).toBeGreaterThan(1e-4);
      });
    });
  }

  for (const bad of [NaN, Infinity, -Infinity]) {
    it(`skips the whole step on a ${bad} gradient and writes nothing`, () => {
      const { nat } = makeTensors();
      nat.forEach((t) => t.grad.set(ref.randn(R, t.grad.length)));
      ops().adamwStep({ tensors: nat, lr: 1e-3, step: 1 }); // non-trivial moments first
      const before = nat.map((t) => [t.weight, t.expAvg, t.expAvgSq, t.bf16!].map((a) => Array.from(a)));
      nat.forEach((t) => t.grad.set(ref.randn(R, t.grad.length)));
      nat[1].grad[1234] = bad;
      const res = ops().adamwStep({ tensors: nat, lr: 1e-3, step: 2 });
      expect(res.skipped).toBe(true);
      expect(res.badTensor).toBe(1);
      expect(Number.isFinite(res.gradNorm)).toBe(false);
      nat.forEach((t, i) => expect([t.weight, t.expAvg, t.expAvgSq, t.bf16!].map((a) => Array.from(a))).toEqual(before[i]));
    });
  }

  it('every element kernel the CPU has gives the portable loop\'s bits (weights, moments, BF16 copies)', () => {
    const isas = ['portable', ...(native().cpuFeatures().avx512f ? ['avx512' as const] : [])] as const;
    // Odd sizes: vector bodies and scalar tails; one tensor large enough to split over the pool.
    const n = [3, 50_001, 17];
    const base = n.map((k) => ({ w: ref.f32(ref.randn(R, k)), m: ref.f32(ref.randn(R, k, 0.1)), v: ref.f32(ref.randn(R, k, 0.01)).map(Math.abs) }));
    const grads = n.map((k) => ref.f32(ref.randn(R, k, 0.5)));
    const results = isas.map((isa) => {
      const ts: AdamWTensorArgs[] = base.map((b, i) => ({
        weight: b.w.slice(), grad: grads[i]!, expAvg: b.m.slice(), expAvgSq: b.v.slice(), bf16: new Uint16Array(n[i]!), decay: i !== 1,
      }));
      const res = ops().adamwStep({ tensors: ts, lr: 3e-3, weightDecay: 0.1, maxGradNorm: 1, step: 3, isa });
      return { ts, res };
    });
    for (const { ts, res } of results.slice(1)) {
      close('grad norm', [res.gradNorm], [results[0]!.res.gradNorm], 0, 1e-12);
      ts.forEach((t, i) => {
        const want = results[0]!.ts[i]!;
        expect(Buffer.from(t.weight.buffer).equals(Buffer.from(want.weight.buffer)), `tensor ${i} weights`).toBe(true);
        expect(Buffer.from(t.expAvg.buffer).equals(Buffer.from(want.expAvg.buffer)), `tensor ${i} exp_avg`).toBe(true);
        expect(Buffer.from(t.expAvgSq.buffer).equals(Buffer.from(want.expAvgSq.buffer)), `tensor ${i} exp_avg_sq`).toBe(true);
        expect(Buffer.from(t.bf16!.buffer).equals(Buffer.from(want.bf16!.buffer)), `tensor ${i} bf16`).toBe(true);
      });
    }
    expect(() => ops().adamwStep({ tensors: results[0]!.ts, lr: 1e-3, step: 1, isa: 'sse' as 'avx2' })).toThrow(/'isa' must be one of/);
  });

  it('rejects a 0 step, bad betas and mismatched buffers with clear errors', () => {
    const { nat } = makeTensors();
    expect(() => ops().adamwStep({ tensors: nat, lr: 1e-3, step: 0 })).toThrow(/1-based/);
    expect(() => ops().adamwStep({ tensors: nat, lr: 1e-3, beta1: 1, step: 1 })).toThrow(/betas/);
    expect(() => ops().adamwStep({ tensors: [{ ...nat[0], grad: new Float32Array(3) }], lr: 1e-3, step: 1 })).toThrow(/expected 5/);
  });
});

describe('learning-rate schedules (HF get_scheduler semantics)', () => {
  const kinds: LrScheduleKind[] = ['constant', 'constant_with_warmup', 'linear', 'cosine'];
  for (const kind of kinds) {
    it(`${kind}: every step of a 10-warmup, 100-step run matches the reference`, () => {
      const base = 5e-6 * (1 + R());
      for (let step = 0; step <= 103; step++) {
        const got = ops().lrAt({ kind, baseLr: base, warmupSteps: 10, totalSteps: 100, step });
        const want = ref.lrRef(kind, base, 10, 100, step);
        expect(Math.abs(got - want), tag(`${kind} step ${step}`)).toBeLessThanOrEqual(1e-12 * base);
      }
    });
  }
  it('reproduces the HF landmarks: lr 0 on the first warmup step, peak after warmup, half way, zero at the end', () => {
    const lr = (kind: LrScheduleKind, step: number) => ops().lrAt({ kind, baseLr: 1, warmupSteps: 10, totalSteps: 100, step });
    expect(lr('linear', 0)).toBe(0);
    expect(lr('linear', 5)).toBeCloseTo(0.5, 12);
    expect(lr('linear', 10)).toBeCloseTo(1, 12);
    expect(lr('linear', 55)).toBeCloseTo(0.5, 12);
    expect(lr('linear', 100)).toBe(0);
    expect(lr('cosine', 55)).toBeCloseTo(0.5, 12);
    expect(lr('cosine', 100)).toBeCloseTo(0, 12);
    expect(lr('constant', 0)).toBe(1);
    expect(lr('constant_with_warmup', 3)).toBeCloseTo(0.3, 12);
  });
  it('rejects an unknown schedule', () => {
    expect(() => ops().lrAt({ kind: 'polynomial' as LrScheduleKind, baseLr: 1, warmupSteps: 0, totalSteps: 1, step: 0 })).toThrow(/unknown lr schedule/);
  });
});
