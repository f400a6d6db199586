import { describe, it, expect } from 'vitest';
import { episodeReward } from '../lib/rl/rewards.ts';

const off = { invalidActionPenalty: 0, stepPenalty: 0 };

describe('episode reward', () => {
  it('is binary success by default', () => {
    expect(episodeReward([{ reward: 0, done: false, actionError: '' }, { reward: 1, done: true, actionError: '' }], off)).toEqual({
      reward: 1, envReward: 1, success: true, invalidActions: 0, steps: 2,
    });
    expect(episodeReward([{ reward: 0, done: true, actionError: '' }], off).reward).toBe(0);
    expect(episodeReward([{ reward: 0, done: false, actionError: 'ValueError: x' }], off).reward).toBe(0);
    // A positive reward without done is not a success (MiniWoB pays only at the end).
    expect(episodeReward([{ reward: 0.5, done: false, actionError: '' }], off).success).toBe(false);
  });

  it('subtracts the shaping penalties when enabled', () => {
    const steps = [
      { reward: 0, done: false, actionError: "ValueError: Could not find element with bid '99'" },
      { reward: 0, done: false, actionError: '' },
      { reward: 1, done: true, actionError: '' },
    ];
    // 1 − 0.25·1 invalid − 0.05·3 steps = 0.6
    expect(episodeReward(steps, { invalidActionPenalty: 0.25, stepPenalty: 0.05 }).reward).toBeCloseTo(0.6, 14);
  });

  it('rejects negative penalties and non-finite rewards', () => {
    expect(() => episodeReward([], { invalidActionPenalty: -1, stepPenalty: 0 })).toThrow(/invalidActionPenalty must be/);
    expect(() => episodeReward([{ reward: NaN, done: true, actionError: '' }], off)).toThrow(/step 0 reward is NaN/);
  });
});
