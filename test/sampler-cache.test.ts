// Log-probs returned by the sampler equal a full forward of prompt + completion; prefix reuse (cache hits and the
// batch's common prefix) gives the same tokens and log-probs as computing everything; the prefix cache stays within
// its memory bound and evicts least recently used entries first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sampler, type GenerateOutput } from '../lib/engine/sampler.ts';
import { refDistribution } from './ref/sampler-ref.ts';
import { fullLogits, logSoftmaxAt, randomTokens, row, tinyModel, type TestModel } from './sampler-helpers.ts';

let tm: TestModel;
beforeAll(async () => {
  tm = await tinyModel(8);
});
afterAll(() => tm.dispose());

const system = randomTokens(20, 100, 512, 10);
const prompts = [
  [...system, ...randomTokens(9, 101, 512, 10)],
  [...system, ...randomTokens(4, 102, 512, 10)],
  [...system, ...randomTokens(15, 103, 512, 10)],
];
const opts = { temperature: 0.9, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1, maxNewTokens: 10, stopTokenIds: [], seed: 5 };

function flat(o: GenerateOutput) {
  return o.results.flatMap((r) => r.samples);
}

describe('returned log-probs == full forward of prompt + completion', () => {
  it('logprobs, tempLogprobs and sampleLogprobs for every sampled token', async () => {
    const out = await new Sampler(tm.model).generate(prompts.map((p) => ({ prompt: p, n: 2 })), opts);
    let checked = 0;
    for (let r = 0; r < prompts.length; r++) {
      for (const s of out.results[r].samples) {
        const seq = [...prompts[r], ...s.tokens];
        const logits = await fullLogits(tm.model, seq);
        for (let t = 0; t < s.tokens.length; t++) {
          const z = row(logits, tm.V, prompts[r].length - 1 + t);
          const tok = s.tokens[t];
          // FP32 forward either way; batched/incremental vs full pass changes summation order only (≤ 1e-5 of the
          // logits' scale), so log-probs agree to 1e-4.
          expect(Math.abs(s.logprobs[t] - logSoftmaxAt(z, tok))).toBeLessThan(1e-4);
          expect(Math.abs(s.tempLogprobs[t] - logSoftmaxAt(z, tok, opts.temperature))).toBeLessThan(1e-4);
          const seen = seq.slice(0, prompts[r].length + t);
          const d = refDistribution(z, opts, seen);
          const i = d.ids.indexOf(tok);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(Math.abs(s.sampleLogprobs[t] - Math.log(d.probs[i]))).toBeLessThan(1e-3);
          checked++;
        }
      }
    }
    expect(checked).toBe(60);
  });
});

describe('prefix reuse changes nothing', () => {
  it('no cache vs common prefix vs warm cache vs one prompt per call', async () => {
    const reqs = prompts.map((p) => ({ prompt: p, n: 3 }));
    const cold = await new Sampler(tm.model, { cacheBytes: 0 }).generate(reqs, opts);
    expect(cold.stats.sharedTokens).toBe(3 * system.length);
    const cached = new Sampler(tm.model);
    await cached.generate(reqs, opts);
    const warm = await cached.generate(reqs, opts);
    expect(warm.stats.cachedTokens).toBe(warm.stats.promptTokens);
    expect(warm.stats.prefillTokens).toBe(0);
    // Same tokens (same streams, logits equal up to FP32 summation order) and log-probs to 1e-4.
    const check = (a: GenerateOutput, b: GenerateOutput) => {
      const fa = flat(a), fb = flat(b);
      expect(fb.length).toBe(fa.length);
      for (let i = 0; i < fa.length; i++) {
        expect([...fb[i].tokens]).toEqual([...fa[i].tokens]);
        for (let t = 0; t < fa[i].tokens.length; t++) expect(Math.abs(fb[i].logprobs[t] - fa[i].logprobs[t])).toBeLessThan(1e-4);
      }
    };
    check(cold, warm);
    // A prompt extending a cached one starts from the cached state (partial hit).
    const ext = [...prompts[0], ...randomTokens(5, 104, 512, 10)];
    const partial = await cached.generate([{ prompt: ext, n: 2 }], opts);
    expect(partial.stats.cachedTokens).toBe(prompts[0].length);
    const full = await new Sampler(tm.model, { cacheBytes: 0 }).generate([{ prompt: ext, n: 2 }], opts);
    expect(full.stats.cachedTokens).toBe(0);
    check(full, partial);
  });
});

describe('memory bound and LRU eviction', () => {
  it('never exceeds the capacity; evicts the least recently used entry', async () => {
    const probe = new Sampler(tm.model);
    await probe.generate([{ prompt: prompts[0] }], { maxNewTokens: 1, stopTokenIds: [] });
    const oneEntry = probe.cacheStats().bytes; // one whole-prompt entry of prompts[0] (29 tokens)
    expect(oneEntry).toBeGreaterThan(0);
    // Room for two such entries, not three.
    const cap = Math.floor(oneEntry * 2.5);
    const s = new Sampler(tm.model, { cacheBytes: cap });
    const a = [...randomTokens(29, 201, 512, 10)];
    const b = [...randomTokens(29, 202, 512, 10)];
    const c = [...randomTokens(29, 203, 512, 10)];
    const gen = (p: number[]) => s.generate([{ prompt: p }], { maxNewTokens: 1, stopTokenIds: [] });
    await gen(a);
    await gen(b);
    expect(s.cacheStats().entries).toBe(2);
    expect((await gen(a)).stats.cachedTokens).toBe(29); // touch a: b is now least recently used
    await gen(c);
    const st = s.cacheStats();
    expect(st.bytes).toBeLessThanOrEqual(cap);
    expect(st.entries).toBe(2);
    expect(st.evictions).toBe(1);
    expect((await gen(a)).stats.cachedTokens).toBe(29);
    expect((await gen(c)).stats.cachedTokens).toBe(29);
    expect((await gen(b)).stats.cachedTokens).toBe(0); // evicted
    // Many prompts through a small cache: the bound holds after every call.
    for (let i = 0; i < 12; i++) {
      await gen(randomTokens(10 + i * 3, 300 + i, 512, 10));
      expect(s.cacheStats().bytes).toBeLessThanOrEqual(cap);
    }
    // An entry larger than the whole capacity is not stored; shrinking the capacity evicts at once.
    const tiny = new Sampler(tm.model, { cacheBytes: Math.floor(oneEntry / 2) });
    await tiny.generate([{ prompt: a }], { maxNewTokens: 1, stopTokenIds: [] });
    expect(tiny.cacheStats().entries).toBe(0);
    s.setCacheBytes(0);
    expect(s.cacheStats().bytes).toBe(0);
    expect(s.cacheStats().entries).toBe(0);
  });

  it('clearCache drops everything', async () => {
    const s = new Sampler(tm.model);
    await s.generate([{ prompt: prompts[1] }], { maxNewTokens: 2, stopTokenIds: [] });
    expect(s.cacheStats().entries).toBeGreaterThan(0);
    s.clearCache();
    expect(s.cacheStats().entries).toBe(0);
    expect((await s.generate([{ prompt: prompts[1] }], { maxNewTokens: 2, stopTokenIds: [] })).stats.cachedTokens).toBe(0);
  });
});
