// Bad input gives clear errors before any work (and leaves the sampler usable); cancellation through an AbortSignal;
// one call at a time per sampler; text-level stop strings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sampler } from '../lib/engine/sampler.ts';
import { Tokenizer } from '../lib/engine/tokenizer.ts';
import { buildActionTrie } from '../lib/rl/action-trie.ts';
import { randomTokens, tinyModel, type TestModel } from './sampler-helpers.ts';

let tm: TestModel;
let sampler: Sampler;
beforeAll(async () => {
  tm = await tinyModel(4);
  sampler = new Sampler(tm.model);
});
afterAll(() => tm.dispose());

const p = randomTokens(6, 1, 512, 10);

describe('bad input → clear error', () => {
  it.each([
    ['no requests', [], {}, /no requests/],
    ['empty prompt', [{ prompt: [] }], {}, /empty prompt/],
    ['n = 0', [{ prompt: p, n: 0 }], {}, /n = 0/],
    ['fractional n', [{ prompt: p, n: 1.5 }], {}, /n = 1.5/],
    ['prompt longer than the context limit', [{ prompt: p }], { maxContext: 6 }, /6 tokens.*context limit of 6/],
    ['long prompt, maxContext 100', [{ prompt: new Array(200).fill(3) }], { maxContext: 100 }, /200 tokens.*context limit of 100/],
    ['token outside the vocabulary', [{ prompt: [1, 2, 600] }], {}, /prompt\[2\] = 600 is not in the vocabulary/],
    ['unknown stop token', [{ prompt: p }], { stopTokenIds: [9999] }, /stop token id 9999 is not in the vocabulary/],
    ['negative temperature', [{ prompt: p }], { temperature: -0.5 }, /temperature/],
    ['top-p 0', [{ prompt: p }], { topP: 0 }, /topP/],
    ['maxNewTokens 0', [{ prompt: p }], { maxNewTokens: 0 }, /maxNewTokens/],
    ['stop strings without a tokenizer', [{ prompt: p }], { stopStrings: ['\n'] }, /tokenizer/],
    ['negative seed', [{ prompt: p }], { seed: -1 }, /seed/],
  ] as const)('%s', async (_name, reqs, opts, re) => {
    await expect(sampler.generate(reqs as never, opts as never)).rejects.toThrow(re);
    expect(sampler.cacheStats().inserts).toBe(0); // nothing ran
  });

  it('a malformed trie', async () => {
    const tok = Tokenizer.fromDir(tm.dir);
    const trie = buildActionTrie(tok, ['noop()'], tok.imEndId);
    const bad = { ...trie, childToken: Int32Array.from(trie.childToken, () => 5000) };
    await expect(sampler.generate([{ prompt: p, constraint: bad }])).rejects.toThrow(/token id 5000 is not in the vocabulary/);
    const short = { ...trie, childStart: trie.childStart.subarray(1) };
    await expect(sampler.generate([{ prompt: p, constraint: short }])).rejects.toThrow(/childStart/);
  });

  it('the sampler still works after errors', async () => {
    const out = await sampler.generate([{ prompt: p, n: 2 }], { maxNewTokens: 3, stopTokenIds: [] });
    expect(out.results[0].samples.map((s) => s.tokens.length)).toEqual([3, 3]);
  });
});

describe('cancellation and concurrency', () => {
  it('an aborted signal rejects with its reason, mid-generation; the sampler stays usable', async () => {
    const s = new Sampler(tm.model);
    const ac = new AbortController();
    const run = s.generate([{ prompt: p, n: 8 }], { maxNewTokens: 100000, maxContext: 100000, stopTokenIds: [], signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop now')), 50);
    const t0 = performance.now();
    await expect(run).rejects.toThrow('stop now');
    expect(performance.now() - t0).toBeLessThan(5000);
    const pre = new AbortController();
    pre.abort();
    await expect(s.generate([{ prompt: p }], { signal: pre.signal })).rejects.toThrow();
    const out = await s.generate([{ prompt: p }], { maxNewTokens: 2, stopTokenIds: [] });
    expect(out.results[0].samples[0].tokens.length).toBe(2);
  });

  it('a second call while one is running is refused', async () => {
    const s = new Sampler(tm.model);
    // Long enough (8 × 2,000 tokens) that the first call is still running after the refused one settles, even on a fast idle machine.
    const first = s.generate([{ prompt: p, n: 8 }], { maxNewTokens: 2000, stopTokenIds: [] });
    await expect(s.generate([{ prompt: p }])).rejects.toThrow(/busy/);
    expect(s.busy).toBe(true);
    expect(() => s.cacheStats()).toThrow(/busy/);
    expect(() => s.clearCache()).toThrow(/busy/);
    await first;
    expect(s.busy).toBe(false);
    await expect(s.generate([{ prompt: p }], { maxNewTokens: 1 })).resolves.toBeDefined();
  });
});

describe('stop strings', () => {
  it('end generation at the token completing the string; text is cut before it', async () => {
    const tok = Tokenizer.fromDir(tm.dir);
    const s = new Sampler(tm.model, { tokenizer: tok, cacheBytes: 0 });
    // Find, in a greedy run, a short ASCII stretch that first appears after a few tokens and use it as the stop string.
    const free = (await s.generate([{ prompt: p }], { temperature: 0, maxNewTokens: 40, stopTokenIds: [] })).results[0].samples[0];
    const bytes: number[] = [];
    const ends: number[] = []; // byte length after each token
    for (const t of free.tokens) {
      bytes.push(...tok.tokenBytes(t));
      ends.push(bytes.length);
    }
    const printable = (b: number) => b >= 0x20 && b < 0x7f;
    let stop = '';
    for (let i = ends[2]; i + 1 < bytes.length && !stop; i++) {
      if (printable(bytes[i]) && printable(bytes[i + 1])) {
        const cand = String.fromCharCode(bytes[i], bytes[i + 1]);
        const first = Buffer.from(bytes).indexOf(Buffer.from(cand, 'latin1'));
        if (first === i) stop = cand;
      }
    }
    expect(stop).not.toBe('');
    const at = Buffer.from(bytes).indexOf(Buffer.from(stop, 'latin1'));
    const lastTok = ends.findIndex((e) => e >= at + stop.length);
    const out = (await s.generate([{ prompt: p }], { temperature: 0, maxNewTokens: 40, stopTokenIds: [], stopStrings: ['\u0000never', stop] }))
      .results[0].samples[0];
    expect(out.finishReason).toBe('stop');
    expect(out.stopString).toBe(stop);
    expect([...out.tokens]).toEqual([...free.tokens.subarray(0, lastTok + 1)]);
    expect(out.text).toBe(tok.decode([...out.tokens]).slice(0, tok.decode([...out.tokens]).indexOf(stop)));
    expect(out.text!.includes(stop)).toBe(false);
  });
});
