// Whole-model forward of the native engine against the float64 reference (test/ref/lfm2-ref.ts), on the `tiny`
// preset (F32 and BF16 files) and on a 2-layer slice of the real LFM2-350M shapes (one conv + one attention layer,
// hidden 1024, ff 4608, 16/8 heads; vocab reduced to 2048 so the float64 reference head stays quick).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { derivedConfig, presetConfig } from '../lib/engine/presets.ts';
import { lfm2TensorSpecs, tensorValues, writeRandomModel } from '../lib/engine/init-weights.ts';
import { loadRefModel, refForward } from './ref/lfm2-ref.ts';
import { readSafetensors, writeSafetensors } from '../lib/io/safetensors.ts';
import { randomTokens } from './util/random.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-fwd-');

/** max |a − b| and max |b| over all elements. */
function compare(a: ArrayLike<number>, b: ArrayLike<number>): { maxDiff: number; maxRef: number } {
  expect(a.length).toBe(b.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return { maxDiff, maxRef };
}

describe('preset shapes', () => {
  it('lfm2-350m preset has the released parameter count and tensor count (docs/lfm2.md §2)', () => {
    const specs = lfm2TensorSpecs(presetConfig('lfm2-350m'));
    expect(specs.length).toBe(148);
    expect(specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0)).toBe(354_483_968);
    expect(specs.find((s) => s.name === 'model.layers.0.feed_forward.w1.weight')!.shape).toEqual([4608, 1024]);
  });
});

describe('random init', () => {
  it('normal tensors have the requested std, are deterministic per (seed, name) and differ across names', () => {
    const spec = { name: 'model.layers.0.feed_forward.w1.weight', shape: [400, 500], init: 'normal' as const };
    const a = tensorValues(spec, 9, 0.02);
    let m = 0, s2 = 0;
    for (const x of a) m += x;
    m /= a.length;
    for (const x of a) s2 += (x - m) ** 2;
    const std = Math.sqrt(s2 / (a.length - 1));
    // 200,000 samples of N(0, 0.02): std standard error 3.2e-5, mean standard error 4.5e-5; the bounds are ≥ 4.4 of them.
    expect(Math.abs(std - 0.02)).toBeLessThan(0.02 * 0.01);
    expect(Math.abs(m)).toBeLessThan(2e-4);
    expect(tensorValues(spec, 9, 0.02)).toEqual(a);
    expect(tensorValues({ ...spec, name: 'model.layers.1.feed_forward.w1.weight' }, 9, 0.02)).not.toEqual(a);
    const norm = tensorValues({ name: 'n', shape: [5000], init: 'norm' }, 1, 0.02);
    expect(Math.abs(norm.reduce((x, y) => x + y, 0) / 5000 - 1)).toBeLessThan(0.01);
    const conv = tensorValues({ name: 'c', shape: [100, 1, 3], init: 'conv' }, 1, 0.02);
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(3));
  });
});

describe.each([
  ['f32', 'f32'],
  ['bf16', 'bf16'],
] as const)('tiny preset, %s weights', (_label, dtype) => {
  const modelDir = join(dir, `tiny-${dtype}`);
  let model: LfmModel;
  beforeAll(async () => {
    // std 0.2 instead of the 0.02 init: larger weights make every layer change the logits visibly.
    writeRandomModel(modelDir, presetConfig('tiny'), { seed: 11, dtype, std: 0.2 });
    model = await LfmModel.load(modelDir);
  });

  it('reports config, tensors and parameter count', () => {
    const info = model.info;
    expect(info.dtype).toBe(dtype);
    expect(info.config.ffDim).toBe(192);
    expect(info.config.layerTypes).toEqual(['conv', 'conv', 'full_attention', 'conv', 'full_attention', 'conv']);
    expect(info.tensors.length).toBe(56);
    const specs = lfm2TensorSpecs(presetConfig('tiny'));
    expect(info.parameterCount).toBe(specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0));
  });

  it('ragged batch logits and hidden states match the float64 reference', async () => {
    const ref = loadRefModel(modelDir);
    const seqs = [randomTokens(1, 1, 512), randomTokens(9, 2, 512), randomTokens(37, 3, 512)];
    const r = await model.forward(seqs, { logits: 'all', hidden: true });
    expect(r.logits.length).toBe((1 + 9 + 37) * 512);
    let row = 0;
    for (const s of seqs) {
      const want = refForward(ref, s);
      const got = r.logits.subarray(row * 512, (row + s.length) * 512);
      const gotHidden = r.hidden!.subarray(row * 64, (row + s.length) * 64);
      const lc = compare(got, want.logits);
      const hc = compare(gotHidden, want.hidden);
      // FP32 GEMM/softmax against float64: rounding ~6e-8 per op, K ≤ 192 terms, 6 layers; measured 2.3e-6 of the
      // largest logit (~6), so 2e-5 of it leaves ~10× headroom while any wrong formula is off by far more.
      expect(lc.maxRef).toBeGreaterThan(0.5);
      expect(lc.maxDiff).toBeLessThan(2e-5 * lc.maxRef);
      expect(hc.maxDiff).toBeLessThan(2e-5 * hc.maxRef);
      row += s.length;
    }
  });

  it("'last' logits equal the last rows of 'all'; 'none' gives no logits", async () => {
    const seqs = [randomTokens(4, 5, 512), randomTokens(2, 6, 512)];
    const all = await model.forward(seqs, { logits: 'all' });
    const last = await model.forward(seqs, { logits: 'last' });
    expect(Array.from(last.logitRows)).toEqual([3, 5]);
    expect(last.logits).toEqual(new Float32Array([...all.logits.subarray(3 * 512, 4 * 512), ...all.logits.subarray(5 * 512, 6 * 512)]));
    const none = await model.forward(seqs, { logits: 'none' });
    expect(none.logits.length).toBe(0);
  });

  it('training-mode storage (every layer keeps its activations) gives bit-identical results', async () => {
    const seqs = [randomTokens(7, 31, 512), randomTokens(3, 32, 512)];
    const plain = await model.forward(seqs, { logits: 'all', hidden: true });
    const kept = await model.forward(seqs, { logits: 'all', hidden: true, retainActivations: true });
    expect(kept.logits).toEqual(plain.logits);
    expect(kept.hidden).toEqual(plain.hidden);
    // And back to inference storage afterwards.
    expect((await model.forward(seqs, { logits: 'all' })).logits).toEqual(plain.logits);
  });

  it("'fast' precision stays close to the exact path", async () => {
    const s = randomTokens(12, 8, 512);
    const exact = await model.logits(s);
    const fast = await model.logits(s, { precision: 'fast' });
    const c = compare(fast, exact);
    // BF16 activation rounding (8 bits of mantissa, rel. 2^-9) through 6 layers: a few percent of the logit range.
    expect(c.maxDiff).toBeLessThan(0.05 * c.maxRef);
  });
});

describe('2-layer slice of the LFM2-350M shapes (vocab reduced to 2048)', () => {
  const modelDir = join(dir, 'slice350');
  it('matches the float64 reference', async () => {
    const cfg = derivedConfig('lfm2-350m', { layers: 2, attention: [1], vocab: 2048 });
    writeRandomModel(modelDir, cfg, { seed: 3, dtype: 'bf16', std: 0.05 });
    const model = await LfmModel.load(modelDir);
    expect(model.config.ffDim).toBe(4608);
    expect(model.config.headDim).toBe(64);
    const tokens = randomTokens(6, 21, 2048);
    const got = await model.logits(tokens);
    const want = refForward(loadRefModel(modelDir), tokens).logits;
    const c = compare(got, want);
    // K up to 4608 in FP32: relative error ~sqrt(K)·6e-8 ≈ 4e-6 per GEMM; 1e-4 of the logit range is ample.
    expect(c.maxRef).toBeGreaterThan(0.5);
    expect(c.maxDiff).toBeLessThan(1e-4 * c.maxRef);
  }, 300_000);
});

describe('config aliases and sharded checkpoints', () => {
  const base = join(dir, 'alias-base');
  const tokens = [1, 7, 300, 42, 5];
  let want: Float32Array;
  beforeAll(async () => {
    writeRandomModel(base, presetConfig('tiny'), { seed: 4, dtype: 'f32', std: 0.2 });
    want = await (await LfmModel.load(base)).logits(tokens);
  });

  it('a legacy config (full_attn_idxs, block_* names, eos list) loads the same model', async () => {
    const d = join(dir, 'alias-legacy');
    mkdirSync(d);
    copyFileSync(join(base, 'model.safetensors'), join(d, 'model.safetensors'));
    const cfg = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8'));
    for (const k of ['layer_types', 'hidden_size', 'num_attention_heads', 'intermediate_size', 'norm_eps', 'rope_theta', 'tie_word_embeddings'])
      delete cfg[k];
    cfg.eos_token_id = [7, 2];
    writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
    const m = await LfmModel.load(d);
    expect(m.config.layerTypes).toEqual(['conv', 'conv', 'full_attention', 'conv', 'full_attention', 'conv']);
    expect(m.config.eosTokenId).toBe(7);
    expect(await m.logits(tokens)).toEqual(want);
  });

  it('a sharded checkpoint (model.safetensors.index.json) loads the same model', async () => {
    const d = join(dir, 'alias-sharded');
    mkdirSync(d);
    copyFileSync(join(base, 'config.json'), join(d, 'config.json'));
    const st = readSafetensors(join(base, 'model.safetensors'));
    const names = [...st.tensors.keys()];
    const shards = [names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 2 === 1)];
    const weightMap: Record<string, string> = {};
    shards.forEach((list, k) => {
      const file = `model-0000${k + 1}-of-00002.safetensors`;
      writeSafetensors(join(d, file), list.map((n) => ({ name: n, ...st.tensors.get(n)! })), { format: 'pt' });
      for (const n of list) weightMap[n] = file;
    });
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const m = await LfmModel.load(d);
    expect(new Set(m.info.tensors.map((t) => t.source.split('/').pop()))).toEqual(
      new Set(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']),
    );
    expect(await m.logits(tokens)).toEqual(want);
  });
});
