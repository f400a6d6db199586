// Whole-model gradients of the native training engine against central finite differences of the float64 reference
// loss (test/ref/train-model-ref.ts = float64 LFM2 forward + GRPO loss), on the `tiny` preset with FP32 weights:
// full fine-tune (every parameter tensor, tied embedding included) and LoRA on each LFM2 module kind.
//
// Tolerance: |g_native − g_fd| ≤ 2e-4·max|g_native over the tensor| + 2e-3·|g_fd|. The native side runs in FP32
// (forward and backward, T ≤ 12 rows, sums over ≤ 512 terms) so its relative error is ~1e-5 of the tensor's gradient
// scale; the FD side is float64 with h = 1e-5 (truncation ~h² ≈ 1e-10, cancellation ~1e-16/h ≈ 1e-11). The bound is
// ~20× the expected error (observed: ~5e-7 relative) yet far below the O(1) relative error of a missing or wrong
// backward term.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { mulberry32, writeRandomModel } from '../lib/engine/init-weights.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { TrainerEngine, type TrainBatch } from '../lib/engine/trainer-engine.ts';
import { loadRefModel, type RefModel } from './ref/lfm2-ref.ts';
import { maxAbs } from './ref/train-ref.ts';
import { mergedRefModel, refModelLoss, refTensor, type RefBatch, type RefLossOptions } from './ref/train-model-ref.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-grad-');
const modelDir = join(dir, 'tiny');

let model: LfmModel;
let ref: RefModel;
beforeAll(async () => {
  // std 0.1: weights large enough that every layer shapes the loss (the 0.02 init makes deep terms tiny).
  writeRandomModel(modelDir, presetConfig('tiny'), { seed: 5, dtype: 'f32', std: 0.1 });
  model = await LfmModel.load(modelDir);
  ref = loadRefModel(modelDir);
});

const rnd = mulberry32(77);
// Two sequences (prompt then completion); ids ≥ 1 so no token is the padding id (whose lookup gradient PyTorch drops).
const lengths = [7, 5], promptLens = [3, 2];
const sequences = lengths.map((n) => Array.from({ length: n }, () => 1 + Math.floor(rnd() * 511)));
const masks = lengths.map((n, i) => Array.from({ length: n }, (_, t) => (t >= promptLens[i] ? 1 : 0)));
const advantages = [1.3, -0.7];
const lossOpts: RefLossOptions = { lossType: 'grpo', epsLow: 0.2, epsHigh: 0.28, beta: 0.05, temperature: 0.9 };

/** Old and reference log-probs near the current ones, so ratios stay inside the clip range (no kinks for FD). */
async function nearbyLogprobs(t: TrainerEngine): Promise<{ old: number[][]; refLp: number[][] }> {
  const { logprobs } = await t.computeLogprobs(sequences, masks, { temperature: lossOpts.temperature });
  const r = mulberry32(9);
  const old = logprobs.map((lp) => Array.from(lp, (v) => v + 0.05 * (2 * r() - 1)));
  const refLp = logprobs.map((lp) => Array.from(lp, (v) => v + 0.3 * (2 * r() - 1)));
  return { old, refLp };
}

function batchOf(old: number[][], refLp: number[][]): TrainBatch {
  return { sequences, completionMasks: masks, advantages, oldLogprobs: old, refLogprobs: refLp };
}

const lossSettings = { lossType: lossOpts.lossType, epsilon: lossOpts.epsLow, epsilonHigh: lossOpts.epsHigh, beta: lossOpts.beta, temperature: lossOpts.temperature };

/** Indices to probe: the largest native gradient, plus `extra` seeded random ones (and any `must`). */
function probeIndices(g: Float32Array, extra: number, seed: number, must: number[] = []): number[] {
  let arg = 0;
  for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[arg])) arg = i;
  const r = mulberry32(seed);
  const out = new Set<number>([arg, ...must]);
  while (out.size < Math.min(g.length, 1 + must.length + extra)) out.add(Math.floor(r() * g.length));
  return [...out];
}

/** Central difference of f at x[i] (x restored afterwards). */
function fd(f: () => number, x: Float64Array, i: number, h = 1e-5): number {
  const keep = x[i];
  x[i] = keep + h;
  const up = f();
  x[i] = keep - h;
  const down = f();
  x[i] = keep;
  return (up - down) / (2 * h);
}

function checkTensor(name: string, g: Float32Array, fdAt: (i: number) => number, idx: number[]): void {
  const scale = maxAbs(g);
  expect(scale, `${name}: gradient is all zero`).toBeGreaterThan(0);
  for (const i of idx) {
    const want = fdAt(i);
    const err = Math.abs(g[i] - want);
    expect(err, `${name}[${i}]: native ${g[i]} vs finite difference ${want}`).toBeLessThanOrEqual(2e-4 * scale + 2e-3 * Math.abs(want));
  }
}

describe('full fine-tune gradients', () => {
  it('every parameter tensor matches float64 finite differences (tied embedding: head + lookup terms)', async () => {
    const t = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 0 } });
    const { old, refLp } = await nearbyLogprobs(t);
    const res = await t.accumulate(batchOf(old, refLp), lossSettings);
    const rb: RefBatch = { sequences, masks, advantages, old, ref: refLp };
    // The loss itself agrees first (FP32 vs float64 forward).
    expect(Math.abs(res.loss - refModelLoss(ref, rb, lossOpts))).toBeLessThan(1e-5 * Math.max(1, Math.abs(res.loss)));
    const usedRows = [...new Set(sequences.flat())];
    const names = t.native.parameterNames();
    expect(names.length).toBe(model.info.tensors.length);
    names.forEach((name, k) => {
      const g = t.native.gradient(name);
      const x = refTensor(ref, name);
      expect(x.length, name).toBe(g.length);
      // Embedding: also probe one element of a looked-up row (lookup + head term) explicitly.
      const must = name === 'model.embed_tokens.weight' ? [usedRows[0] * ref.C + 3] : [];
      checkTensor(name, g, (i) => fd(() => refModelLoss(ref, rb, lossOpts), x, i), probeIndices(g, 2, 100 + k, must));
    });
  });

  it.each([
    ['splitting a micro-batch into passes (maxPassTokens)', { maxPassTokens: 8 }],
    ['activation checkpointing (layers recomputed in the backward)', { checkpointing: true }],
  ] as const)('%s gives the same gradients', async (_what, variant) => {
    const one = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 0 } });
    const two = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 0 }, ...variant });
    const { old, refLp } = await nearbyLogprobs(one);
    const a = await one.accumulate(batchOf(old, refLp), lossSettings);
    const b = await two.accumulate(batchOf(old, refLp), lossSettings);
    expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
    for (const name of one.native.parameterNames()) {
      const ga = one.native.gradient(name), gb = two.native.gradient(name);
      // Same math, different summation grouping of FP32 partial sums: agree to FP32 rounding of the gradient scale.
      const scale = maxAbs(ga);
      expect(maxAbs(ga.map((v, i) => v - gb[i])), name).toBeLessThanOrEqual(1e-5 * scale);
    }
  });
});

describe('gradient accumulation', () => {
  it('two micro-batches with the whole batch\'s normalisers accumulate to the one-batch gradient', async () => {
    const whole = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 0 } });
    const parts = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 0 } });
    const { old, refLp } = await nearbyLogprobs(whole);
    const b = batchOf(old, refLp);
    const ntok = masks.flat().reduce((a: number, m) => a + m, 0);
    const settings = { ...lossSettings, lossType: 'dapo' as const, tokenNormalizer: ntok };
    const r = await whole.accumulate(b, settings);
    let loss = 0;
    for (const i of [0, 1]) {
      const part = await parts.accumulate(
        { sequences: [sequences[i]], completionMasks: [masks[i]], advantages: [advantages[i]], oldLogprobs: [old[i]], refLogprobs: [refLp[i]] },
        settings,
      );
      loss += part.loss;
    }
    expect(Math.abs(loss - r.loss)).toBeLessThan(1e-6);
    for (const name of whole.native.parameterNames()) {
      const ga = whole.native.gradient(name), gb = parts.native.gradient(name);
      expect(maxAbs(ga.map((v, i) => v - gb[i])), name).toBeLessThanOrEqual(1e-5 * maxAbs(ga));
    }
  });
});

describe('LoRA gradients', () => {
  // Each LFM2 module kind once; out_proj disambiguated by its parent ('self_attn.out_proj' vs 'conv.out_proj').
  const targets = ['q_proj', 'k_proj', 'v_proj', 'self_attn.out_proj', 'in_proj', 'conv.out_proj', 'w1', 'w2', 'w3'];

  it('A and B of every module kind match float64 finite differences; the frozen base gets no gradient', async () => {
    const r = 4, alpha = 8;
    const t = await TrainerEngine.create(model, {
      mode: 'lora',
      lora: { r, loraAlpha: alpha, targetModules: targets, useRslora: false, seed: 3 },
      optimizer: { learningRate: 0 },
    });
    const info = t.info();
    const mods = info.lora!.modules;
    // Only the adapter is trainable: the base weights have no gradient or optimizer state at all.
    expect(t.native.parameterNames().every((n) => /\.lora_[AB]\.weight$/.test(n))).toBe(true);
    expect(info.trainableParameters).toBe(mods.reduce((a, m) => a + t.native.parameter(m + '.lora_A.weight').length + t.native.parameter(m + '.lora_B.weight').length, 0));
    // 4 conv layers × 5 + 2 attention layers × 7 modules.
    expect(mods.length).toBe(4 * 5 + 2 * 7);
    expect(mods).toContain('model.layers.2.self_attn.out_proj');
    expect(mods).toContain('model.layers.0.conv.out_proj');
    // B = 0 at init would make dA vanish: give B random values so both factors are checked.
    const rB = mulberry32(21);
    for (const m of mods) {
      const n = t.native.parameter(m + '.lora_B.weight').length;
      t.native.setParameter(m + '.lora_B.weight', Float32Array.from({ length: n }, () => 0.2 * (2 * rB() - 1)));
    }
    const { old, refLp } = await nearbyLogprobs(t);
    await t.accumulate(batchOf(old, refLp), lossSettings);
    const rb: RefBatch = { sequences, masks, advantages, old, ref: refLp };
    const modules = mods.map((path) => ({
      path,
      A: Float64Array.from(t.native.parameter(path + '.lora_A.weight')),
      B: Float64Array.from(t.native.parameter(path + '.lora_B.weight')),
    }));
    const s = alpha / r;
    expect(info.lora!.scale).toBe(s);
    // One module of each kind (the first layer that has it), both factors.
    const kinds = new Map<string, (typeof modules)[number]>();
    for (const m of modules) {
      const kind = m.path.replace(/^model\.layers\.\d+\./, '');
      if (!kinds.has(kind)) kinds.set(kind, m);
    }
    expect(kinds.size).toBe(9);
    let k = 0;
    for (const m of kinds.values()) {
      for (const which of ['A', 'B'] as const) {
        const name = `${m.path}.lora_${which}.weight`;
        const g = t.native.gradient(name);
        const x = m[which];
        const f = () => refModelLoss(mergedRefModel(ref, modules, r, s), rb, lossOpts);
        checkTensor(name, g, (i) => fd(f, x, i), probeIndices(g, 2, 500 + k++));
      }
    }
  });

  it('checkpointing recomputes the adapter term too: same LoRA gradients', async () => {
    const mk = (checkpointing: boolean) =>
      TrainerEngine.create(model, {
        mode: 'lora', lora: { r: 4, loraAlpha: 8, targetModules: targets, useRslora: false, seed: 3 },
        optimizer: { learningRate: 0 }, checkpointing,
      });
    const [a, b] = [await mk(false), await mk(true)];
    const rB = mulberry32(22);
    for (const m of a.info().lora!.modules) {
      const n = a.native.parameter(m + '.lora_B.weight').length;
      const B = Float32Array.from({ length: n }, () => 0.2 * (2 * rB() - 1));
      a.native.setParameter(m + '.lora_B.weight', B);
      b.native.setParameter(m + '.lora_B.weight', B);
    }
    const { old, refLp } = await nearbyLogprobs(a);
    await a.accumulate(batchOf(old, refLp), lossSettings);
    await b.accumulate(batchOf(old, refLp), lossSettings);
    for (const name of a.native.parameterNames()) {
      const ga = a.native.gradient(name), gb = b.native.gradient(name);
      const scale = maxAbs(ga);
      expect(scale, name).toBeGreaterThan(0);
      expect(maxAbs(ga.map((v, i) => v - gb[i])), name).toBeLessThanOrEqual(1e-5 * scale);
    }
  });

  it('a regex target selects by full path like PEFT (attention out_proj only)', async () => {
    const t = await TrainerEngine.create(model, {
      mode: 'lora',
      lora: { r: 2, loraAlpha: 4, targetModules: String.raw`.*\.self_attn\.out_proj`, useRslora: false },
      optimizer: { learningRate: 0 },
    });
    expect(t.info().lora!.modules).toEqual(['model.layers.2.self_attn.out_proj', 'model.layers.4.self_attn.out_proj']);
  });
});
