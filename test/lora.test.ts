// LoRA adapters in the whole model: a fresh adapter (B = 0) leaves the base model's outputs bit-identical, a merged
// adapter gives the same outputs as the unmerged one (also through Model.forward, which the sampler uses), unmerge
// restores the base exactly, and PEFT targets resolve to the right LFM2 modules.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { TrainerEngine } from '../lib/engine/trainer-engine.ts';
import { randomBatch, tinyModel } from './train-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'lfm2-lora-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ALL = ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'];

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

/** Gives every B random values (scale `amp`), so the adapter changes the model. */
function randomizeB(t: TrainerEngine, seed: number, amp: number): void {
  const r = mulberry32(seed);
  for (const m of t.info().lora!.modules) {
    const n = t.native.parameter(m + '.lora_B.weight').length;
    t.native.setParameter(m + '.lora_B.weight', Float32Array.from({ length: n }, () => amp * (2 * r() - 1)));
  }
}

describe.each(['f32', 'bf16'] as const)('LoRA on a %s base', (dtype) => {
  it('B = 0 gives exactly the base log-probs; all 8 module kinds adapted in every layer', async () => {
    const model = await tinyModel(dir, `zero-${dtype}`, dtype);
    const t = await TrainerEngine.create(model, {
      mode: 'lora', lora: { r: 8, loraAlpha: 16, targetModules: ALL, useRslora: false, seed: 4 }, optimizer: { learningRate: 1e-4 },
    });
    // 'out_proj' as a suffix hits both attention and conv out_proj (PEFT semantics): 4 conv × 5 + 2 attention × 7.
    expect(t.info().lora!.modules.length).toBe(34);
    const b = randomBatch(11, 4);
    const on = await t.computeLogprobs(b.sequences, b.completionMasks, { adapter: true });
    const off = await t.computeLogprobs(b.sequences, b.completionMasks, { adapter: false });
    expect(maxDiff(on.logprobs, off.logprobs)).toBe(0);
    // A is initialised (kaiming-uniform bound 1/sqrt(in)), not zero.
    const A = t.native.parameter('model.layers.0.conv.in_proj.lora_A.weight');
    const bound = 1 / Math.sqrt(64);
    expect(A.some((v) => v !== 0)).toBe(true);
    expect(A.every((v) => Math.abs(v) <= bound)).toBe(true);
  });

  it('merged == unmerged (hook), also through Model.forward; unmerge restores the base bit for bit', async () => {
    const model = await tinyModel(dir, `merge-${dtype}`, dtype);
    const t = await TrainerEngine.create(model, {
      mode: 'lora', lora: { r: 4, loraAlpha: 8, targetModules: ALL, useRslora: false, seed: 5 }, optimizer: { learningRate: 1e-4 },
    });
    randomizeB(t, 6, 0.05);
    const b = randomBatch(12, 3);
    const base = await t.computeLogprobs(b.sequences, b.completionMasks, { adapter: false });
    const baseLogits = (await model.forward(b.sequences, { logits: 'all' })).logits;
    const hooked = await t.computeLogprobs(b.sequences, b.completionMasks, { adapter: true });
    // The adapter must actually change the model for the comparison to mean anything.
    expect(maxDiff(hooked.logprobs, base.logprobs)).toBeGreaterThan(1e-2);
    await t.merge();
    expect(t.info().lora!.merged).toBe(true);
    const merged = await t.computeLogprobs(b.sequences, b.completionMasks, { adapter: true });
    const mergedLogits = (await model.forward(b.sequences, { logits: 'all' })).logits;
    // FP32 base: W + s·B·A differs from the hook's sum only by FP32 summation order (observed 2e-6 on log-probs of
    // size ~6). BF16 base: every merged weight is rounded to BF16 (relative 2^-9), which moves log-probs by up to ~1e-2
    // (observed 9e-3) — the same loss PEFT's merge has on a BF16 base.
    const tol = dtype === 'f32' ? 1e-4 : 4e-2;
    expect(maxDiff(merged.logprobs, hooked.logprobs)).toBeLessThan(tol);
    await t.unmerge();
    const again = await t.computeLogprobs(b.sequences, b.completionMasks, { adapter: false });
    expect(maxDiff(again.logprobs, base.logprobs)).toBe(0);
    const againLogits = (await model.forward(b.sequences, { logits: 'all' })).logits;
    expect(Buffer.from(againLogits.buffer).equals(Buffer.from(baseLogits.buffer))).toBe(true);
    // While merged, the plain forward (what a sampler runs) saw the adapter.
    let d = 0;
    for (let i = 0; i < baseLogits.length; i++) d = Math.max(d, Math.abs(mergedLogits[i] - baseLogits[i]));
    expect(d).toBeGreaterThan(1e-2);
  });
});

describe('target selection', () => {
  it('suffixes pick attention vs conv out_proj; full paths pick one module', async () => {
    const model = await tinyModel(dir, 'targets', 'bf16');
    const mods = async (targetModules: string[] | string) =>
      (await TrainerEngine.create(model, { mode: 'lora', lora: { r: 2, loraAlpha: 4, targetModules, useRslora: false }, optimizer: { learningRate: 0 } })).info().lora!.modules;
    expect(await mods(['self_attn.out_proj'])).toEqual(['model.layers.2.self_attn.out_proj', 'model.layers.4.self_attn.out_proj']);
    expect((await mods(['conv.out_proj'])).length).toBe(4);
    expect(await mods(['out_proj'])).toHaveLength(6);
    expect(await mods(['model.layers.3.feed_forward.w1'])).toEqual(['model.layers.3.feed_forward.w1']);
    expect(await mods(String.raw`model\.layers\.[01]\.conv\.(in|out)_proj`)).toEqual([
      'model.layers.0.conv.in_proj', 'model.layers.0.conv.out_proj', 'model.layers.1.conv.in_proj', 'model.layers.1.conv.out_proj',
    ]);
  });

  it('rsLoRA scale is alpha/sqrt(r)', async () => {
    const model = await tinyModel(dir, 'rs', 'bf16');
    const t = await TrainerEngine.create(model, { mode: 'lora', lora: { r: 16, loraAlpha: 8, targetModules: ['w1'], useRslora: true }, optimizer: { learningRate: 0 } });
    expect(t.info().lora!.scale).toBe(2);
  });
});
