// Constrained generation (action trie of lib/rl/action-trie.ts): over many seeds every completion is exactly one
// allowed action followed by EOS; masked log-probs equal a full forward's log-softmax over the allowed children;
// constrained and free requests share one batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sampler } from '../lib/engine/sampler.ts';
import { Tokenizer } from '../lib/engine/tokenizer.ts';
import { buildActionTrie, trieAllowed, triePaths, trieWalk, type ActionTrie } from '../lib/rl/action-trie.ts';
import { argmax, fullLogits, logSoftmaxAt, randomTokens, row, tinyModel, type TestModel } from './sampler-helpers.ts';

let tm: TestModel;
let tok: Tokenizer;
let trie: ActionTrie;
const actions = ["click('a12')", "click('a13')", "click('b7')", "fill('a5', 'hello world')", 'noop()', 'scroll(0, 200)'];
beforeAll(async () => {
  tm = await tinyModel(3);
  tok = Tokenizer.fromDir(tm.dir);
  trie = buildActionTrie(tok, actions, tok.imEndId);
});
afterAll(() => tm.dispose());

const prompt = () => randomTokens(12, 77, 512, 10);

describe('constrained generation', () => {
  it('only allowed actions over many seeds, with and without filters', async () => {
    const paths = new Set(triePaths(trie).map((p) => p.join(',')));
    const sampler = new Sampler(tm.model, { tokenizer: tok });
    const seenActions = new Set<string>();
    const settings = [{}, { temperature: 1.5 }, { temperature: 0.7, topK: 3, repetitionPenalty: 1.3 }, { topP: 0.8, minP: 0.1 }];
    for (let seed = 0; seed < 8; seed++) {
      const out = await sampler.generate([{ prompt: prompt(), n: 16, constraint: trie }], {
        ...settings[seed % settings.length],
        seed,
        maxNewTokens: 64,
      });
      for (const s of out.results[0].samples) {
        expect(paths.has([...s.tokens].join(','))).toBe(true);
        expect(s.finishReason).toBe('constraint');
        expect(s.tokens[s.tokens.length - 1]).toBe(tok.imEndId);
        const text = tok.decode([...s.tokens.subarray(0, s.tokens.length - 1)]);
        expect(actions).toContain(text);
        seenActions.add(text);
        expect(s.maskedLogprobs?.length).toBe(s.tokens.length);
      }
    }
    // Near-uniform random weights: many different actions get sampled (the mask does not collapse the choice).
    expect(seenActions.size).toBeGreaterThanOrEqual(4);
  });

  it('masked log-probs == log-softmax over the allowed children of a full forward; logprobs stay unmasked', async () => {
    const p = prompt();
    const out = await new Sampler(tm.model).generate([{ prompt: p, n: 4, constraint: trie }], { seed: 3, maxNewTokens: 64 });
    for (const s of out.results[0].samples) {
      const seq = [...p, ...s.tokens];
      const logits = await fullLogits(tm.model, seq);
      for (let t = 0; t < s.tokens.length; t++) {
        const z = row(logits, tm.V, p.length - 1 + t);
        const node = trieWalk(trie, [...s.tokens.subarray(0, t)]);
        const allowed = [...trieAllowed(trie, node)];
        let m = -Infinity;
        for (const a of allowed) m = Math.max(m, z[a]);
        let sum = 0;
        for (const a of allowed) sum += Math.exp(z[a] - m);
        const masked = z[s.tokens[t]] - m - Math.log(sum);
        // FP32 logits from batched vs full forwards: 1e-4 absolute (see sampler-cache.test.ts).
        expect(Math.abs(s.maskedLogprobs![t] - masked)).toBeLessThan(1e-4);
        expect(Math.abs(s.logprobs[t] - logSoftmaxAt(z, s.tokens[t]))).toBeLessThan(1e-4);
        // At temperature 1 with no filters the sampling distribution is the masked one.
        expect(Math.abs(s.sampleLogprobs[t] - masked)).toBeLessThan(1e-4);
        if (allowed.length === 1) expect(s.maskedLogprobs![t]).toBeCloseTo(0, 6);
      }
    }
  });

  it('greedy picks the best allowed token at every step', async () => {
    const p = prompt();
    const out = await new Sampler(tm.model).generate([{ prompt: p, constraint: trie }], { temperature: 0, maxNewTokens: 64 });
    const s = out.results[0].samples[0];
    const seq = [...p];
    for (let t = 0; t < s.tokens.length; t++) {
      const z = row(await fullLogits(tm.model, seq), tm.V, seq.length - 1);
      const allowed = [...trieAllowed(trie, trieWalk(trie, seq.slice(p.length)))];
      const best = allowed[argmax(allowed.map((a) => z[a]))];
      expect(s.tokens[t]).toBe(best);
      seq.push(best);
    }
    expect(s.finishReason).toBe('constraint');
  });

  it('mixed batch: constrained and free requests; maxNewTokens cuts a constrained path short', async () => {
    const p = prompt();
    const out = await new Sampler(tm.model).generate(
      [
        { prompt: p, n: 3, constraint: trie },
        { prompt: p, n: 3 },
      ],
      { seed: 1, maxNewTokens: 3, stopTokenIds: [] },
    );
    for (const s of out.results[0].samples) {
      expect(s.finishReason).toBe('length');
      expect(s.tokens.length).toBe(3);
      expect(trieWalk(trie, [...s.tokens])).toBeGreaterThanOrEqual(0); // a prefix of an allowed path
    }
    for (const s of out.results[1].samples) {
      expect(s.maskedLogprobs).toBeUndefined();
      expect(s.tokens.length).toBe(3);
    }
  });
});
