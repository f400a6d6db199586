// The sampler's token choice (native/model/sampler.cpp) against the float64 reference (test/ref/sampler-ref.ts):
// repetition penalty, temperature, top-k, top-p, min-p, the action mask, the draw and every returned log-prob.
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { refDistribution, refLogSoftmaxAt, refPick, type RefParams } from './ref/sampler-ref.ts';

const ops = () => native().samplerOps;

function randomLogits(V: number, seed: number, scale = 3): Float32Array {
  const r = mulberry32(seed);
  // Normal-ish (sum of uniforms) so the distribution has a head and a long tail, like real logits.
  return Float32Array.from({ length: V }, () => (r() + r() + r() - 1.5) * scale);
}

function randomSubset(V: number, n: number, seed: number): number[] {
  const r = mulberry32(seed);
  const s = new Set<number>();
  while (s.size < n) s.add(Math.floor(r() * V));
  return [...s].sort((a, b) => a - b);
}

const CASES: [string, RefParams][] = [
  ['plain T=1', {}],
  ['temperature 0.7', { temperature: 0.7 }],
  ['temperature 1.6', { temperature: 1.6 }],
  ['top-k 1', { topK: 1 }],
  ['top-k 20', { topK: 20, temperature: 0.9 }],
  ['top-p 0.9', { topP: 0.9 }],
  ['top-p 0.3', { topP: 0.3, temperature: 1.3 }],
  ['min-p 0.15', { minP: 0.15 }],
  ['rep penalty 1.3', { repetitionPenalty: 1.3 }],
  ['rep penalty 0.8', { repetitionPenalty: 0.8, temperature: 0.5 }],
  ['LFM2 recommended', { temperature: 0.3, minP: 0.15, repetitionPenalty: 1.05 }],
  ['everything', { temperature: 0.8, topK: 50, topP: 0.85, minP: 0.05, repetitionPenalty: 1.2 }],
  ['greedy', { temperature: 0 }],
  ['greedy + penalty', { temperature: 0, repetitionPenalty: 1.5 }],
];

// Both sides compute in float64 from the same float32 logits; only exp/log rounding (≤ a few ulp) and summation
// order differ, so kept sets must match exactly and probabilities to 1e-12.
describe('distribution == float64 reference', () => {
  it.each(CASES)('%s', (_name, p) => {
    for (let trial = 0; trial < 6; trial++) {
      const V = 300 + trial * 37;
      const logits = randomLogits(V, 1000 + trial);
      const seen = randomSubset(V, 25, 50 + trial);
      const allowed = trial % 2 === 1 ? randomSubset(V, 40, 70 + trial) : undefined;
      const got = ops().distribution(logits, p, Int32Array.from(seen), allowed ? Int32Array.from(allowed) : null);
      const want = refDistribution(logits, p, seen, allowed);
      expect([...got.ids]).toEqual(want.ids);
      for (let i = 0; i < want.probs.length; i++) expect(Math.abs(got.probs[i] - want.probs[i])).toBeLessThan(1e-12);
      if (p.temperature !== 0) {
        // the filters must actually bite where they are on (guards against a test that compares two no-ops)
        if (p.topK === 1) expect(want.ids.length).toBe(1);
        if (p.topP !== undefined || p.minP !== undefined) expect(want.ids.length).toBeLessThan((allowed ?? logits).length);
      }
    }
  });
});

describe('choose == reference pick and log-probs', () => {
  it.each(CASES)('%s', (_name, p) => {
    const r = mulberry32(9);
    for (let trial = 0; trial < 20; trial++) {
      const V = 257;
      const logits = randomLogits(V, 2000 + trial);
      const seen = randomSubset(V, 10, 300 + trial);
      const allowed = trial % 3 === 0 ? randomSubset(V, 12, 400 + trial) : undefined;
      const u = r();
      const got = ops().choose(logits, p, Int32Array.from(seen), allowed ? Int32Array.from(allowed) : null, u);
      const dist = refDistribution(logits, p, seen, allowed);
      const pick = refPick(dist, u);
      expect(got.token).toBe(pick.token);
      // Returned as float32: compare at float32 resolution of values of size ≤ ~20 (2e-6 absolute).
      expect(got.sampleLogprob).toBeCloseTo(Math.log(pick.q), 5);
      expect(got.logprob).toBeCloseTo(refLogSoftmaxAt(logits, pick.token, 1), 5);
      const t = p.temperature ?? 1;
      expect(got.tempLogprob).toBeCloseTo(refLogSoftmaxAt(logits, pick.token, t === 0 ? 1 : t), 5);
      expect(got.maskedLogprob).toBeCloseTo(refLogSoftmaxAt(logits, pick.token, 1, allowed), 5);
      if (allowed) expect(allowed).toContain(got.token);
    }
  });
});

describe('random stream', () => {
  it('is deterministic, distinct per (seed, sequence, step) and uniform', () => {
    const u = ops().uniform;
    expect(u(1, 2, 3)).toBe(u(1, 2, 3));
    expect(u(1, 2, 3)).not.toBe(u(1, 2, 4));
    expect(u(1, 2, 3)).not.toBe(u(1, 3, 3));
    expect(u(1, 2, 3)).not.toBe(u(2, 2, 3));
    // 10 equal bins over 20 000 draws: chi-square with 9 degrees of freedom; 27.9 is the 0.001 critical value.
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const x = u(7, i % 100, Math.floor(i / 100));
      expect(x >= 0 && x < 1).toBe(true);
      bins[Math.floor(x * 10)]++;
    }
    const chi2 = bins.reduce((a, c) => a + (c - 2000) ** 2 / 2000, 0);
    expect(chi2).toBeLessThan(27.9);
  });
});

describe('bad arguments', () => {
  const logits = randomLogits(50, 1);
  it.each([
    [{ temperature: -1 }, /temperature/],
    [{ topP: 0 }, /topP/],
    [{ topP: 1.5 }, /topP/],
    [{ minP: 1 }, /minP/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty/],
    [{ topK: -2 }, /topK/],
  ])('%o', (p, re) => {
    expect(() => ops().distribution(logits, p)).toThrow(re);
  });
  it('rejects unsorted or out-of-range allowed ids', () => {
    expect(() => ops().distribution(logits, {}, null, Int32Array.from([3, 2]))).toThrow(/ascending/);
    expect(() => ops().distribution(logits, {}, null, Int32Array.from([60]))).toThrow(/ascending/);
  });
});
