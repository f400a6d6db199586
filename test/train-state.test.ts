// Checkpoint files of the training engine: trainer state (resume = uninterrupted run, bit for bit), PEFT adapter
// folders (layout, config, round trip) and Hugging Face model folders (BF16, round trip).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { readAdapterConfig } from '../lib/engine/peft.ts';
import { TrainerEngine, type TrainerEngineOptions } from '../lib/engine/trainer-engine.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import { differing, randomBatch, snapshot, tinyModel } from './train-helpers.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-state-');

const LORA: TrainerEngineOptions = {
  mode: 'lora',
  lora: { r: 4, loraAlpha: 8, targetModules: ['q_proj', 'self_attn.out_proj', 'in_proj', 'w1', 'w2'], useRslora: false, seed: 7 },
  optimizer: { learningRate: 5e-3, schedule: 'linear', warmupSteps: 2, totalSteps: 10, weightDecay: 0.01, maxGradNorm: 0.5 },
};
const FULL: TrainerEngineOptions = {
  mode: 'full',
  optimizer: { learningRate: 1e-3, schedule: 'cosine', warmupSteps: 1, totalSteps: 10, weightDecay: 0.01, maxGradNorm: 1 },
};

/** One optimizer step over two micro-batches (gradient accumulation); the batch depends only on the step index. */
async function trainStep(t: TrainerEngine, step: number): Promise<void> {
  for (const mb of [0, 1]) {
    const b = randomBatch(1000 + 10 * step + mb, 2);
    // Off-policy ratios and a KL term so every part of the loss is exercised.
    const old = b.sequences.map((s) => s.map(() => -6.3));
    const ref = b.sequences.map((s) => s.map(() => -6.2));
    await t.accumulate({ ...b, oldLogprobs: old, refLogprobs: ref }, { beta: 0.04, tokenNormalizer: 20 });
  }
  const r = await t.step();
  expect(r.skipped).toBe(false);
}

describe.each([
  ['LoRA', LORA],
  ['full fine-tune (BF16 weights, FP32 masters)', FULL],
] as const)('%s: save, reload, continue', (label, opts) => {
  it('is bit-identical to the uninterrupted run (weights, moments via later steps, log-probs, extra state)', async () => {
    const name = opts.mode;
    const model = await tinyModel(dir, `run-${name}`, 'bf16');
    const a = await TrainerEngine.create(model, opts);
    for (let s = 0; s < 3; s++) await trainStep(a, s);
    const ckpt = join(dir, `ckpt-${name}`);
    const extra = { samplerRng: [1, 2, 3], dataPosition: 17, note: 'ünïcode "quoted"' };
    await a.saveState(ckpt, extra);
    for (let s = 3; s < 6; s++) await trainStep(a, s);
    const b0 = randomBatch(99, 3);
    const want = await a.computeLogprobs(b0.sequences, b0.completionMasks);
    const wantLogits = (await model.forward(b0.sequences, { logits: 'all' })).logits;

    // A new process would load the base model from disk again and restore the state.
    const model2 = await tinyModel(dir, `resume-${name}`, 'bf16');
    const b = await TrainerEngine.create(model2, opts);
    expect(await b.loadState(ckpt)).toEqual(extra);
    expect(b.info().step).toBe(3);
    for (let s = 3; s < 6; s++) await trainStep(b, s);
    expect(b.info().step).toBe(6);
    expect(differing(snapshot(a), snapshot(b)), label).toEqual([]);
    const got = await b.computeLogprobs(b0.sequences, b0.completionMasks);
    got.logprobs.forEach((lp, i) => expect(Buffer.from(lp.buffer).equals(Buffer.from(want.logprobs[i].buffer))).toBe(true));
    // The model's own BF16 weights match too (what the sampler uses).
    const gotLogits = (await model2.forward(b0.sequences, { logits: 'all' })).logits;
    expect(Buffer.from(gotLogits.buffer).equals(Buffer.from(wantLogits.buffer))).toBe(true);
  });
});

describe('trainer state errors', () => {
  it('a LoRA state does not load into a full trainer, nor one with other targets; nothing changes', async () => {
    const model = await tinyModel(dir, 'mismatch', 'bf16');
    const a = await TrainerEngine.create(model, LORA);
    const ckpt = join(dir, 'ckpt-mismatch');
    await a.saveState(ckpt);
    const full = await TrainerEngine.create(model, FULL);
    await expect(full.loadState(ckpt)).rejects.toThrow(/saved in lora mode, the trainer is in full mode/);
    const other = await TrainerEngine.create(model, { ...LORA, lora: { ...LORA.lora!, targetModules: ['w3'] } });
    const before = snapshot(other);
    await expect(other.loadState(ckpt)).rejects.toThrow(/missing tensor model\.layers\.0\.feed_forward\.w3\.lora_A\.weight/);
    expect(differing(before, snapshot(other))).toEqual([]);
    await expect(a.loadState(join(dir, 'nowhere'))).rejects.toThrow(/cannot open .*trainer_state\.json/);
  });
});

describe('PEFT adapter folder', () => {
  it('has PEFT keys, shapes and config, and loads back identically', async () => {
    const model = await tinyModel(dir, 'peft', 'bf16');
    const t = await TrainerEngine.create(model, LORA);
    for (let s = 0; s < 2; s++) await trainStep(t, s);
    const out = join(dir, 'adapter');
    await t.saveAdapter(out, 'LiquidAI/LFM2-350M');
    const st = readSafetensors(join(out, 'adapter_model.safetensors'));
    expect(st.metadata).toEqual({ format: 'pt' });
    const q = st.tensors.get('base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight')!;
    expect(q.dtype).toBe('F32');
    expect(q.shape).toEqual([4, 64]);
    expect(st.tensors.get('base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight')!.shape).toEqual([64, 4]);
    expect(st.tensors.get('base_model.model.model.layers.0.feed_forward.w2.lora_A.weight')!.shape).toEqual([4, 192]);
    expect(st.tensors.size).toBe(2 * t.info().lora!.modules.length);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, base_model_name_or_path: 'LiquidAI/LFM2-350M',
      target_modules: ['q_proj', 'self_attn.out_proj', 'in_proj', 'w1', 'w2'], use_rslora: false, bias: 'none',
    });
    expect(readAdapterConfig(out).targetModules).toEqual(LORA.lora!.targetModules);

    const model2 = await tinyModel(dir, 'peft-load', 'bf16');
    const u = await TrainerEngine.fromAdapter(model2, out, { optimizer: { learningRate: 1e-3 } });
    expect(differing(snapshot(t), snapshot(u))).toEqual([]);
    const b = randomBatch(5, 3);
    const x = await t.computeLogprobs(b.sequences, b.completionMasks);
    const y = await u.computeLogprobs(b.sequences, b.completionMasks);
    x.logprobs.forEach((lp, i) => expect(Buffer.from(lp.buffer).equals(Buffer.from(y.logprobs[i].buffer))).toBe(true));
    // loadAdapter into a trainer configured differently is refused with both settings named.
    const w = await TrainerEngine.create(model2, { ...LORA, lora: { ...LORA.lora!, r: 8 } });
    await expect(w.loadAdapter(out)).rejects.toThrow(/has r=4.*this trainer has r=8/);
  });
});

describe('Hugging Face model folder', () => {
  it('an untouched BF16 model saves to the same tensors; a trained one reloads with its weights', async () => {
    const model = await tinyModel(dir, 'hf', 'bf16');
    const t = await TrainerEngine.create(model, FULL);
    const out0 = join(dir, 'hf-0');
    await t.saveModel(out0);
    const src = readSafetensors(join(dir, 'hf', 'model.safetensors'));
    const saved = readSafetensors(join(out0, 'model.safetensors'));
    expect(saved.metadata).toEqual({ format: 'pt' });
    expect([...saved.tensors.keys()].sort()).toEqual([...src.tensors.keys()].sort());
    expect(saved.tensors.has('lm_head.weight')).toBe(false);
    for (const [name, info] of src.tensors) {
      const s = saved.tensors.get(name)!;
      expect(s.dtype, name).toBe('BF16');
      expect(s.shape, name).toEqual(info.shape); // conv kernel back in HF [C, 1, 3]
      expect(Buffer.from(s.data).equals(Buffer.from(info.data)), name).toBe(true);
    }
    expect(JSON.parse(readFileSync(join(out0, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    expect(existsSync(join(out0, 'tokenizer.json'))).toBe(true);

    // After LoRA training the saved model has the adapter folded in: reloading it reproduces the merged model.
    const lmodel = await tinyModel(dir, 'hf-lora', 'bf16');
    const l = await TrainerEngine.create(lmodel, LORA);
    for (let s = 0; s < 2; s++) await trainStep(l, s);
    const out1 = join(dir, 'hf-1');
    await l.saveModel(out1);
    const b = randomBatch(8, 2);
    await l.merge();
    const merged = (await lmodel.forward(b.sequences, { logits: 'all' })).logits;
    await l.unmerge();
    const reloaded = (await (await LfmModel.load(out1)).forward(b.sequences, { logits: 'all' })).logits;
    // Both fold W + s·B·A into BF16; only the order of the FP32 sum before rounding differs (at most 1 BF16 ulp on
    // a few weights), so logits agree to ~1e-3 of their size.
    let d = 0, m = 0;
    for (let i = 0; i < merged.length; i++) {
      d = Math.max(d, Math.abs(merged[i] - reloaded[i]));
      m = Math.max(m, Math.abs(merged[i]));
    }
    expect(d).toBeLessThan(1e-2 * m);
  });
});
