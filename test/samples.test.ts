import { describe, it, expect } from 'vitest';
import { buildSamples, completionTokens, packMicroBatches, packSamples, sampleTokens, type EpisodeRecord } from '../lib/rl/samples.ts';

const step = (p: number[], c: number[], truncated = false) => ({
  promptIds: p,
  completionIds: c,
  oldLogprobs: c.map((_, i) => -0.1 * (i + 1)),
  truncated,
});

const episodes: EpisodeRecord[] = [
  { advantage: 1.5, steps: [step([1, 6, 10], [20, 21, 7]), step([1, 6, 11, 12], [22, 7])] },
  { advantage: 0, steps: [step([1, 6, 10], [23, 7])] },
  { advantage: -0.5, steps: [step([1, 6, 10], [24, 25, 26], true)] },
];

describe('samples', () => {
  it('one sample per (episode, step), each with its episode advantage', () => {
    const s = buildSamples(episodes, { dropZeroAdvantage: false, maskTruncated: false });
    expect(s.map((x) => [x.episode, x.step, x.advantage])).toEqual([[0, 0, 1.5], [0, 1, 1.5], [1, 0, 0], [2, 0, -0.5]]);
    // Each step keeps its own prompt (no concatenation of earlier steps).
    expect(s[1].promptIds).toEqual([1, 6, 11, 12]);
    expect(s[1].completionIds).toEqual([22, 7]);
    expect(completionTokens(s)).toBe(3 + 2 + 2 + 3);
  });

  it('drops zero-advantage and truncated samples on request', () => {
    const s = buildSamples(episodes, { dropZeroAdvantage: true, maskTruncated: true });
    expect(s.map((x) => [x.episode, x.step])).toEqual([[0, 0], [0, 1]]);
  });

  it('rejects inconsistent records', () => {
    const bad = (st: object) => () => buildSamples([{ advantage: 1, steps: [st as never] }], { dropZeroAdvantage: false, maskTruncated: false });
    expect(bad({ promptIds: [1], completionIds: [2, 3], oldLogprobs: [-1], truncated: false })).toThrow(/2 completion tokens but 1 log-probs/);
    expect(bad({ promptIds: [], completionIds: [2], oldLogprobs: [-1], truncated: false })).toThrow(/empty prompt/);
    expect(bad({ promptIds: [1], completionIds: [2], oldLogprobs: [0.5], truncated: false })).toThrow(/log-prob 0 is 0.5/);
    expect(() => buildSamples([{ advantage: NaN, steps: [] }], { dropZeroAdvantage: false, maskTruncated: false })).toThrow(/advantage is NaN/);
  });
});

describe('micro-batch packing', () => {
  const mk = (len: number, i: number) => ({
    episode: i, step: 0, promptIds: Array(len - 1).fill(5), completionIds: [7], oldLogprobs: [-1], advantage: 1, truncated: false,
  });

  it('packs by token budget, first-fit decreasing, hand-computed', () => {
    // Lengths 6, 5, 4, 3, 2 with budget 8 → [6,2], [5,3], [4]. Within a batch the original order is kept.
    const samples = [6, 5, 4, 3, 2].map(mk);
    const batches = packMicroBatches(samples, 8);
    expect(batches.map((b) => b.map((s) => sampleTokens(s)))).toEqual([[6, 2], [5, 3], [4]]);
  });

  it('every sample lands exactly once, no batch over budget unless a single oversize sample', () => {
    let seed = 5;
    const rand = () => ((seed = (seed * 69069 + 1) >>> 0) / 2 ** 32);
    const samples = Array.from({ length: 60 }, (_, i) => mk(1 + Math.floor(rand() * 120), i));
    const batches = packMicroBatches(samples, 100);
    const seen = batches.flat().map((s) => s.episode).sort((a, b) => a - b);
    expect(seen).toEqual(samples.map((s) => s.episode));
    for (const b of batches) {
      const t = b.reduce((a, s) => a + sampleTokens(s), 0);
      if (b.length > 1) expect(t).toBeLessThanOrEqual(100);
      else if (t > 100) expect(sampleTokens(b[0])).toBeGreaterThan(100);
    }
    expect(() => packMicroBatches(samples, 0)).toThrow(/tokenBudget must be a positive integer/);
  });

  it('flattens a micro-batch into engine arrays', () => {
    const s = buildSamples(episodes.slice(0, 1), { dropZeroAdvantage: false, maskTruncated: false });
    const p = packSamples(s);
    expect([...p.tokens]).toEqual([1, 6, 10, 20, 21, 7, 1, 6, 11, 12, 22, 7]);
    expect([...p.cuSeqlens]).toEqual([0, 6, 12]);
    expect([...p.completionMask]).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
    // Float32 storage: compare with float32 rounding of the hand values.
    expect([...p.oldLogprobs!]).toEqual([0, 0, 0, -0.1, -0.2, -0.1 * 3, 0, 0, 0, 0, -0.1, -0.2].map(Math.fround));
    expect([...p.advantages!]).toEqual([1.5, 1.5]);
    expect(p.refLogprobs).toBeUndefined();
    expect(() => packSamples([])).toThrow(/no samples/);
  });
});
