// One batch layout end to end (lib/engine/packed-batch.ts): packBatch lays per-sequence arrays out once; a packed
// batch goes to the trainer as it is and gives exactly what its per-sequence form gives; micro-batch statistics are
// sums that add up to the whole batch's; and the frozen model's own token log-probs (the KL reference of full
// fine-tuning) equal a trainer's log-probs with no adapter, bit for bit.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { packBatch, perSequence, type PackedBatch } from '../lib/engine/packed-batch.ts';
import { TrainerEngine, type MicroStepStats } from '../lib/engine/trainer-engine.ts';
import { createTrainEngine, loadPolicyModel } from '../lib/rl/engine-policy.ts';
import type { LossSettings } from '../lib/rl/engine-types.ts';
import { randomBatch, tinyModel } from './train-helpers.ts';
import { removeTempRoots, tempRoot, tinyConfig } from './trainer-helpers.ts';

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sameBytes = (a: Float32Array, b: Float32Array) => bytes(a).equals(bytes(b));
const concat = (parts: Float32Array[]) => Float32Array.from(parts.flatMap((p) => [...p]));

const root = tempRoot('packed-batch');
afterAll(removeTempRoots);

describe('packBatch', () => {
  it('lays sequences back to back with their offsets, masks, log-probs and advantages', () => {
    const p = packBatch({
      sequences: [[5, 6, 7], Int32Array.from([8, 9])],
      completionMasks: [[0, 1, 1], [0, 0.5]],
      oldLogprobs: [[0, -0.1, -0.2], [0, -0.3]],
      refLogprobs: [[0, -1, -2], [0, -3]],
      advantages: [1, -0.5],
    });
    expect([...p.tokens]).toEqual([5, 6, 7, 8, 9]);
    expect([...p.cuSeqlens]).toEqual([0, 3, 5]);
    expect([...p.completionMask]).toEqual([0, 1, 1, 0, 0.5]);
    expect([...p.oldLogprobs!]).toEqual([0, -0.1, -0.2, 0, -0.3].map(Math.fround));
    expect([...p.refLogprobs!]).toEqual([0, -1, -2, 0, -3]);
    expect([...p.advantages!]).toEqual([1, -0.5]);
    expect(perSequence(p.completionMask, p.cuSeqlens).map((x) => [...x])).toEqual([[0, 1, 1], [0, 0.5]]);
    expect(packBatch({ sequences: [[1, 2]], completionMasks: [[0, 1]] })).toEqual({
      tokens: Int32Array.from([1, 2]),
      cuSeqlens: Int32Array.from([0, 2]),
      completionMask: Float32Array.from([0, 1]),
    });
  });

  it('names what does not fit', () => {
    expect(() => packBatch({ sequences: [], completionMasks: [] }, 'accumulate')).toThrow(/accumulate: no sequences/);
    expect(() => packBatch({ sequences: [[1, 2]], completionMasks: [] })).toThrow(/1 sequences but 0 completion masks/);
    expect(() => packBatch({ sequences: [[1, 2]], completionMasks: [[0, 1]], advantages: [1, 2] })).toThrow(/1 sequences but 2 advantages/);
    expect(() => packBatch({ sequences: [[1, 2]], completionMasks: [[0, 1, 1]] })).toThrow(/completionMasks\[0\] has 3 entries for 2 tokens/);
    expect(() => packBatch({ sequences: [[1, 2]], completionMasks: [[0, 1]], oldLogprobs: [[0]] })).toThrow(/oldLogprobs\[0\] has 1 entries for 2 tokens/);
    expect(() => packBatch({ sequences: [[]], completionMasks: [[]] })).toThrow(/sequences\[0\] is empty/);
    expect(() => packBatch({ sequences: [[1, 2.5]], completionMasks: [[0, 1]] })).toThrow(/not a 32-bit integer token id/);
  });
});

/** A seeded GRPO batch with advantages of both signs, old log-probs off the current ones (so ratios clip both ways)
 *  and reference ones. */
async function grpoBatch(t: TrainerEngine, seed: number, n: number): Promise<PackedBatch> {
  const b = randomBatch(seed, n);
  const now = await t.computeLogprobs(b.sequences, b.completionMasks);
  const shift = (lp: Float32Array, i: number, by: number) => lp.map((v, j) => (v === 0 ? 0 : v + ((i + j) % 2 ? by : -by)));
  return packBatch({
    ...b,
    advantages: b.sequences.map((_, i) => (i % 2 ? -1 : 1) * (0.5 + i / 10)),
    oldLogprobs: now.logprobs.map((lp, i) => shift(lp, i, 0.4)),
    refLogprobs: now.logprobs.map((lp, i) => shift(lp, i + 1, 0.3)),
  });
}

/** The sequences [from, to) of a packed batch as a batch of their own. */
function slice(b: PackedBatch, from: number, to: number): PackedBatch {
  const [a, e] = [b.cuSeqlens[from], b.cuSeqlens[to]];
  return {
    tokens: b.tokens.slice(a, e),
    cuSeqlens: b.cuSeqlens.slice(from, to + 1).map((o) => o - a),
    completionMask: b.completionMask.slice(a, e),
    advantages: b.advantages!.slice(from, to),
    oldLogprobs: b.oldLogprobs!.slice(a, e),
    refLogprobs: b.refLogprobs!.slice(a, e),
  };
}

describe('TrainerEngine on a packed batch', () => {
  let model: LfmModel;
  beforeAll(async () => {
    model = await tinyModel(root, 'f32', 'f32');
  });

  it('accumulate and computeLogprobs give exactly what the per-sequence form gives', async () => {
    const t = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 1e-3 } });
    const b = randomBatch(11, 4);
    const loss = { beta: 0, temperature: 0.9 };
    const perSeq = await t.accumulate(b, loss);
    const g1 = t.gradient('model.layers.0.conv.in_proj.weight');
    await t.zeroGrad();
    const packed = await t.accumulate(packBatch(b), loss);
    const g2 = t.gradient('model.layers.0.conv.in_proj.weight');
    await t.zeroGrad();
    const { logprobs, entropies, ...stats } = packed;
    expect(Object.fromEntries(Object.keys(stats).map((k) => [k, perSeq[k as keyof MicroStepStats]]))).toEqual(stats);
    expect(sameBytes(logprobs, concat(perSeq.logprobs))).toBe(true);
    expect(sameBytes(entropies, concat(perSeq.entropies))).toBe(true);
    expect(g1.some((v) => v !== 0)).toBe(true);
    expect(sameBytes(g1, g2)).toBe(true);

    const lpSeq = await t.computeLogprobs(b.sequences, b.completionMasks, { temperature: 0.7 });
    const lpPacked = await t.computeLogprobs(packBatch(b), { temperature: 0.7 });
    expect(sameBytes(lpPacked.logprobs, concat(lpSeq.logprobs))).toBe(true);
    expect(sameBytes(lpPacked.entropies, concat(lpSeq.entropies))).toBe(true);
  });

  it('micro-batch statistics are sums that add up to the whole batch (counts exactly)', async () => {
    const t = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 1e-3 } });
    const whole = await grpoBatch(t, 21, 6);
    const tokenNormalizer = whole.completionMask.reduce((a, m) => a + m, 0);
    const loss = { beta: 0.05, epsilon: 0.2, tokenNormalizer };
    const all = await t.accumulate(whole, loss);
    const gAll = t.gradient('model.layers.1.feed_forward.w2.weight');
    await t.zeroGrad();
    const parts = [await t.accumulate(slice(whole, 0, 2), loss), await t.accumulate(slice(whole, 2, 6), loss)];
    const gParts = t.gradient('model.layers.1.feed_forward.w2.weight');
    await t.zeroGrad();
    const sum = (k: keyof MicroStepStats) => parts[0][k] + parts[1][k];
    for (const k of ['tokens', 'clipLow', 'clipHigh', 'clipRegion', 'correct'] as const) {
      expect(Number.isInteger(all[k]), k).toBe(true);
      expect(sum(k), k).toBe(all[k]);
    }
    expect(all.clipLow).toBeGreaterThan(0);
    expect(all.clipHigh).toBeGreaterThan(0);
    expect(all.klSum).toBeGreaterThan(0);
    // The same rows through the same weights in another pass layout: only FP32 rounding differs.
    for (const k of ['loss', 'klSum', 'entropySum'] as const) {
      expect(Math.abs(sum(k) - all[k]), `${k}: ${sum(k)} vs ${all[k]}`).toBeLessThanOrEqual(1e-5 * Math.abs(all[k]));
    }
    // Means are taken from the added sums; averaging the parts' own means would weight the small part too much.
    const meanOfMeans = (parts[0].klSum / parts[0].tokens + parts[1].klSum / parts[1].tokens) / 2;
    expect(Math.abs(sum('klSum') / sum('tokens') - all.klSum / all.tokens)).toBeLessThan(Math.abs(meanOfMeans - all.klSum / all.tokens));
    const scale = Math.max(...gAll.map(Math.abs));
    expect(Math.max(...gAll.map((v, i) => Math.abs(v - gParts[i])))).toBeLessThanOrEqual(1e-5 * scale);
  });
});

describe('the frozen model as the KL reference', () => {
  for (const dtype of ['f32', 'bf16'] as const) {
    it(`${dtype}: tokenLogprobs equal the trainer's with the adapter off and a full trainer's at step 0, bit for bit`, async () => {
      const policy = await tinyModel(root, `ref-${dtype}`, dtype, 9);
      const frozen = await LfmModel.load(join(root, `ref-${dtype}`));
      const lora = await TrainerEngine.create(policy, { mode: 'lora', lora: { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'w1'], useRslora: false, seed: 2 }, optimizer: { learningRate: 1e-2 } });
      // A non-zero B so the adapter changes the policy: "adapter off" must be what is compared.
      for (const n of lora.native.parameterNames().filter((x) => x.endsWith('lora_B.weight'))) {
        lora.native.setParameter(n, lora.native.parameter(n).map((_, i) => 0.05 * Math.sin(i)));
      }
      const b = packBatch(randomBatch(31, 5));
      for (const temperature of [1, 0.7]) {
        const ref = await frozen.tokenLogprobs(b, { temperature });
        const off = await lora.computeLogprobs(b, { adapter: false, temperature });
        const on = await lora.computeLogprobs(b, { adapter: true, temperature });
        expect(sameBytes(ref.logprobs, off.logprobs), `T=${temperature}`).toBe(true);
        expect(sameBytes(ref.entropies, off.entropies), `T=${temperature}`).toBe(true);
        expect(sameBytes(ref.logprobs, on.logprobs)).toBe(false);
      }
      const before = await frozen.tokenLogprobs(b);
      const full = await TrainerEngine.create(frozen, { mode: 'full', optimizer: { learningRate: 1e-2 } });
      expect(sameBytes((await full.computeLogprobs(b)).logprobs, before.logprobs)).toBe(true);
    });
  }

  it('rejects a batch that does not fit with a clear error', async () => {
    const m = await tinyModel(root, 'bad', 'f32');
    const ok = packBatch({ sequences: [[1, 2, 3]], completionMasks: [[0, 1, 1]] });
    await expect(m.tokenLogprobs({ ...ok, tokens: Int32Array.from([1, 2, 99999]) })).rejects.toThrow(/token id 99999 at index 2 is outside the vocabulary/);
    await expect(m.tokenLogprobs({ ...ok, completionMask: Float32Array.from([1, 1, 1]) })).rejects.toThrow(/first token is marked as a completion token/);
    await expect(m.tokenLogprobs({ ...ok, cuSeqlens: Int32Array.from([0, 2]) })).rejects.toThrow(/offsets must start at 0 and end at 3/);
    await expect(m.tokenLogprobs({ ...ok, cuSeqlens: [0, 3] as unknown as Int32Array })).rejects.toThrow(/tokenLogprobs: batch: cuSeqlens must be a Int32Array/);
    await expect(m.tokenLogprobs(ok, { temperature: 0 })).rejects.toThrow(/temperature must be > 0/);
    await expect(m.tokenLogprobs(ok, { precision: 'half' as 'fast' })).rejects.toThrow(/precision = 'half' must be one of/);
  });

  it('full fine-tuning with beta > 0: the run engine scores the reference as before, and it stays put as the policy moves', async () => {
    const dir = join(root, 'model');
    await tinyModel(root, 'model', 'f32', 4);
    const c = tinyConfig(root, ['--use_peft', 'false', '--beta', '0.04', '--warmup_steps', '0']);
    const pm = await loadPolicyModel(dir, c);
    const engine = await createTrainEngine(pm, c);
    const t = await TrainerEngine.create(pm.model, { mode: 'full', optimizer: { learningRate: 0 } });
    const b = await grpoBatch(t, 41, 4);
    // The reference as it was built before: a second copy holding a rank-1 adapter that is never switched on.
    const oldRef = await TrainerEngine.create(await LfmModel.load(dir), { mode: 'lora', lora: { r: 1, loraAlpha: 1, targetModules: ['q_proj'], useRslora: false }, optimizer: { learningRate: 0 } });
    const want = (await oldRef.computeLogprobs(b, { adapter: false, temperature: c.temperature })).logprobs;
    const ref = await engine.referenceLogprobs(b, c.temperature);
    expect(sameBytes(ref, want)).toBe(true);

    const loss: LossSettings = {
      lossType: 'dapo', epsilonLow: 0.2, epsilonHigh: 0.2, beta: c.beta, temperature: c.temperature,
      maxCompletionLength: c.max_completion_length, tokenNormalizer: 0, sequenceNormalizer: 0,
    };
    const s = await engine.accumulate(b, ref, loss);
    expect(s.klSum).toBeGreaterThan(0);
    const direct = await t.accumulate({ ...b, refLogprobs: want }, { beta: c.beta, temperature: c.temperature });
    expect(s.klSum).toBe(direct.klSum);
    await t.zeroGrad();
    await engine.step();
    expect(sameBytes(await engine.referenceLogprobs(b, c.temperature), want)).toBe(true);
    const moved = (await t.computeLogprobs(b, { temperature: c.temperature })).logprobs;
    expect(sameBytes(moved, want)).toBe(false);
  });
});
