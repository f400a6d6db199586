// Bad training input is rejected with a clear message before anything changes (weights, gradients, step), and a
// non-finite gradient skips the optimizer step and says which tensor held it.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LfmModel } from '../lib/engine/model.ts';
import { TrainerEngine, type TrainBatch } from '../lib/engine/trainer-engine.ts';
import { differing, randomBatch, snapshot, tinyModel } from './train-helpers.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-train-err-');

let model: LfmModel;
let lora: TrainerEngine;
let full: TrainerEngine;
beforeAll(async () => {
  model = await tinyModel(dir, 'tiny', 'bf16');
  lora = await TrainerEngine.create(model, {
    mode: 'lora',
    lora: { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'in_proj', 'w2'], useRslora: false, seed: 1 },
    optimizer: { learningRate: 1e-2, maxGradNorm: 0 },
  });
  full = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 1e-3 } });
});

/** Runs `bad`, expects it to fail with `msg`, and checks no trainable tensor, gradient or step changed. */
async function rejectsUntouched(t: TrainerEngine, bad: () => Promise<unknown>, msg: RegExp): Promise<void> {
  const before = snapshot(t);
  const step = t.info().step;
  await expect(bad()).rejects.toThrow(msg);
  expect(differing(before, snapshot(t))).toEqual([]);
  expect(t.info().step).toBe(step);
  for (const n of t.native.parameterNames()) expect(t.native.gradient(n).every((g) => g === 0), n).toBe(true);
}

describe('bad batches are rejected before any work', () => {
  const good = randomBatch(1);
  const variants: [string, (b: TrainBatch) => TrainBatch, RegExp][] = [
    ['mask shorter than its sequence', (b) => ({ ...b, completionMasks: [Array.from(b.completionMasks[0]).slice(1), ...b.completionMasks.slice(1)] }), /completionMasks\[0\] has \d+ entries for \d+ tokens/],
    ['fewer masks than sequences', (b) => ({ ...b, completionMasks: b.completionMasks.slice(1) }), /3 sequences but 2 completion masks/],
    ['fewer advantages than sequences', (b) => ({ ...b, advantages: [1, 2] }), /3 sequences but 2 advantages/],
    ['old log-probs of the wrong length', (b) => ({ ...b, oldLogprobs: b.sequences.map((s) => new Array(s.length + 1).fill(-1)) }), /oldLogprobs\[0\] has/],
    ['NaN advantage', (b) => ({ ...b, advantages: [0.5, NaN, 1] }), /advantage of sequence 1 is not finite/],
    ['infinite old log-prob on a completion token', (b) => ({ ...b, oldLogprobs: b.sequences.map((s) => new Array(s.length).fill(-Infinity)) }), /old log-prob at completion token \d+ is not finite/],
    ['mask value other than 0/1', (b) => ({ ...b, completionMasks: b.completionMasks.map((m) => Array.from(m, (v) => v * 0.5)) }), /must be 0 or 1/],
    ['first token marked as completion', (b) => ({ ...b, completionMasks: b.completionMasks.map((m) => [1, ...Array.from(m).slice(1)]) }), /first token is marked as a completion token/],
    ['token outside the vocabulary', (b) => ({ ...b, sequences: [[...b.sequences[0].slice(0, -1), 512], ...b.sequences.slice(1)] }), /token id 512 .* outside the vocabulary/],
    ['empty sequence', (b) => ({ ...b, sequences: [[], ...b.sequences.slice(1)], completionMasks: [[], ...b.completionMasks.slice(1)] }), /sequences\[0\] is empty/],
  ];
  for (const [what, mutate, msg] of variants) {
    it(`${what} (LoRA and full)`, async () => {
      await rejectsUntouched(lora, () => lora.accumulate(mutate(good)), msg);
      await rejectsUntouched(full, () => full.accumulate(mutate(good)), msg);
    });
  }

  it('beta > 0 without reference log-probs', async () => {
    await rejectsUntouched(lora, () => lora.accumulate(good, { beta: 0.1 }), /needs reference log-probs/);
  });

  it('unknown loss type and bad temperature', async () => {
    await rejectsUntouched(lora, () => lora.accumulate(good, { lossType: 'ppo' as never }), /unknown loss_type 'ppo'/);
    await rejectsUntouched(lora, () => lora.accumulate(good, { temperature: 0 }), /temperature must be > 0/);
  });
});

describe('bad LoRA settings', () => {
  it('a target that matches no LFM2 module names it and lists the real ones', async () => {
    await expect(
      TrainerEngine.create(model, {
        mode: 'lora',
        lora: { r: 8, loraAlpha: 16, targetModules: ['q_proj', 'o_proj'], useRslora: false },
        optimizer: { learningRate: 1e-4 },
      }),
    ).rejects.toThrow(/LoRA target module 'o_proj' matches no module .*self_attn\.out_proj.*conv\.out_proj/);
  });

  it('a regex matching nothing, an invalid regex, rank 0, dropout', async () => {
    const mk = (targetModules: string[] | string, r = 8, loraDropout = 0) =>
      TrainerEngine.create(model, { mode: 'lora', lora: { r, loraAlpha: 16, targetModules, useRslora: false, loraDropout }, optimizer: { learningRate: 1e-4 } });
    await expect(mk('.*\\.gate_proj')).rejects.toThrow(/regex '.*gate_proj' matches no module/);
    await expect(mk('(')).rejects.toThrow(/regex '\(' is invalid/);
    await expect(mk(['q_proj'], 0)).rejects.toThrow(/rank must be >= 1/);
    await expect(mk(['q_proj'], 8, 0.1)).rejects.toThrow(/lora_dropout must be 0/);
  });
});

describe('non-finite gradients', () => {
  it('skip the step, report the tensor, leave weights and step count unchanged; the next step works', async () => {
    for (const t of [lora, full]) {
      const b = randomBatch(2);
      // A negative advantage with an old log-prob of −1e30 makes ρ = exp(logp + 1e30) = inf on the unclipped branch:
      // the loss is inf and the gradient inf·0 = NaN — legal inputs that produce a non-finite gradient.
      const old = b.sequences.map((s) => new Array(s.length).fill(-1e30));
      const r = await t.accumulate({ ...b, advantages: [-1, -1, -1], oldLogprobs: old });
      expect(Number.isFinite(r.loss)).toBe(false);
      const before = snapshot(t);
      const step = t.info().step;
      const s = await t.step();
      expect(s.skipped).toBe(true);
      expect(s.badTensor).toMatch(/weight$/);
      expect(Number.isFinite(s.gradNorm)).toBe(false);
      expect(s.step).toBe(step);
      expect(differing(before, snapshot(t))).toEqual([]);
      // Gradients were discarded: a normal micro-step and step now update the weights.
      for (const n of t.native.parameterNames()) expect(t.native.gradient(n).every((g) => g === 0)).toBe(true);
      await t.accumulate(randomBatch(3));
      const ok = await t.step();
      expect(ok.skipped).toBe(false);
      expect(ok.step).toBe(step + 1);
      expect(differing(before, snapshot(t)).length).toBeGreaterThan(0);
    }
  });
});

describe('merged adapters', () => {
  it('training and reference scoring are refused while merged', async () => {
    await lora.merge();
    try {
      await expect(lora.accumulate(randomBatch(4))).rejects.toThrow(/merged .* unmerge before training/);
      await expect(lora.step()).rejects.toThrow(/unmerge before a step/);
      const b = randomBatch(4);
      await expect(lora.computeLogprobs(b.sequences, b.completionMasks, { adapter: false })).rejects.toThrow(/unmerge/);
      await expect(lora.merge()).rejects.toThrow(/already merged/);
    } finally {
      await lora.unmerge();
    }
    await expect(lora.unmerge()).rejects.toThrow(/not merged/);
  });
});
