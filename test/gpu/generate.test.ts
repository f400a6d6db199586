// GPU generation (native/backend/cuda/cuda_generate.cuh through the Sampler on a 'cuda' model) against the CPU
// sampler and against full forwards of the GPU engine: greedy tokens, log-probs, decode graphs vs direct launches,
// seeded determinism, filters and constrained masks, stop ids, the state memory cap, cancel and the prefix cache.
// Skips (reason printed) without a usable GPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../../lib/engine/model.ts';
import { native } from '../../lib/engine/native.ts';
import { presetConfig } from '../../lib/engine/presets.ts';
import { writeRandomModel } from '../../lib/engine/init-weights.ts';
import { type GeneratedSample, Sampler } from '../../lib/engine/sampler.ts';
import { Tokenizer } from '../../lib/engine/tokenizer.ts';
import { buildActionTrie, trieAllowed, triePaths, trieWalk } from '../../lib/rl/action-trie.ts';
import { maxAbs } from '../ref/train-ref.ts';
import { freshRandom, randomTokens } from '../util/random.ts';
import { tempDir } from '../util/temp-dir.ts';
import { gpu, skipReason } from './gpu-available.ts';

const { seed, tag } = freshRandom();
const V = 512;

/** log softmax(z / t)[i] in float64. */
function logSoftmaxAt(z: ArrayLike<number>, i: number, t = 1, ids?: readonly number[]): number {
  const over = ids ?? Array.from({ length: z.length }, (_, j) => j);
  let m = -Infinity;
  for (const j of over) m = Math.max(m, z[j] / t);
  let s = 0;
  for (const j of over) s += Math.exp(z[j] / t - m);
  return z[i] / t - m - Math.log(s);
}

describe.skipIf(!gpu)(`GPU generation ${skipReason}`, () => {
  const dir = tempDir('lfm2-gpu-generate-');
  let cpu: LfmModel, cuda: LfmModel, tok: Tokenizer;
  const prompts = [randomTokens(9, seed, V, 10), randomTokens(6, seed + 1, V, 10)];

  beforeAll(async () => {
    writeRandomModel(dir, presetConfig('tiny'), { seed: seed % 100000, dtype: 'bf16', std: 0.2 });
    cpu = await LfmModel.load(dir, { device: 'cpu' });
    cuda = await LfmModel.load(dir, { device: 'cuda' });
    tok = Tokenizer.fromDir(dir);
  });
  afterAll(() => undefined);

  /** Logits [T, V] of every position of prompt + completion, by a full forward of the GPU engine. */
  async function gpuFull(prompt: Int32Array, completion: Int32Array): Promise<Float32Array> {
    return cuda.logits(Int32Array.from([...prompt, ...completion]));
  }

  it('greedy GPU generation == greedy CPU generation (BF16 GEMM inputs on both) wherever the choice has a margin', async () => {
    const opts = { temperature: 0, maxNewTokens: 8, stopTokenIds: [] as number[], seed: 1 };
    const want = await new Sampler(cpu).generate(prompts.map((p) => ({ prompt: p, n: 2 })), { ...opts, precision: 'fast' });
    const got = await new Sampler(cuda).generate(prompts.map((p) => ({ prompt: p, n: 2 })), opts);
    for (let r = 0; r < prompts.length; r++) {
      const cpuTokens = want.results[r].samples[0].tokens;
      const gpuTokens = got.results[r].samples[0].tokens;
      // The GPU rounds every GEMM input to BF16 (the CPU's 'fast' does so only on AVX-512 BF16 hardware, else it
      // runs the exact FP32 path); on the tiny random model (std 0.2) that moves the GPU's logits from the CPU's by
      // d ≈ 2% of the largest logit (1.6%–3.5% over 16 seeds, one seed seen at 5.6%), more than many top-2 margins.
      // The check on d itself is loose (12%): it only has to catch an indexing mistake, which moves logits by O(1).
      // A token chosen from the GPU's decode logits is then within 2·(d + e) of the CPU argmax, e being decode vs
      // full-forward drift on the GPU (same kernels on fewer rows: ≤ 1e-3·max|logit|). So:
      // (1) every GPU token is a CPU argmax up to that bound, on the GPU's own prefix (teacher-forced: all steps);
      // (2) the two greedy sequences are equal token for token until the first step whose CPU margin is within
      //     the bound (past a near-tie they may legitimately part).
      const seq = Int32Array.from([...prompts[r], ...gpuTokens]);
      const c = (await cpu.forward([seq], { logits: 'all', precision: 'fast' })).logits;
      const g = (await cuda.forward([seq], { logits: 'all' })).logits;
      let d = 0;
      for (let i = 0; i < c.length; i++) d = Math.max(d, Math.abs(c[i] - g[i]));
      expect(d, tag('CPU vs GPU logits (an indexing error moves them by O(1))')).toBeLessThanOrEqual(0.12 * maxAbs(c));
      const bound = 2 * (d + 1e-3 * maxAbs(c));
      let agreeing = true;
      for (let t = 0; t < gpuTokens.length; t++) {
        const z = c.subarray((prompts[r].length - 1 + t) * V, (prompts[r].length + t) * V);
        const sorted = Float64Array.from(z).sort();
        expect(z[gpuTokens[t]], tag(`request ${r} token ${t} near the CPU argmax`)).toBeGreaterThanOrEqual(sorted[V - 1] - bound);
        if (agreeing && sorted[V - 1] - sorted[V - 2] <= bound) agreeing = false;
        if (agreeing) expect(gpuTokens[t], tag(`request ${r} token ${t}`)).toBe(cpuTokens[t]);
      }
      // The two samples of a greedy request are the same sequence.
      expect([...got.results[r].samples[1].tokens]).toEqual([...gpuTokens]);
    }
  });

  it('decode log-probs (incremental) == log-softmax of a full GPU forward of the same prefix', async () => {
    // Temperature 0.7 with a mask exercises logprobs, tempLogprobs and maskedLogprobs on different rows.
    const trie = buildActionTrie(tok, ["click('a12')", "fill('a5', 'x')", 'noop()'], tok.imEndId);
    const out = await new Sampler(cuda).generate(
      [{ prompt: prompts[0], n: 2 }, { prompt: prompts[1], n: 2, constraint: trie }],
      { temperature: 0.7, maxNewTokens: 6, stopTokenIds: [], seed: seed + 5 },
    );
    for (let r = 0; r < 2; r++) {
      for (const s of out.results[r].samples) {
        const logits = await gpuFull(prompts[r], s.tokens);
        // The decode step and the full forward run the same kernels on different row counts: logits agree to
        // 1e-2·max|logit| (test/gpu/model.test.ts), and a log-softmax moves by at most twice its inputs' error.
        const tol = 2e-2 * maxAbs(logits) + 1e-4;
        for (let t = 0; t < s.tokens.length; t++) {
          const z = logits.subarray((prompts[r].length - 1 + t) * V, (prompts[r].length + t) * V);
          expect(Math.abs(s.logprobs[t] - logSoftmaxAt(z, s.tokens[t])), tag(`logprob ${r}/${t}`)).toBeLessThanOrEqual(tol);
          expect(Math.abs(s.tempLogprobs[t] - logSoftmaxAt(z, s.tokens[t], 0.7)), tag(`tempLogprob ${r}/${t}`)).toBeLessThanOrEqual(
            tol / 0.7,
          );
          if (r === 1) {
            const allowed = [...trieAllowed(trie, trieWalk(trie, [...s.tokens.subarray(0, t)]))];
            expect(Math.abs(s.maskedLogprobs![t] - logSoftmaxAt(z, s.tokens[t], 1, allowed)), tag(`masked ${t}`)).toBeLessThanOrEqual(tol);
          }
        }
      }
    }
  });

  it('shared prefix prefilled once, chunked prefill, a prompt equal to the shared prefix: log-probs of full forwards', async () => {
    const common = randomTokens(8, seed + 30, V, 10);
    const ps = [common, Int32Array.from([...common, 3, 4, 5]), Int32Array.from([...common, 6, 7, 8, 9])];
    const out = await new Sampler(cuda, { cacheBytes: 0 }).generate(
      ps.map((p) => ({ prompt: p, n: 2 })),
      { temperature: 1, maxNewTokens: 4, stopTokenIds: [], seed: seed + 31, prefillChunkTokens: 5 },
    );
    // The 8 common tokens run once; the first prompt is the common prefix itself and prefills nothing more.
    expect(out.stats.sharedTokens).toBe(3 * 8);
    expect(out.stats.prefillTokens).toBe(8 + 3 + 4);
    for (let r = 0; r < ps.length; r++)
      for (const smp of out.results[r].samples) {
        const logits = await gpuFull(ps[r], smp.tokens);
        const tol = 2e-2 * maxAbs(logits) + 1e-4;  // decode vs full forward, see the log-prob test
        for (let t = 0; t < smp.tokens.length; t++) {
          const z = logits.subarray((ps[r].length - 1 + t) * V, (ps[r].length + t) * V);
          expect(Math.abs(smp.logprobs[t] - logSoftmaxAt(z, smp.tokens[t])), tag(`prompt ${r} step ${t}`)).toBeLessThanOrEqual(tol);
        }
      }
  });

  it('the CUDA-graph decode path and the direct-launch path give identical tokens and log-probs', async () => {
    const reqs = [{ prompt: prompts[0], n: 3 }, { prompt: prompts[1], n: 2 }];
    const opts = { temperature: 1, topK: 20, topP: 0.95, repetitionPenalty: 1.2, maxNewTokens: 6, stopTokenIds: [] as number[], seed: seed + 9 };
    const sg = new Sampler(cuda, { cacheBytes: 0 });
    const sd = new Sampler(cuda, { cacheBytes: 0 });
    const a = await sg.generate(reqs, { ...opts, graphs: true });
    const b = await sd.generate(reqs, { ...opts, graphs: false });
    for (let r = 0; r < reqs.length; r++)
      for (let i = 0; i < reqs[r].n; i++) {
        const x = a.results[r].samples[i], y = b.results[r].samples[i];
        expect([...x.tokens], tag(`tokens ${r}/${i}`)).toEqual([...y.tokens]);
        expect([...x.logprobs]).toEqual([...y.logprobs]);
        expect([...x.sampleLogprobs]).toEqual([...y.sampleLogprobs]);
      }
    const gs = sg.graphStats()!, ds = sd.graphStats()!;
    // 5 live rows for 5 steps: the bucket's first step runs directly, then one graph is captured and replayed;
    // the other sampler never captures one.
    expect(a.stats.decodeSteps).toBe(5);
    expect(gs).toEqual({ graphs: 1, captures: 1, replays: 4, directSteps: 1 });
    expect(ds).toEqual({ graphs: 0, captures: 0, replays: 0, directSteps: 5 });
    // A second call on the same sampler replays the graph it already has at every step.
    await sg.generate(reqs, { ...opts, graphs: true });
    expect(sg.graphStats()).toEqual({ graphs: 1, captures: 1, replays: 9, directSteps: 1 });
  });

  it('sequences that finish at different steps: the batch shrinks across graph buckets and matches the direct path', async () => {
    const reqs = Array.from({ length: 10 }, (_, i) => ({ prompt: randomTokens(3 + (i % 4), seed + 20 + i, V, 10), n: 1 }));
    // A stop id that the random model emits now and then ends rows at different steps (10 live rows → fewer).
    // The repetition penalty's device seen-lists must follow each sequence as rows are compacted.
    const opts = {
      temperature: 1.5, repetitionPenalty: 1.5, maxNewTokens: 6, stopTokenIds: Array.from({ length: 40 }, (_, i) => 100 + i), seed: seed + 3,
    };
    const a = await new Sampler(cuda, { cacheBytes: 0 }).generate(reqs, { ...opts, graphs: true });
    const b = await new Sampler(cuda, { cacheBytes: 0 }).generate(reqs, { ...opts, graphs: false });
    for (let r = 0; r < reqs.length; r++) {
      expect([...a.results[r].samples[0].tokens], tag(`request ${r}`)).toEqual([...b.results[r].samples[0].tokens]);
      expect([...a.results[r].samples[0].sampleLogprobs]).toEqual([...b.results[r].samples[0].sampleLogprobs]);
    }
  });

  it('temperature sampling is deterministic for a seed and changes with it', async () => {
    const reqs = [{ prompt: prompts[0], n: 4 }];
    const opts = { temperature: 1, maxNewTokens: 6, stopTokenIds: [] as number[] };
    const s = new Sampler(cuda);
    const a = await s.generate(reqs, { ...opts, seed: 42 });
    const b = await s.generate(reqs, { ...opts, seed: 42 });
    const c = await s.generate(reqs, { ...opts, seed: 43 });
    const toks = (o: typeof a) => o.results[0].samples.map((x) => [...x.tokens].join(',')).join('|');
    expect(toks(b)).toBe(toks(a));
    expect(toks(c)).not.toBe(toks(a));
    // Samples of one group draw from their own streams.
    expect(new Set(a.results[0].samples.map((x) => [...x.tokens].join(','))).size).toBeGreaterThan(1);
  });

  it('filters and constrained masks only ever yield allowed tokens', async () => {
    const k = 3;
    const out = await new Sampler(cuda).generate([{ prompt: prompts[0], n: 3 }], {
      temperature: 2, topK: k, maxNewTokens: 5, stopTokenIds: [], seed: seed + 11,
    });
    for (const s of out.results[0].samples) {
      const logits = await gpuFull(prompts[0], s.tokens);
      const tol = 2e-2 * maxAbs(logits);  // decode vs full-forward logits (see the log-prob test)
      for (let t = 0; t < s.tokens.length; t++) {
        const z = logits.subarray((prompts[0].length - 1 + t) * V, (prompts[0].length + t) * V);
        const above = z.filter((x) => x > z[s.tokens[t]] + tol).length;
        expect(above, tag(`top-${k} step ${t}`)).toBeLessThan(k);
        expect(s.sampleLogprobs[t]).toBeLessThanOrEqual(0);
      }
    }
    const actions = ["click('a12')", "click('b7')", 'noop()', 'scroll(0, 200)'];
    const trie = buildActionTrie(tok, actions, tok.imEndId);
    const paths = new Set(triePaths(trie).map((p) => p.join(',')));
    const c = await new Sampler(cuda).generate([{ prompt: prompts[1], n: 6, constraint: trie }], {
      temperature: 1.5, topP: 0.9, maxNewTokens: 64, seed: seed + 12,
    });
    for (const s of c.results[0].samples) {
      expect(paths.has([...s.tokens].join(',')), tag('constrained path')).toBe(true);
      expect(s.finishReason).toBe('constraint');
      expect(s.maskedLogprobs?.length).toBe(s.tokens.length);
    }
  });

  it('the repetition penalty sees the prompt and every generated token (device seen-lists)', async () => {
    // Greedy with a penalty of 1e4: a seen token's positive logit shrinks below 1e-3 and a negative one grows
    // 1e4-fold, while hundreds of unseen tokens keep positive logits of order 1, so greedy never picks a seen token
    // unless the seen-list on the device misses it.
    const reqs = [{ prompt: prompts[0], n: 2 }, { prompt: prompts[1], n: 1 }, { prompt: Int32Array.from([5, 5, 6]), n: 1 }];
    const out = await new Sampler(cuda).generate(reqs, { temperature: 0, repetitionPenalty: 1e4, maxNewTokens: 10, stopTokenIds: [] });
    for (let r = 0; r < reqs.length; r++)
      for (const smp of out.results[r].samples) {
        const seen = new Set<number>(reqs[r].prompt);
        for (const t of smp.tokens) {
          expect(seen.has(t), tag(`request ${r}: token ${t} was already seen`)).toBe(false);
          seen.add(t);
        }
        expect(smp.tokens.length).toBe(10);
      }
  });

  it('stop ids stop (the stop token kept, finish reason stop)', async () => {
    const base = await new Sampler(cuda).generate([{ prompt: prompts[0] }], { temperature: 0, maxNewTokens: 6, stopTokenIds: [] });
    const toks = base.results[0].samples[0].tokens;
    expect(base.results[0].samples[0].finishReason).toBe('length');
    const stopAt = toks.indexOf(toks[2]);  // first occurrence of the third token
    const out = await new Sampler(cuda).generate([{ prompt: prompts[0] }], { temperature: 0, maxNewTokens: 6, stopTokenIds: [toks[2]] });
    const s: GeneratedSample = out.results[0].samples[0];
    expect([...s.tokens]).toEqual([...toks.subarray(0, stopAt + 1)]);
    expect(s.finishReason).toBe('stop');
  });

  it('stop strings are matched on the generated bytes (needs the tokenizer)', async () => {
    const s = new Sampler(cuda, { tokenizer: tok });
    // 16 tokens: a random model's greedy run can spend its first few on byte tokens that are only parts of UTF-8
    // characters (all five after the first, for one seed of 6 tokens).
    const maxNewTokens = 16;
    const base = await s.generate([{ prompt: prompts[1] }], { temperature: 0, maxNewTokens, stopTokenIds: [] });
    const toks = base.results[0].samples[0].tokens;
    // A later generated token whose bytes are whole UTF-8 text becomes the stop string: the first step whose
    // generated bytes contain it ends the sample there.
    const utf8 = new TextDecoder('utf-8', { fatal: true });
    let stop = '';
    for (let t = 1; t < toks.length && !stop; t++) {
      try {
        stop = utf8.decode(tok.tokenBytes(toks[t]));
      } catch {
        stop = '';
      }
    }
    expect(stop.length, tag('a generated token that is whole UTF-8 text')).toBeGreaterThan(0);
    const bytes = (n: number) => Buffer.concat([...toks.subarray(0, n)].map((t) => tok.tokenBytes(t)));
    let end = 1;
    while (end < toks.length && !bytes(end).includes(Buffer.from(stop))) end++;
    const out = await s.generate([{ prompt: prompts[1] }], { temperature: 0, maxNewTokens, stopTokenIds: [], stopStrings: [stop] });
    const got = out.results[0].samples[0];
    expect([...got.tokens]).toEqual([...toks.subarray(0, end)]);
    expect(got.finishReason).toBe('stop');
    expect(got.stopString).toBe(stop);
  });

  it('the state memory cap gives a clear error', async () => {
    const small = await LfmModel.load(dir, { device: 'cuda', stateBytesCap: 48 * 1024 });
    // tiny: 2 attention layers × (K + V) × 2 KV heads × 16 dims × 4 bytes = 512 bytes per token per sequence.
    await expect(
      new Sampler(small).generate([{ prompt: prompts[0], n: 8 }], { maxNewTokens: 200, stopTokenIds: [], seed: 1 }),
    ).rejects.toThrow(/state memory cap/);
  });

  it('cached prefix states make room (LRU eviction) for the samples of a later call under the cap', async () => {
    // tiny: a state of ≤ 64 tokens holds 64 × 512 bytes of KV + 2 KiB of conv registers ≈ 34 KiB. Call 1 holds
    // 2 states (the prompt's, which its one sample takes over, and the cached copy); call 2 holds A's cached state,
    // B's prompt state (taken by its last sample) and B's cached copy, and forks 2 more for its other samples:
    // 5 states > 150 KiB unless A's cached state is evicted first.
    const capped = await LfmModel.load(dir, { device: 'cuda', stateBytesCap: 150 * 1024 });
    const s = new Sampler(capped, { cacheBytes: 1 << 20 });
    const opts = { temperature: 0, maxNewTokens: 8, stopTokenIds: [] as number[] };
    await s.generate([{ prompt: prompts[0] }], opts);
    expect(s.cacheStats().entries).toBe(1);
    const out = await s.generate([{ prompt: prompts[1], n: 3 }], opts);
    expect(out.results[0].samples.map((x) => x.tokens.length)).toEqual([8, 8, 8]);
    expect(s.cacheStats().evictions).toBeGreaterThanOrEqual(1);
  });

  it('bad input is a clear error before any work, with the CPU sampler\'s messages', async () => {
    const s = new Sampler(cuda);
    await expect(s.generate([{ prompt: [1, V] }])).rejects.toThrow(/request 0 prompt\[1\] = 512 is not in the vocabulary/);
    await expect(s.generate([{ prompt: [1, 2] }], { topP: 0 })).rejects.toThrow(/top_?p/i);
    await expect(s.generate([{ prompt: [1, 2] }], { stopStrings: ['x'] })).rejects.toThrow(/tokenizer/);
    expect(cuda.device).toBe('cuda');
    expect(() => new (native().Sampler)({} as typeof cuda.native)).toThrow(/new Sampler\(model\): model is not a Model/);
    expect(new Sampler(cpu).graphStats()).toBeUndefined();
    const job = new (native().Sampler)(cuda.native);
    expect(() => job.generate({ requests: [{ prompt: Int32Array.of(1), n: 1 }], params: {}, graphs: 1 as unknown as boolean })).toThrow(
      /graphs must be a boolean/,
    );
    expect(job.busy).toBe(false);
  });

  it('cancel rejects with the abort reason', async () => {
    const ac = new AbortController();
    const p = new Sampler(cuda).generate([{ prompt: prompts[0], n: 2 }], { maxNewTokens: 500, stopTokenIds: [], signal: ac.signal });
    ac.abort(new Error('stop now'));
    await expect(p).rejects.toThrow('stop now');
  });

  it('the prefix cache reuses a prompt state on the GPU across calls with the same tokens', async () => {
    const s = new Sampler(cuda, { cacheBytes: 1 << 20 });
    const opts = { temperature: 0, maxNewTokens: 4, stopTokenIds: [] as number[] };
    const a = await s.generate([{ prompt: prompts[0], n: 2 }], opts);
    const b = await s.generate([{ prompt: prompts[0], n: 2 }], opts);
    expect(b.stats.cachedTokens).toBe(prompts[0].length);
    expect(b.stats.prefillTokens).toBe(0);
    expect(s.cacheStats().hits).toBeGreaterThanOrEqual(1);
    expect([...b.results[0].samples[0].tokens]).toEqual([...a.results[0].samples[0].tokens]);
    // A longer prompt starting with the cached one prefills only its tail.
    const longer = Int32Array.from([...prompts[0], 7, 8, 9]);
    const c = await s.generate([{ prompt: longer }], opts);
    expect(c.stats.cachedTokens).toBe(prompts[0].length);
    expect(c.stats.prefillTokens).toBe(3);
    s.clearCache();
    expect(s.cacheStats().entries).toBe(0);
  });
});
