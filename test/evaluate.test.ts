import { describe, it, expect } from 'vitest';
import { wilsonInterval, formatEvalTable, type EvalResult } from '../lib/rl/evaluate.ts';
import { drawTrainGroups, evalSeed, EVAL_SEED_RANGE, generationSeed, mixSeed, TRAIN_SEED_RANGE } from '../lib/rl/seeds.ts';

/** Wilson score interval in float64 straight from the quadratic it solves: |p − p̂| = z·sqrt(p(1−p)/n). */
function wilsonByRoots(k: number, n: number, z: number): [number, number] {
  const ph = k / n;
  // (1 + z²/n) p² − (2p̂ + z²/n) p + p̂² = 0
  const a = 1 + (z * z) / n;
  const b = -(2 * ph + (z * z) / n);
  const c = ph * ph;
  const d = Math.sqrt(b * b - 4 * a * c);
  return [(-b - d) / (2 * a), (-b + d) / (2 * a)];
}

describe('evaluation statistics', () => {
  it('Wilson interval matches published values and the quadratic it solves', () => {
    // Published 95% Wilson intervals (e.g. Newcombe 1998, table I): 5/10 → 0.2366–0.7634, 0/10 → 0–0.2775.
    const half = wilsonInterval(5, 10);
    expect(half.low).toBeCloseTo(0.2366, 4);
    expect(half.high).toBeCloseTo(0.7634, 4);
    const none = wilsonInterval(0, 10);
    expect(none.low).toBe(0);
    expect(none.high).toBeCloseTo(0.2775, 4);
    expect(wilsonInterval(10, 10).low).toBeCloseTo(0.7225, 4);
    // Fresh random (k, n): equal to the roots of the quadratic to float64 rounding (1e-12 absolute).
    let s = 12345;
    for (let i = 0; i < 200; i++) {
      s = mixSeed(s, i);
      const n = 1 + (s % 500);
      const k = mixSeed(s, 7) % (n + 1);
      const w = wilsonInterval(k, n);
      const [lo, hi] = wilsonByRoots(k, n, 1.959963984540054);
      expect(Math.abs(w.low - Math.max(0, lo))).toBeLessThan(1e-12);
      expect(Math.abs(w.high - Math.min(1, hi))).toBeLessThan(1e-12);
      expect(w.low).toBeLessThanOrEqual(k / n);
      expect(w.high).toBeGreaterThanOrEqual(k / n);
    }
    expect(() => wilsonInterval(3, 2)).toThrow(/k must be an integer in \[0, 2\]/);
    expect(() => wilsonInterval(0, 0)).toThrow(/n must be a positive integer/);
  });

  it('training and evaluation seeds never overlap; draws are pure functions of their counters', () => {
    const train = new Set<number>();
    for (let round = 0; round < 200; round++) for (const g of drawTrainGroups(7, round, 4, ['a', 'b', 'c'])) {
      expect(g.seed).toBeGreaterThanOrEqual(TRAIN_SEED_RANGE[0]);
      expect(g.seed).toBeLessThan(TRAIN_SEED_RANGE[1]);
      train.add(g.seed);
    }
    for (let i = 0; i < 500; i++) {
      const e = evalSeed(7, 'click-test', i);
      expect(e).toBeGreaterThanOrEqual(EVAL_SEED_RANGE[0]);
      expect(e).toBeLessThan(EVAL_SEED_RANGE[1]);
      expect(train.has(e)).toBe(false);
    }
    expect(drawTrainGroups(7, 3, 4, ['a', 'b', 'c'])).toEqual(drawTrainGroups(7, 3, 4, ['a', 'b', 'c']));
    expect(drawTrainGroups(7, 3, 4, ['a', 'b', 'c'])).not.toEqual(drawTrainGroups(8, 3, 4, ['a', 'b', 'c']));
    // Tasks are drawn roughly uniformly (each of 3 tasks between 25% and 42% of 800 groups).
    const counts = new Map<string, number>();
    for (let r = 0; r < 200; r++) for (const g of drawTrainGroups(1, r, 4, ['a', 'b', 'c'])) counts.set(g.task, (counts.get(g.task) ?? 0) + 1);
    for (const t of ['a', 'b', 'c']) expect(counts.get(t)! / 800).toBeGreaterThan(0.25);
    expect(generationSeed(1, 'train', 0, 0)).not.toBe(generationSeed(1, 'eval', 0, 0));
  });

  it('formats a table', () => {
    const r: EvalResult = {
      tasks: [{ task: 'click-test', episodes: 10, successes: 5, successRate: 0.5, ci95: wilsonInterval(5, 10), meanSteps: 1.5, meanReward: 0.5 }],
      overall: { episodes: 10, successes: 5, successRate: 0.5, ci95: wilsonInterval(5, 10) },
      seconds: 1,
      episodes: [],
    };
    expect(formatEvalTable(r)).toMatch(/click-test\s+10\s+50\.0%\s+23\.7% – 76\.3%\s+1\.50/);
  });
});
