import { describe, it, expect } from 'vitest';
import { besselStd, groupAdvantages, STD_EPS } from '../lib/rl/advantages.ts';

// Float64 reference written independently of the implementation: explicit loops, explicit n − 1.
function refAdvantages(r: number[], g: number, scale: 'group' | 'batch' | 'none'): number[] {
  const std = (xs: number[]) => {
    let m = 0;
    for (const x of xs) m += x;
    m /= xs.length;
    let v = 0;
    for (const x of xs) v += (x - m) ** 2;
    return Math.sqrt(v / (xs.length - 1));
  };
  const out: number[] = [];
  for (let s = 0; s < r.length; s += g) {
    const grp = r.slice(s, s + g);
    const m = grp.reduce((a, b) => a + b, 0) / g;
    const d = scale === 'group' ? std(grp) + 1e-4 : scale === 'batch' ? std(r) + 1e-4 : 1;
    for (const x of grp) out.push((x - m) / d);
  }
  return out;
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('group advantages', () => {
  it('matches the hand-computed example of docs/grpo.md §2.2: G = 4, rewards [1,0,0,0]', () => {
    // mean 0.25, unbiased std sqrt((0.5625 + 3·0.0625)/3) = 0.5 → (1 − 0.25)/0.5001, (0 − 0.25)/0.5001.
    const r = groupAdvantages([1, 0, 0, 0], 4, 'group');
    const d = 0.5 + 1e-4;
    // Tolerance 1e-12: a handful of float64 operations on numbers of order 1.
    expect(r.advantages[0]).toBeCloseTo(0.75 / d, 12);
    for (const a of r.advantages.slice(1)) expect(a).toBeCloseTo(-0.25 / d, 12);
    expect(r.groupMean).toEqual([0.25]);
    expect(r.groupStd[0]).toBeCloseTo(0.5, 14);
    expect(r.zeroStdGroups).toBe(0);
    expect(r.rewardMean).toBe(0.25);
  });

  it('counts zero-variance groups and gives them zero advantage', () => {
    const r = groupAdvantages([1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0], 4, 'group');
    expect(r.advantages.slice(0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(r.zeroStdGroups).toBe(2);
    expect(r.fracRewardZeroStd).toBeCloseTo(2 / 3, 15);
    // Third group [1,0,1,0]: mean 0.5, std sqrt(4·0.25/3) = 0.57735…
    const s = Math.sqrt(1 / 3);
    expect(r.advantages[8]).toBeCloseTo(0.5 / (s + STD_EPS), 12);
    expect(r.advantages[9]).toBeCloseTo(-0.5 / (s + STD_EPS), 12);
  });

  it('batch scaling divides by the whole batch std; none only centres', () => {
    const rewards = [1, 0, 0, 0, 1, 1, 0, 1];
    // Batch: mean 0.5, 8 values of ±0.5 → unbiased std sqrt(8·0.25/7).
    const bs = Math.sqrt(2 / 7);
    const b = groupAdvantages(rewards, 4, 'batch');
    expect(b.advantages[0]).toBeCloseTo(0.75 / (bs + STD_EPS), 12);
    expect(b.advantages[4]).toBeCloseTo(0.25 / (bs + STD_EPS), 12);
    expect(b.rewardStd).toBeCloseTo(bs, 14);
    const n = groupAdvantages(rewards, 4, 'none');
    expect(n.advantages).toEqual([0.75, -0.25, -0.25, -0.25, 0.25, 0.25, -0.75, 0.25]);
  });

  it('matches the float64 reference on random rewards', () => {
    const rand = rng(7);
    for (const scale of ['group', 'batch', 'none'] as const) {
      for (const g of [2, 3, 8]) {
        const r = Array.from({ length: g * 5 }, () => rand() * 2 - 0.5);
        const got = groupAdvantages(r, g, scale).advantages;
        const want = refAdvantages(r, g, scale);
        // 1e-10 relative: both are float64 with a different summation order only.
        got.forEach((x, i) => expect(Math.abs(x - want[i])).toBeLessThan(1e-10 * Math.max(1, Math.abs(want[i]))));
      }
    }
  });

  it('advantages of each group sum to zero', () => {
    const rand = rng(3);
    const r = Array.from({ length: 24 }, () => rand());
    const a = groupAdvantages(r, 6, 'group').advantages;
    for (let g = 0; g < 4; g++) expect(Math.abs(a.slice(g * 6, g * 6 + 6).reduce((x, y) => x + y, 0))).toBeLessThan(1e-12);
  });

  it('rejects bad input clearly', () => {
    expect(() => groupAdvantages([1, 0, 1], 2, 'group')).toThrow(/do not form whole groups of 2/);
    expect(() => groupAdvantages([], 2, 'group')).toThrow(/whole groups/);
    expect(() => groupAdvantages([1, 0], 1, 'group')).toThrow(/groupSize must be an integer >= 2/);
    expect(() => groupAdvantages([1, NaN], 2, 'group')).toThrow(/reward 1 is NaN/);
    expect(() => groupAdvantages([1, 0], 2, 'mean' as never)).toThrow(/unknown scale_rewards/);
  });

  it('besselStd uses n − 1', () => {
    expect(besselStd([2, 4])).toBeCloseTo(Math.SQRT2, 15);
    expect(besselStd([5])).toBe(0);
  });
});
