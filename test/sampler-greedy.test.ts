// Greedy generation equals step-by-step argmax over full forwards of prompt + completion so far, for a batch of
// prompts of different lengths decoded together, with groups, the common-prefix path and the prefix cache in play.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sampler } from '../lib/engine/sampler.ts';
import { argmax, fullLogits, logSoftmaxAt, randomTokens, row, tinyModel, type TestModel } from './sampler-helpers.ts';

let tm: TestModel;
beforeAll(async () => {
  tm = await tinyModel();
});
afterAll(() => tm.dispose());

/** Reference: feed the whole sequence each step and take the argmax of the last row. */
async function greedyReference(prompt: number[], steps: number, stopIds: number[]) {
  const seq = [...prompt];
  const tokens: number[] = [];
  const logprobs: number[] = [];
  let margin = Infinity; // smallest gap between best and second-best logit: ties would make argmax ill-defined
  for (let s = 0; s < steps; s++) {
    const last = row(await fullLogits(tm.model, seq), tm.V, seq.length - 1);
    const t = argmax(last);
    const sorted = [...last].sort((a, b) => b - a);
    margin = Math.min(margin, sorted[0] - sorted[1]);
    tokens.push(t);
    logprobs.push(logSoftmaxAt(last, t));
    seq.push(t);
    if (stopIds.includes(t)) break;
  }
  return { tokens, logprobs, margin };
}

describe('greedy == argmax over full forwards', () => {
  it('ragged batch, groups and shared prefix, two calls (second from the prefix cache)', async () => {
    const shared = randomTokens(6, 1, tm.V, 10);
    const prompts = [
      [...shared, ...randomTokens(5, 2, tm.V, 10)],
      [...shared, ...randomTokens(1, 3, tm.V, 10)],
      [...shared, ...randomTokens(13, 4, tm.V, 10)],
      shared,
    ];
    const steps = 12;
    const want = await Promise.all(prompts.map((p) => greedyReference(p, steps, [])));
    // Logit gaps far above the FP32 differences between batched and full forwards (~1e-5) make argmax well-defined.
    for (const w of want) expect(w.margin).toBeGreaterThan(1e-4);
    const sampler = new Sampler(tm.model);
    for (let call = 0; call < 2; call++) {
      const out = await sampler.generate(
        prompts.map((p, i) => ({ prompt: p, n: i === 0 ? 3 : 1 })),
        { temperature: 0, maxNewTokens: steps, stopTokenIds: [], seed: call },
      );
      expect(out.results.length).toBe(prompts.length);
      for (let r = 0; r < prompts.length; r++) {
        for (const s of out.results[r].samples) {
          expect([...s.tokens]).toEqual(want[r].tokens);
          expect(s.finishReason).toBe('length');
          // FP32 log-softmax of O(1..10) logits: 1e-4 absolute covers batched-vs-full summation order.
          for (let t = 0; t < steps; t++) expect(Math.abs(s.logprobs[t] - want[r].logprobs[t])).toBeLessThan(1e-4);
          expect([...s.sampleLogprobs].every((x) => x === 0)).toBe(true);
        }
      }
      if (call === 0) expect(out.stats.sharedTokens).toBeGreaterThan(0);
      else expect(out.stats.cachedTokens).toBe(out.stats.promptTokens);
    }
  });

  it('stops at a stop token, which is kept in the completion', async () => {
    const prompt = randomTokens(7, 9, tm.V, 10);
    const free = await greedyReference(prompt, 6, []);
    const stop = free.tokens[3];
    const want = await greedyReference(prompt, 6, [stop]);
    const out = await new Sampler(tm.model, { cacheBytes: 0 }).generate([{ prompt }], {
      temperature: 0,
      maxNewTokens: 6,
      stopTokenIds: [stop],
    });
    const s = out.results[0].samples[0];
    expect([...s.tokens]).toEqual(want.tokens);
    expect(s.tokens[s.tokens.length - 1]).toBe(stop);
    expect(s.finishReason).toBe('stop');
  });

  it('stops at the context limit with finish reason length', async () => {
    const prompt = randomTokens(5, 10, tm.V, 10);
    const out = await new Sampler(tm.model).generate([{ prompt }], { temperature: 0, maxNewTokens: 50, maxContext: 9, stopTokenIds: [] });
    const s = out.results[0].samples[0];
    expect(s.tokens.length).toBe(4);
    expect(s.finishReason).toBe('length');
  });
});
