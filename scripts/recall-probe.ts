// Recall probe: how fast does a model learn to copy a value out of its context? Synthetic sequences of random token
// ids, no tokenizer: BOS, then --pairs (key, value) pairs with --filler random tokens before each pair and before the
// question, then one of the keys again and its value, the only scored token (--queries Q: Q such questions in a row,
// keys drawn with replacement, every answer scored; held-out scoring stays on the first). Keys, values and filler come from
// disjoint id ranges (keys 100-599, values 600-1099, filler from 1200 up), so the answer is always one of the
// sequence's values and never guessable from the key alone.
//   --pairs 1 --filler 0   the value sits 2 tokens back: within the short convolutions' reach, no attention needed;
//   --pairs 1 --filler 6   the value sits 8 tokens back at a fixed distance: one attention head by position;
//   --pairs 4 --filler 0   the value follows whichever earlier key matches the question: a lookup by content.
// --value-first puts each value before its key in the pairs (the question stays key, then value): the answer is then the
// token before the matching key, as a page's bid stands before its element's name.
// Prints every --eval-every steps the share of 200 held-out sequences whose answer has probability > 1/2 and the
// mean probability (chance: 1/500 for a model that does not copy, 1/pairs for one that copies some value).
// Full fine-tuning with the engine's sft loss, batch 16, constant learning rate, FP32. The model folder is read only;
// --save DIR writes the trained model there (a Hugging Face folder, BF16 weights) to start other probes or runs from.
//
//   npx tsx scripts/recall-probe.ts --model runs/models/probe --pairs 1 --filler 6 --steps 2000
import { parseArgs } from 'node:util';
import { LfmModel } from '../lib/engine/model.ts';
import { TrainerEngine } from '../lib/engine/trainer-engine.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { useThreads } from '../lib/rl/engine-policy.ts';

const { values: o } = parseArgs({
  options: {
    model: { type: 'string' },
    pairs: { type: 'string', default: '1' },
    filler: { type: 'string', default: '6' },
    steps: { type: 'string', default: '2000' },
    lr: { type: 'string', default: '1e-3' },
    batch: { type: 'string', default: '16' },
    'eval-every': { type: 'string', default: '100' },
    threads: { type: 'string', default: '1' },
    seed: { type: 'string', default: '3' },
    queries: { type: 'string', default: '1' },
    save: { type: 'string' },
    'value-first': { type: 'boolean', default: false },
  },
});
if (!o.model) throw new Error('usage: recall-probe --model DIR [--pairs N] [--filler N] [--steps N] [--lr X]');
const num = (k: keyof typeof o, min = 0) => {
  const v = Number(o[k]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${k} must be a number >= ${min}, got ${o[k]}`);
  return v;
};
const pairs = num('pairs', 1), queries = num('queries', 1), filler = num('filler'), steps = num('steps'), batch = num('batch', 1), every = num('eval-every', 1);
if (pairs > 500) throw new Error(`--pairs must be at most 500 (the key range), got ${pairs}`);
useThreads(num('threads'));
// FP32 storage whatever the file holds, as lookup-probe: a --save checkpoint (BF16) is widened when a later run starts
// from it, so the probe trains in FP32 as it says.
const model = await LfmModel.load(o.model, { dtype: 'f32' });
if (model.config.vocabSize < 2000) throw new Error(`${o.model}: the probe needs a vocabulary of at least 2,000 ids, the model has ${model.config.vocabSize}`);
const trainer = await TrainerEngine.create(model, {
  mode: 'full',
  precision: 'exact',
  optimizer: { learningRate: num('lr'), schedule: 'constant', weightDecay: 0 },
});

/** Token ids, and the positions of the scored answers. */
function sequence(r: () => number, nq = queries): { ids: number[]; answers: number[] } {
  const distinct = new Set<number>();
  while (distinct.size < pairs) distinct.add(100 + Math.floor(r() * 500));
  const keys = [...distinct];
  const values = keys.map(() => 600 + Math.floor(r() * 500));
  const ids = [1];
  const fill = () => { for (let f = 0; f < filler; f++) ids.push(1200 + Math.floor(r() * 800)); };
  keys.forEach((k, i) => { fill(); ids.push(...(o['value-first'] ? [values[i]!, k] : [k, values[i]!])); });
  fill();
  const answers: number[] = [];
  for (let j = 0; j < nq; j++) {
    const q = Math.floor(r() * pairs);
    ids.push(keys[q]!, values[q]!);
    answers.push(ids.length - 1);
  }
  return { ids, answers };
}
const scored = (s: { ids: number[]; answers: number[] }) => s.ids.map((_, i) => (s.answers.includes(i) ? 1 : 0));
const test = Array.from({ length: 200 }, (_, i) => sequence(mulberry32(1e6 + i), 1));
const rnd = mulberry32(num('seed'));
const t0 = performance.now();
for (let step = 0; step <= steps; step++) {
  if (step % every === 0 || step === steps) {
    // logprobs[k][t] is log p(ids[t] | ids[<t]).
    const r = await trainer.computeLogprobs(test.map((t) => t.ids), test.map(scored));
    const p = test.map((t, k) => Math.exp(r.logprobs[k]![t.answers[0]!]!));
    const share = p.filter((x) => x > 0.5).length / p.length;
    const mean = p.reduce((a, b) => a + b, 0) / p.length;
    console.log(`step ${step}: held-out ${(100 * share).toFixed(1)}% (mean p ${mean.toFixed(3)})  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  if (step === steps) break;
  const b = Array.from({ length: batch }, () => sequence(rnd));
  await trainer.accumulate({ sequences: b.map((t) => t.ids), completionMasks: b.map(scored) }, { lossType: 'sft' });
  await trainer.step();
}
if (o.save) {
  await trainer.saveModel(o.save);
  console.log(`saved ${o.save}`);
}
