// Whole-model gradients over a long sequence: a 260-token sequence crosses several 64-row attention tiles, and the
// scored tokens at its end reach its first tokens only through attention. The native engine (FP32, `exact`) against
// central finite differences of the float64 reference loss (test/ref/train-model-ref.ts), at the embedding rows of
// two tokens that occur once (position 1 and the middle), the attention projections and a conv layer.
//
// Tolerance as in train-grad.test.ts: |g − g_fd| ≤ 2e-4·max|g over the tensor| + 2e-3·|g_fd|. The FP32 sums are
// longer here (260 keys per softmax row) but stay ~1e-6 relative (observed ~1e-5 of the tensor scale at 700 tokens).
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { mulberry32, writeRandomModel } from '../lib/engine/init-weights.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { TrainerEngine } from '../lib/engine/trainer-engine.ts';
import { loadRefModel, type RefModel } from './ref/lfm2-ref.ts';
import { refModelLoss, refTensor, type RefBatch, type RefLossOptions } from './ref/train-model-ref.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-grad-long-');
const modelDir = join(dir, 'tiny');
const T = 260;

let model: LfmModel;
let ref: RefModel;
beforeAll(async () => {
  writeRandomModel(modelDir, presetConfig('tiny'), { seed: 11, dtype: 'f32', std: 0.1 });
  model = await LfmModel.load(modelDir);
  ref = loadRefModel(modelDir);
});

describe('gradients over a sequence longer than an attention tile', () => {
  it('reach the first tokens and match float64 finite differences', async () => {
    const rnd = mulberry32(2024);
    // Ids 2..400 at random; 500 and 501 occur once each (position 1 and the middle), so their embedding rows'
    // lookup gradients come from one position far from the scored tokens.
    const seq = Array.from({ length: T }, () => 2 + Math.floor(rnd() * 399));
    seq[1] = 500;
    seq[T >> 1] = 501;
    const mask = seq.map((_, t) => (t >= T - 4 ? 1 : 0));
    const lossOpts: RefLossOptions = { lossType: 'grpo', epsLow: 0.2, epsHigh: 0.28, beta: 0, temperature: 1 };
    const t = await TrainerEngine.create(model, { mode: 'full', precision: 'exact', optimizer: { learningRate: 0 } });
    const { logprobs } = await t.computeLogprobs([seq], [mask]);
    // Old log-probs a little off the current ones: ratios inside the clip range, no kink for the differences.
    const old = [Array.from(logprobs[0], (v, i) => (mask[i] ? v + 0.03 * (2 * rnd() - 1) : 0))];
    const res = await t.accumulate(
      { sequences: [seq], completionMasks: [mask], advantages: [1.1], oldLogprobs: old },
      { lossType: 'grpo', epsilon: 0.2, epsilonHigh: 0.28, beta: 0, temperature: 1 },
    );
    const rb: RefBatch = { sequences: [seq], masks: [mask], advantages: [1.1], old };
    expect(Math.abs(res.loss - refModelLoss(ref, rb, lossOpts))).toBeLessThan(1e-5);

    const probes: [string, number[]][] = [
      ['model.embed_tokens.weight', [500 * ref.C + 3, 500 * ref.C + 40, 501 * ref.C + 17]],
      ['model.layers.2.self_attn.q_proj.weight', [0, 333, 1500]],
      ['model.layers.4.self_attn.k_proj.weight', [7, 700]],
      ['model.layers.4.self_attn.v_proj.weight', [12, 900]],
      ['model.layers.0.conv.in_proj.weight', [5, 4000]],
    ];
    for (const [name, idx] of probes) {
      const g = t.native.gradient(name);
      const x = refTensor(ref, name);
      let scale = 0;
      for (const v of g) scale = Math.max(scale, Math.abs(v));
      expect(scale, `${name}: gradient is all zero`).toBeGreaterThan(0);
      for (const i of idx) {
        const keep = x[i], h = 1e-5;
        x[i] = keep + h;
        const up = refModelLoss(ref, rb, lossOpts);
        x[i] = keep - h;
        const down = refModelLoss(ref, rb, lossOpts);
        x[i] = keep;
        const want = (up - down) / (2 * h);
        expect(Math.abs(g[i] - want), `${name}[${i}]: native ${g[i]} vs finite difference ${want}`).toBeLessThanOrEqual(2e-4 * scale + 2e-3 * Math.abs(want));
      }
    }
    // The far token's row is not a bystander: its gradient is a real share of the embedding's.
    const ge = t.native.gradient('model.embed_tokens.weight');
    let row = 0;
    for (let c = 0; c < ref.C; c++) row = Math.max(row, Math.abs(ge[500 * ref.C + c]));
    expect(row).toBeGreaterThan(1e-6);
  });
});
