// Shared setup of the sft trainer tests (CPU and GPU): a run's policy over a tiny random model, a fixed batch of
// demonstrations packed as the run packs samples, and sft steps through the run's TrainEngine.
import { join } from 'node:path';
import { expect } from 'vitest';
import { mulberry32, writeRandomModel } from '../lib/engine/init-weights.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { loadConfig } from '../lib/io/config.ts';
import { loadPolicy, type Policy } from '../lib/rl/engine-policy.ts';
import type { AccumulateStats, LossSettings, TrainEngine } from '../lib/rl/engine-types.ts';
import type { PackedBatch } from '../lib/engine/packed-batch.ts';
import { completionTokens, packSamples, type TrainingSample } from '../lib/rl/samples.ts';
import { TINY_CONFIG } from './trainer-helpers.ts';

/** The run's policy (full fine-tune, constant learning rate) over a fresh tiny random model in `dir`. */
export async function sftPolicy(dir: string, device: 'cpu' | 'cuda'): Promise<Policy> {
  const model = join(dir, `model-${device}`);
  writeRandomModel(model, presetConfig('tiny'), { seed: 4, dtype: 'bf16', std: 0.1 });
  const c = loadConfig(TINY_CONFIG, [
    '--model', model, '--output_dir', join(dir, 'runs'), '--device', device, '--use_peft', 'false',
    '--learning_rate', '3e-3', '--lr_scheduler_type', 'constant', '--warmup_steps', '0',
  ]);
  return loadPolicy(model, c);
}

/** `n` demonstrations (prompt, then the completion to imitate; ids in [1, vocab)) packed into one micro-batch. Old
 *  log-probs and advantages are zero: sft reads neither. */
export function demonstrations(seed: number, n: number, vocab = 512): TrainingSample[] {
  const r = mulberry32(seed);
  const ids = (k: number) => Array.from({ length: k }, () => 1 + Math.floor(r() * (vocab - 1)));
  return Array.from({ length: n }, (_, i) => {
    const completionIds = ids(3 + Math.floor(r() * 4));
    return {
      episode: i, step: 0, promptIds: ids(3 + Math.floor(r() * 4)), completionIds,
      oldLogprobs: completionIds.map(() => 0), advantage: 0, truncated: false,
    };
  });
}

/** sft over a step whose completion tokens number `tokens`: each micro-batch's loss is its share of the step's mean. */
export function sftLoss(tokens: number, over: Partial<LossSettings> = {}): LossSettings {
  return {
    lossType: 'sft', epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0, temperature: 1, maxCompletionLength: 0,
    tokenNormalizer: tokens, sequenceNormalizer: 0, ...over,
  };
}

/**
 * Checks the engine's sft on `samples` before training (two micro-batches add up to the whole batch; bad options are
 * rejected), then takes `steps` optimizer steps on the whole batch. Returns the mean cross-entropy and the token
 * accuracy measured before each step and after the last.
 */
export async function sftSteps(engine: TrainEngine, samples: TrainingSample[], steps: number): Promise<{ loss: number[]; accuracy: number[] }> {
  const batch: PackedBatch = packSamples(samples);
  const tokens = completionTokens(samples);
  const whole = await engine.accumulate(batch, null, sftLoss(tokens));
  await engine.zeroGrad();
  expect(whole.tokens).toBe(tokens);
  const parts: AccumulateStats[] = [];
  for (const part of [samples.slice(0, 1), samples.slice(1)]) parts.push(await engine.accumulate(packSamples(part), null, sftLoss(tokens)));
  await engine.zeroGrad();
  // The same rows scored by the same weights: only FP32 sums in another batch layout differ.
  expect(Math.abs(parts[0].loss + parts[1].loss - whole.loss)).toBeLessThanOrEqual(1e-5 * whole.loss);
  expect(parts[0].correct + parts[1].correct).toBe(whole.correct);
  await expect(engine.accumulate(batch, null, sftLoss(tokens, { beta: 0.04 }))).rejects.toThrow(/loss_type sft: beta must be 0/);
  await expect(engine.accumulate(batch, null, sftLoss(tokens, { temperature: 0.7 }))).rejects.toThrow(/loss_type sft: temperature must be 1/);

  // Token weights (sft.prompt_loss_weight): with weight w_i on every token of sample i the loss is the weighted mean
  // Σ w_i·n_i·L_i / Σ w_i·n_i of the samples' own means L_i, and tokens is Σ w_i·n_i.
  const w = samples.map((_, i) => 0.25 + 0.5 * i);
  const own: number[] = [];
  for (const s of samples) {
    own.push((await engine.accumulate(packSamples([s]), null, sftLoss(s.completionIds.length))).loss);
    await engine.zeroGrad();
  }
  const weighted = samples.map((s, i) => ({ ...s, weights: s.completionIds.map(() => w[i]) }));
  const wsum = samples.reduce((a, s, i) => a + w[i] * s.completionIds.length, 0);
  const wl = await engine.accumulate(packSamples(weighted), null, sftLoss(wsum));
  await engine.zeroGrad();
  const wantWl = samples.reduce((a, s, i) => a + w[i] * s.completionIds.length * own[i], 0) / wsum;
  expect(Math.abs(wl.tokens - wsum)).toBeLessThanOrEqual(1e-6 * wsum);
  expect(Math.abs(wl.loss - wantWl), `weighted loss ${wl.loss} vs ${wantWl}`).toBeLessThanOrEqual(1e-5 * wantWl);
  await expect(engine.accumulate(packSamples(weighted), null, sftLoss(wsum, { lossType: 'dapo' }))).rejects.toThrow(/must be 0 or 1/);

  const loss: number[] = [], accuracy: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const r = await engine.accumulate(batch, null, sftLoss(tokens));
    expect(r.tokens).toBe(tokens);
    expect(Number.isInteger(r.correct) && r.correct >= 0 && r.correct <= tokens).toBe(true);
    loss.push(r.loss);
    accuracy.push(r.correct / tokens);
    if (s === steps) {
      await engine.zeroGrad();
      break;
    }
    const st = await engine.step();
    expect(st.skipped, `step ${s}`).toBe(false);
  }
  return { loss, accuracy };
}
