// A fixed batch overfits: 30 optimizer steps with a positive advantage on one completion raise its log-probability
// steadily (LoRA on every module kind, and full fine-tune), while a negative advantage lowers another's. The sft loss
// through the run's engine imitates a fixed batch of demonstrations: cross-entropy down, token accuracy up.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TrainerEngine, type TrainerEngineOptions } from '../lib/engine/trainer-engine.ts';
import { demonstrations, sftPolicy, sftSteps } from './sft-helpers.ts';
import { randomBatch, tinyModel } from './train-helpers.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-overfit-');

const sum = (a: Float32Array) => a.reduce((x, y) => x + y, 0);

describe.each([
  ['LoRA r=8 on all modules', { mode: 'lora', lora: { r: 8, loraAlpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'], useRslora: false, seed: 2 }, optimizer: { learningRate: 3e-3, schedule: 'constant' } }],
  ['full fine-tune', { mode: 'full', optimizer: { learningRate: 1e-3, schedule: 'constant' } }],
] as const)('%s', (_label, opts) => {
  it('30 on-policy steps raise the rewarded completion and lower the penalised one, step after step', async () => {
    const model = await tinyModel(dir, opts.mode, 'bf16');
    const t = await TrainerEngine.create(model, opts as TrainerEngineOptions);
    const b = { ...randomBatch(31, 2), advantages: [1, -1] };
    const up: number[] = [], down: number[] = [];
    for (let s = 0; s < 30; s++) {
      // On-policy (no old log-probs: ratio 1, nothing clipped), DAPO normalisation, as TRL with num_iterations = 1.
      const r = await t.accumulate(b);
      up.push(sum(r.logprobs[0]));
      down.push(sum(r.logprobs[1]));
      const st = await t.step();
      expect(st.skipped).toBe(false);
    }
    const final = await t.computeLogprobs(b.sequences, b.completionMasks);
    up.push(sum(final.logprobs[0]));
    down.push(sum(final.logprobs[1]));
    // Steadily: every step moves the rewarded completion up (Adam steps are small, so no overshoot on this batch).
    for (let s = 1; s < up.length; s++) expect(up[s], `step ${s}: ${up[s - 1]} → ${up[s]}`).toBeGreaterThan(up[s - 1]);
    // Substantially: from ~ −6 nats per token (uniform over 512 ids) to a likely completion.
    expect(up[30] - up[0]).toBeGreaterThan(5);
    expect(down[30]).toBeLessThan(down[0] - 1);
  });
});

describe('sft on demonstrations (the run engine, CPU trainer)', () => {
  it('10 steps lower the cross-entropy step after step and raise the token accuracy', async () => {
    const policy = await sftPolicy(dir, 'cpu');
    const { loss, accuracy } = await sftSteps(policy.engine, demonstrations(7, 3), 10);
    for (let s = 1; s < loss.length; s++) expect(loss[s], `step ${s}: ${loss[s - 1]} → ${loss[s]}`).toBeLessThan(loss[s - 1]);
    // From ~ln 512 ≈ 6.2 nats per token (a random model) to a likely completion; accuracy from ~0 to most tokens.
    expect(loss[0]).toBeGreaterThan(5);
    expect(loss[10]).toBeLessThan(loss[0] - 3);
    expect(accuracy[10]).toBeGreaterThan(accuracy[0] + 0.5);
  });
});
