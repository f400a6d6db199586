// LR schedules (native/model/lr_schedule) against float64 references of transformers' get_scheduler lambdas.
// LR multipliers are computed in double on both sides → rtol 1e-12. (The AdamW step itself is an op: test/ops.test.ts.)
import { describe, expect, it } from 'vitest';
import { native } from '../lib/engine/native.ts';
import type { LrScheduleKind } from '../lib/engine/native-types.ts';
import * as ref from './ref/train-ref.ts';
import { freshRandom } from './util/random.ts';

const ops = () => native().train;
const { rand: R, tag } = freshRandom();

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
