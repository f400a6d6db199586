// Whole-model forward of the native engine against the float64 reference (test/ref/lfm2-ref.ts), on the `tiny`
// preset (F32 and BF16 files) and on a 2-layer slice of the real LFM2-350M shapes (one conv + one attention layer,
// hidden 1024, ff 4608, 16/8 heads; vocab reduced to 2048 so the float64 reference head stays quick).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { derivedConfig, presetConfig } from '../lib/engine/presets.ts';
import { lfm2TensorSpecs, mulberry32, writeRandomModel } from '../lib/engine/init-weights.ts';
import { loadRefModel, refForward } from './ref/lfm2-ref.ts';

const dir = mkdtempSync(join(tmpdir(), 'lfm2-fwd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * vocab));
}

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
  it('lfm2-350m preset has the released parameter count and tensor count (lfm2.md §2)', () => {
    const specs = lfm2TensorSpecs(presetConfig('lfm2-350m'));
    expect(specs.length).toBe(148);
    expect(specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0)).toBe(354_483_968);
    expect(specs.find((s) => s.name === 'model.layers.0.feed_forward.w1.weight')!.shape).toEqual([4608, 1024]);
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
    const seqs = [randomTokens(1, 512, 1), randomTokens(9, 512, 2), randomTokens(37, 512, 3)];
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
    const seqs = [randomTokens(4, 512, 5), randomTokens(2, 512, 6)];
    const all = await model.forward(seqs, { logits: 'all' });
    const last = await model.forward(seqs, { logits: 'last' });
    expect(Array.from(last.logitRows)).toEqual([3, 5]);
    expect(last.logits).toEqual(new Float32Array([...all.logits.subarray(3 * 512, 4 * 512), ...all.logits.subarray(5 * 512, 6 * 512)]));
    const none = await model.forward(seqs, { logits: 'none' });
    expect(none.logits.length).toBe(0);
  });

  it("'fast' precision stays close to the exact path", async () => {
    const s = randomTokens(12, 512, 8);
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
    const tokens = randomTokens(6, 2048, 21);
    const got = await model.logits(tokens);
    const want = refForward(loadRefModel(modelDir), tokens).logits;
    const c = compare(got, want);
    // K up to 4608 in FP32: relative error ~sqrt(K)·6e-8 ≈ 4e-6 per GEMM; 1e-4 of the logit range is ample.
    expect(c.maxRef).toBeGreaterThan(0.5);
    expect(c.maxDiff).toBeLessThan(1e-4 * c.maxRef);
  }, 300_000);
});
