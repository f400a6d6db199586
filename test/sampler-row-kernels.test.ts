// Token choice through the vectorised row kernels (native/model/sampler_row_avx2.cpp, used when the CPU has AVX2+FMA)
// and through the portable ones (sampler_row.cpp), both against the float64 reference (test/ref/sampler-ref.ts), on
// fresh random rows: the LFM2 vocabulary size (65,536), lengths that leave partial 8-lane and 64-entry blocks, and
// rows holding −inf logits (masked tokens, which must never be drawn).
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import { refDistribution, refLogSoftmaxAt, type RefParams } from './ref/sampler-ref.ts';
import { freshRandom, randn } from './util/random.ts';

const ops = () => native().samplerOps;
const { rand, tag } = freshRandom();

function row(V: number, withMasked: boolean): Float32Array {
  const x = Float32Array.from({ length: V }, () => 2.5 * randn(rand));
  if (withMasked) for (let k = 0; k < Math.max(1, V >> 5); k++) x[Math.floor(rand() * V)] = -Infinity;
  return x;
}

function subset(V: number, n: number): number[] {
  const s = new Set<number>();
  while (s.size < Math.min(n, V)) s.add(Math.floor(rand() * V));
  return [...s].sort((a, b) => a - b);
}

const CASES: [string, RefParams][] = [
  ['T=1', {}],
  ['T=0.6', { temperature: 0.6 }],
  ['T=1.7 + penalty 1.3', { temperature: 1.7, repetitionPenalty: 1.3 }],
  ['greedy + penalty 0.8', { temperature: 0, repetitionPenalty: 0.8 }],
];

afterAll(() => ops().setPortableKernels(false));

describe.each([
  ['dispatched kernels', false],
  ['portable kernels', true],
])('%s', (_label, portable) => {
  it.each(CASES)('%s: token and log-probs match the float64 reference', (_name, p) => {
    ops().setPortableKernels(portable);
    for (const [V, masked, constrained] of [
      [65536, false, false],
      [65536, true, false],
      [1000, true, true],
      [67, false, false],
      [1003, true, false],
      [7, false, true],
    ] as const) {
      const logits = row(V, masked);
      const seen = subset(V, 40);
      const allowed = constrained ? subset(V, Math.max(3, V >> 2)).filter((i) => logits[i] !== -Infinity) : undefined;
      const u = rand();
      const got = ops().choose(logits, p, Int32Array.from(seen), allowed ? Int32Array.from(allowed) : null, u);
      const dist = refDistribution(logits, p, seen, allowed);
      // FP32 exp (≤ 2 ulp per weight) moves each cumulative boundary by ≲ 1e-6 of the total mass, so the chosen token's
      // reference interval [cum before, cum after) must contain u up to that margin (a wrong token misses by far more
      // for all but a ~1e-6 fraction of draws).
      const k = dist.ids.indexOf(got.token);
      expect(k, tag(`${V}: token ${got.token} is kept`)).toBeGreaterThanOrEqual(0);
      expect(logits[got.token], tag('a −inf token was drawn')).not.toBe(-Infinity);
      let before = 0;
      for (let i = 0; i < k; i++) before += dist.probs[i];
      if (p.temperature !== 0) {
        expect(u, tag(`${V}: u below the token's interval`)).toBeGreaterThanOrEqual(before - 1e-6);
        expect(u, tag(`${V}: u above the token's interval`)).toBeLessThan(before + dist.probs[k] + 1e-6);
        // log q of O(10) size returned as float32: 2e-5 absolute covers the FP32 result and the exp rounding.
        expect(Math.abs(got.sampleLogprob - Math.log(dist.probs[k])), tag('sampleLogprob')).toBeLessThan(2e-5);
      }
      const t = p.temperature || 1;
      expect(Math.abs(got.logprob - refLogSoftmaxAt(logits, got.token, 1)), tag('logprob')).toBeLessThan(2e-5);
      expect(Math.abs(got.tempLogprob - refLogSoftmaxAt(logits, got.token, t)), tag('tempLogprob')).toBeLessThan(2e-5);
      if (allowed)
        expect(Math.abs(got.maskedLogprob - refLogSoftmaxAt(logits, got.token, 1, allowed)), tag('maskedLogprob')).toBeLessThan(2e-5);
    }
  });
});

it('dispatched and portable kernels choose the same tokens over many draws', () => {
  const V = 4099;
  const logits = row(V, true);
  const pick = (portable: boolean) => {
    ops().setPortableKernels(portable);
    return Array.from({ length: 200 }, (_, i) => ops().choose(logits, { temperature: 0.9 }, null, null, (i + 0.37) / 200).token);
  };
  const a = pick(false), b = pick(true);
  // The two exps differ by a few ulp per weight, which moves each cumulative boundary by ~1e-7 of the mass: a draw
  // may only switch between two tokens that are neighbours in the kept (non-masked, ascending id) order, and rarely.
  const kept = [...logits.keys()].filter((i) => logits[i] !== -Infinity);
  const differ = a.map((t, i) => [t, b[i]]).filter(([x, y]) => x !== y);
  for (const [x, y] of differ) expect(Math.abs(kept.indexOf(x) - kept.indexOf(y)), tag('switched tokens are neighbours')).toBe(1);
  expect(differ.length, tag('draws that differ')).toBeLessThanOrEqual(5);
  ops().setPortableKernels(false);
});

// Filters over a whole LFM2-size row: top-k is a heap selection, top-p / min-p look only at tokens above a logit
// threshold, and top-p without top-k takes the row's mass from the FP32 kernel (relative error ~1e-7: the nucleus edge
// could move only for a cumulative mass within ~1e-7 of top_p, which fresh random rows essentially never hit).
describe('filters over V = 65,536 == float64 reference', () => {
  const FILTERS: [string, RefParams][] = [
    ['top-k 50', { topK: 50 }],
    ['top-p 0.9', { topP: 0.9 }],
    ['top-p 0.5, T=0.7, penalty 1.2', { topP: 0.5, temperature: 0.7, repetitionPenalty: 1.2 }],
    ['min-p 0.1', { minP: 0.1 }],
    ['top-k 200 + top-p 0.8 + min-p 0.05', { topK: 200, topP: 0.8, minP: 0.05 }],
  ];
  it.each(FILTERS)('%s', (_name, p) => {
    const V = 65536;
    const logits = row(V, true);
    const seen = subset(V, 300);
    const got = ops().distribution(logits, p, Int32Array.from(seen), null);
    const want = refDistribution(logits, p, seen);
    expect(want.ids.length, tag('the filter bites')).toBeLessThan(V / 2);
    expect([...got.ids], tag('kept ids')).toEqual(want.ids);
    // Same float64 weights up to exp/log rounding and summation order.
    for (let i = 0; i < want.probs.length; i++) expect(Math.abs(got.probs[i] - want.probs[i]), tag('q')).toBeLessThan(1e-12);
    const u = rand();
    const c = ops().choose(logits, p, Int32Array.from(seen), null, u);
    let cum = 0, pick = want.ids[want.ids.length - 1];
    for (let i = 0; i < want.ids.length; i++) if ((cum += want.probs[i]) > u) { pick = want.ids[i]; break; }
    expect(c.token, tag('drawn token')).toBe(pick);
  });
});
