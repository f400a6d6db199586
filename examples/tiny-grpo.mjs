// lfm2-rl as a library, from plain Node: a random-weight tiny LFM2, one forward pass, sampling, and a few GRPO steps
// on a toy reward (the share of even token ids in a completion). Run: node examples/tiny-grpo.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupAdvantages, LfmModel, presetConfig, Sampler, TrainerEngine, writeRandomModel } from 'lfm2-rl';

const dir = join(mkdtempSync(join(tmpdir(), 'lfm2-example-')), 'tiny');
writeRandomModel(dir, presetConfig('tiny'), { seed: 0, dtype: 'f32', std: 0.2 });
const model = await LfmModel.load(dir);
const prompt = [1, 6, 42, 7];
const { logits, vocab } = await model.forward([prompt], { logits: 'last' });
console.log(`forward: ${vocab} logits, argmax ${logits.indexOf(Math.max(...logits))}`);

const sampler = new Sampler(model);
const trainer = await TrainerEngine.create(model, { mode: 'full', optimizer: { learningRate: 3e-3 } });
for (let step = 1; step <= 4; step++) {
  const { results } = await sampler.generate([{ prompt, n: 8 }], { maxNewTokens: 6, seed: step, stopTokenIds: [] });
  const samples = results[0].samples;
  const rewards = samples.map((s) => s.tokens.filter((t) => t % 2 === 0).length / s.tokens.length);
  const sequences = samples.map((s) => [...prompt, ...s.tokens]);
  const completionMasks = sequences.map((seq) => seq.map((_, i) => (i < prompt.length ? 0 : 1)));
  const oldLogprobs = samples.map((s) => [...prompt.map(() => 0), ...s.logprobs]);
  const { advantages } = groupAdvantages(rewards, 8, 'group');
  const r = await trainer.accumulate({ sequences, completionMasks, advantages, oldLogprobs });
  const g = trainer.gradient('model.embed_tokens.weight');
  const s = await trainer.step();
  sampler.clearCache(); // cached prompt states belong to the old weights
  const mean = rewards.reduce((a, b) => a + b, 0) / rewards.length;
  console.log(`step ${s.step}: reward ${mean.toFixed(3)} loss ${r.loss.toFixed(4)} |grad| ${s.gradNorm.toFixed(4)} embed grad ${Math.hypot(...g).toFixed(4)}`);
}
