// Sampling matches the model's distribution: many samples of the first token (and of the second token after a fixed
// first one) from a small-vocabulary model, compared with softmax of a full forward's logits by a chi-square test.
// Also: same seed and batch → identical output; different seeds → different output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sampler } from '../lib/engine/sampler.ts';
import { refDistribution } from './ref/sampler-ref.ts';
import { fullLogits, row, smallVocabModel, type TestModel } from './sampler-helpers.ts';

const V = 16;
let tm: TestModel;
beforeAll(async () => {
  tm = await smallVocabModel(V);
});
afterAll(() => tm.dispose());

/**
 * Pearson chi-square of observed counts against probabilities; cells with expected count < 5 are pooled (the usual
 * validity rule). Returns the statistic and the degrees of freedom.
 */
function chiSquare(counts: number[], probs: number[], total: number): { chi2: number; df: number } {
  let chi2 = 0, cells = 0, poolE = 0, poolO = 0;
  for (let i = 0; i < probs.length; i++) {
    const e = probs[i] * total;
    if (e < 5) {
      poolE += e;
      poolO += counts[i];
      continue;
    }
    chi2 += (counts[i] - e) ** 2 / e;
    cells++;
  }
  if (poolE > 0) {
    chi2 += (poolO - poolE) ** 2 / Math.max(poolE, 1e-9);
    cells++;
  }
  return { chi2, df: cells - 1 };
}

// Upper 0.001 critical values of chi-square by degrees of freedom (tables): a correct sampler fails with
// probability 0.001 per check, and the seeds are fixed, so the outcome is reproducible.
const CRIT_001 = [0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.7, 39.25];

function softmax(x: ArrayLike<number>, t = 1): number[] {
  const m = Math.max(...Array.from(x, (v) => v / t));
  const e = Array.from(x, (v) => Math.exp(v / t - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const N = 6000;

describe('samples follow the model distribution', () => {
  it('first token at temperature 1 (one group of 6000 forks)', async () => {
    const prompt = [1, 5, 9, 3];
    const p = softmax(row(await fullLogits(tm.model, prompt), V, prompt.length - 1));
    // The test has power only if the distribution is far from uniform: check the logits are spread.
    expect(Math.max(...p) / Math.min(...p)).toBeGreaterThan(3);
    const out = await new Sampler(tm.model).generate([{ prompt, n: N }], { maxNewTokens: 1, stopTokenIds: [], seed: 123 });
    const counts = new Array(V).fill(0);
    for (const s of out.results[0].samples) counts[s.tokens[0]]++;
    const { chi2, df } = chiSquare(counts, p, N);
    expect(chi2).toBeLessThan(CRIT_001[df]);
    // The same counts against a wrong distribution (temperature 0.7) must be rejected: the test can fail.
    const wrong = chiSquare(counts, softmax(row(await fullLogits(tm.model, prompt), V, prompt.length - 1), 0.7), N);
    expect(wrong.chi2).toBeGreaterThan(CRIT_001[wrong.df]);
    // Old log-probs of the sampled tokens are the model's log-probs.
    for (const s of out.results[0].samples.slice(0, 50)) expect(s.logprobs[0]).toBeCloseTo(Math.log(p[s.tokens[0]]), 5);
  });

  it('second token given the first, with temperature, top-k and repetition penalty', async () => {
    const prompt = [1, 4, 4, 7, 12];
    const opts = { temperature: 0.8, topK: 10, repetitionPenalty: 1.3 };
    const out = await new Sampler(tm.model).generate([{ prompt, n: N }], { ...opts, maxNewTokens: 2, stopTokenIds: [], seed: 7 });
    // Condition on the most frequent first token.
    const firstCounts = new Map<number, number>();
    for (const s of out.results[0].samples) firstCounts.set(s.tokens[0], (firstCounts.get(s.tokens[0]) ?? 0) + 1);
    const first = [...firstCounts.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const seconds = out.results[0].samples.filter((s) => s.tokens[0] === first).map((s) => s.tokens[1]);
    expect(seconds.length).toBeGreaterThan(500);
    const ctx = [...prompt, first];
    const logits = row(await fullLogits(tm.model, ctx), V, ctx.length - 1);
    const ref = refDistribution(logits, opts, ctx);
    const q = new Array(V).fill(0);
    ref.ids.forEach((id, i) => (q[id] = ref.probs[i]));
    const counts = new Array(V).fill(0);
    for (const t of seconds) counts[t]++;
    for (let i = 0; i < V; i++) if (q[i] === 0) expect(counts[i]).toBe(0); // filtered tokens never appear
    const { chi2, df } = chiSquare(counts, q, seconds.length);
    expect(chi2).toBeLessThan(CRIT_001[df]);
  });
});

describe('determinism', () => {
  it('same seed and batch → identical output; another seed → different output', async () => {
    const reqs = [{ prompt: [1, 2, 3], n: 4 }, { prompt: [1, 2, 9, 9], n: 3 }];
    const opts = { maxNewTokens: 12, stopTokenIds: [], topP: 0.95 };
    const a = await new Sampler(tm.model).generate(reqs, { ...opts, seed: 42 });
    const b = await new Sampler(tm.model, { cacheBytes: 0 }).generate(reqs, { ...opts, seed: 42 });
    const c = await new Sampler(tm.model).generate(reqs, { ...opts, seed: 43 });
    const toks = (o: typeof a) => o.results.map((r) => r.samples.map((s) => [...s.tokens]));
    expect(toks(b)).toEqual(toks(a));
    expect(toks(c)).not.toEqual(toks(a));
    // Samples of one group draw from their own streams: not all equal.
    const g = toks(a)[0].map((t) => t.join(','));
    expect(new Set(g).size).toBeGreaterThan(1);
  });
});
