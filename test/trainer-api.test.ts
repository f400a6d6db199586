// The typed inspection API of TrainerEngine and LfmModel: trainable tensors under the names and shapes the
// checkpoint files use (PEFT's prefix for LoRA, HF's [C, 1, L] conv kernels), gradient(name) by those names, and
// clip statistics as exact token counts.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LfmModel } from '../lib/engine/model.ts';
import { PEFT_TENSOR_PREFIX } from '../lib/engine/peft.ts';
import { TrainerEngine } from '../lib/engine/trainer-engine.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import { randomBatch, tinyModel } from './train-helpers.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-trainer-api-');
const LORA = { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'in_proj', 'w2'], useRslora: false };
let model: LfmModel;

beforeAll(async () => {
  model = await tinyModel(dir, 'm', 'f32');
});

/** Shapes by tensor name from a safetensors file header. */
function fileShapes(file: string): Map<string, number[]> {
  return new Map([...readSafetensors(file).tensors].map(([n, t]) => [n, t.shape]));
}

describe('LfmModel.info', () => {
  it('gives every tensor the shape of the HF checkpoint file, conv kernels as [C, 1, L]', () => {
    const onDisk = fileShapes(join(dir, 'm', 'model.safetensors'));
    expect(model.info.tensors.map((t) => t.name).sort()).toEqual([...onDisk.keys()].sort());
    for (const t of model.info.tensors) expect(t.shape, t.name).toEqual(onDisk.get(t.name));
    const conv = model.info.tensors.find((t) => t.name === 'model.layers.0.conv.conv.weight')!;
    expect(conv.shape).toEqual([64, 1, 3]);
  });
});

describe('TrainerEngine gradients by checkpoint name', () => {
  it('LoRA: PEFT names and shapes of saveAdapter; gradient(name) reads them', async () => {
    const t = await TrainerEngine.create(model, { mode: 'lora', lora: { ...LORA, seed: 3 }, optimizer: { learningRate: 1e-2 } });
    await t.accumulate(randomBatch(1, 4));
    const tensors = t.trainableTensors();
    expect(tensors.length).toBe(2 * t.info().lora!.modules.length);
    expect(t.parameterNames()).toEqual(tensors.map((x) => x.name));
    await t.saveAdapter(join(dir, 'adapter'));
    const saved = fileShapes(join(dir, 'adapter', 'adapter_model.safetensors'));
    expect(new Map(tensors.map((x) => [x.name, x.shape]))).toEqual(saved);
    const a = tensors.find((x) => x.name === `${PEFT_TENSOR_PREFIX}model.layers.2.self_attn.q_proj.lora_A.weight`)!;
    expect(a.shape).toEqual([4, 64]);
    for (const { name, shape } of tensors) {
      const g = t.gradient(name);
      expect(g, name).toBeInstanceOf(Float32Array);
      expect(g.length, name).toBe(shape.reduce((x, y) => x * y, 1));
      expect(g).toEqual(t.native.gradient(name.slice(PEFT_TENSOR_PREFIX.length)));
      expect(t.parameter(name)).toEqual(t.native.parameter(name.slice(PEFT_TENSOR_PREFIX.length)));
    }
    // LoRA B starts at zero, so A gets no gradient on the first pass; B must.
    const b = tensors.find((x) => x.name.endsWith('q_proj.lora_B.weight'))!;
    expect(t.gradient(b.name).some((v) => v !== 0)).toBe(true);
    expect(() => t.gradient('model.layers.2.self_attn.q_proj.lora_A.weight')).toThrow(
      /no trainable tensor named 'model\.layers\.2\.self_attn\.q_proj\.lora_A\.weight' \(LoRA tensors carry PEFT's prefix: 'base_model\.model\.model\.layers/,
    );
    expect(() => t.gradient('base_model.model.nope')).toThrow(/no trainable tensor named 'base_model\.model\.nope'/);
  });

  it('full: HF names and shapes of saveModel; gradient(name) reads them', async () => {
    const t = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 1e-3 } });
    await t.accumulate(randomBatch(2, 3));
    await t.saveModel(join(dir, 'full'));
    const saved = fileShapes(join(dir, 'full', 'model.safetensors'));
    expect(new Map(t.trainableTensors().map((x) => [x.name, x.shape]))).toEqual(saved);
    const g = t.gradient('model.layers.0.conv.conv.weight');
    expect(g.length).toBe(64 * 3);
    expect(g.some((v) => v !== 0)).toBe(true);
    expect(() => t.gradient('lm_head.weight')).toThrow(/no trainable tensor named 'lm_head\.weight'/);
  });
});

describe('clip statistics', () => {
  it('clip counts are whole token counts', async () => {
    const t = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 1e-3 } });
    const batch = randomBatch(4, 6);
    const now = await t.computeLogprobs(batch.sequences, batch.completionMasks);
    // Old log-probs far from the current ones put ratios outside [0.8, 1.2] on both sides.
    const oldLogprobs = now.logprobs.map((lp, i) => lp.map((v, j) => v + ((i + j) % 2 ? 0.5 : -0.5)));
    const advantages = [1, -1, 1, -1, 1, -1];
    const r = await t.accumulate({ ...batch, advantages, oldLogprobs }, { epsilon: 0.2 });
    for (const k of ['clipLow', 'clipHigh', 'clipRegion'] as const) expect(Number.isInteger(r[k]), k).toBe(true);
    expect(r.clipLow).toBeGreaterThan(0);
    expect(r.clipHigh).toBeGreaterThan(0);
    expect(r.clipRegion).toBe(r.clipLow + r.clipHigh);
  });
});
