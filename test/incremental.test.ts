// Incremental generation equals the full forward: prefill (whole or chunked) then one-token decode steps give the
// same logits as one full-sequence pass; forked states evolve independently; batched decode and ragged batches
// equal sequences run one by one (docs/lfm2.md §7).
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LfmModel } from '../lib/engine/model.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { writeRandomModel } from '../lib/engine/init-weights.ts';
import { randomTokens } from './util/random.ts';
import { tempDir } from './util/temp-dir.ts';

const dir = tempDir('lfm2-inc-');
let model: LfmModel;
const V = 512;
beforeAll(async () => {
  writeRandomModel(dir, presetConfig('tiny'), { seed: 5, dtype: 'bf16', std: 0.2 });
  model = await LfmModel.load(dir);
});

// The incremental path runs GEMMs with fewer rows and attention over a cache, so FP32 sums may be ordered
// differently from the full pass: allow 1e-5 of the largest logit (rounding is ~1e-7 relative; real indexing
// mistakes change logits by O(1)).
function expectRowsClose(got: Float32Array, want: Float32Array) {
  expect(got.length).toBe(want.length);
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < got.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  expect(maxRef).toBeGreaterThan(0.5);
  expect(maxDiff).toBeLessThanOrEqual(1e-5 * maxRef);
}
const row = (logits: Float32Array, t: number) => logits.subarray(t * V, (t + 1) * V);

describe('prefill then decode == full forward', () => {
  it.each([1, 2, 3, 17])('prompt length %i, then 6 decode steps', async (p) => {
    const seq = randomTokens(p + 6, 100 + p, V);
    const full = await model.logits(seq);
    const st = model.createState();
    expectRowsClose(await model.prefill(st, seq.subarray(0, p)), row(full, p - 1));
    expect(st.length).toBe(p);
    for (let t = p; t < seq.length; t++) {
      expectRowsClose(await model.decodeBatch([st], seq.subarray(t, t + 1)), row(full, t));
    }
    expect(st.length).toBe(seq.length);
    st.free();
  });

  it.each([1, 2, 3, 5, 8])('chunked prefill in chunks of %i, then 3 decode steps', async (chunk) => {
    const seq = randomTokens(23, 7, V);
    const full = await model.logits(seq);
    const st = model.createState();
    const n = 20;
    for (let start = 0; start < n; start += chunk) {
      const end = Math.min(n, start + chunk);
      const r = await model.advance([st], [seq.subarray(start, end)], { logits: 'all' });
      expectRowsClose(r.logits, full.subarray(start * V, end * V));
    }
    for (let t = n; t < seq.length; t++) expectRowsClose(await model.decodeBatch([st], [seq[t]]), row(full, t));
  });
});

describe('long chunks (attention block path) on top of a cache', () => {
  it('chunks of 3, 40 and 34 tokens, then decode, equal the full forward', async () => {
    const seq = randomTokens(80, 77, V);
    const full = await model.logits(seq);
    const st = model.createState();
    let start = 0;
    for (const n of [3, 40, 34]) {
      const r = await model.advance([st], [seq.subarray(start, start + n)], { logits: 'all' });
      expectRowsClose(r.logits, full.subarray(start * V, (start + n) * V));
      start += n;
    }
    for (let t = start; t < seq.length; t++) expectRowsClose(await model.decodeBatch([st], [seq[t]]), row(full, t));
    st.free();
  });
});

describe('fork', () => {
  it('forked states evolve independently and each matches its own full forward', async () => {
    const prompt = randomTokens(9, 42, V);
    const base = model.createState();
    await model.prefill(base, prompt);
    const forks = [base.fork(), base.fork(), base.fork()];
    expect(forks.map((f) => f.length)).toEqual([9, 9, 9]);
    const conts = [randomTokens(4, 1, V), randomTokens(4, 2, V), randomTokens(4, 3, V)];
    for (let t = 0; t < 4; t++) {
      // One batched call over the three forks with different tokens.
      const logits = await model.decodeBatch(forks, conts.map((c) => c[t]));
      for (let i = 0; i < 3; i++) {
        const full = await model.logits([...prompt, ...conts[i].subarray(0, t + 1)]);
        expectRowsClose(row(logits, i), row(full, 9 + t));
      }
    }
    // The source state was not touched by its forks.
    expect(base.length).toBe(9);
    const cont = randomTokens(2, 9, V);
    const r = await model.advance([base], [cont], { logits: 'all' });
    const full = await model.logits([...prompt, ...cont]);
    expectRowsClose(r.logits, full.subarray(9 * V, 11 * V));
    for (const f of forks) f.free();
    base.free();
  });
});

describe('batching', () => {
  it('a ragged forward batch equals the sequences one by one', async () => {
    const seqs = [randomTokens(5, 11, V), randomTokens(1, 12, V), randomTokens(13, 13, V), randomTokens(2, 14, V)];
    const batch = await model.forward(seqs, { logits: 'all' });
    let off = 0;
    for (const s of seqs) {
      const alone = await model.logits(s);
      expectRowsClose(batch.logits.subarray(off * V, (off + s.length) * V), alone);
      off += s.length;
    }
  });

  it('one advance call over states at different lengths with mixed chunk sizes equals separate calls', async () => {
    const seqs = [randomTokens(12, 21, V), randomTokens(7, 22, V), randomTokens(9, 23, V)];
    const cut = [4, 1, 6];
    const states = seqs.map(() => model.createState());
    // Bring each state to a different length, one call each.
    for (let i = 0; i < 3; i++) await model.prefill(states[i], seqs[i].subarray(0, cut[i]));
    // Then advance all of them together by chunks of different lengths.
    const r = await model.advance(states, seqs.map((s, i) => s.subarray(cut[i])), { logits: 'all' });
    let off = 0;
    for (let i = 0; i < 3; i++) {
      const n = seqs[i].length - cut[i];
      const full = await model.logits(seqs[i]);
      expectRowsClose(r.logits.subarray(off * V, (off + n) * V), full.subarray(cut[i] * V, seqs[i].length * V));
      off += n;
      expect(states[i].length).toBe(seqs[i].length);
    }
    for (const s of states) s.free();
  });

  it('batched decode of 8 states equals decoding each state alone', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => randomTokens(1 + 3 * i, 300 + i, V));
    const batched = prompts.map(() => model.createState());
    const single = prompts.map(() => model.createState());
    await model.advance(batched, prompts, { logits: 'none' });
    for (let i = 0; i < 8; i++) await model.prefill(single[i], prompts[i]);
    for (let step = 0; step < 3; step++) {
      const toks = randomTokens(8, 400 + step, V);
      const lb = await model.decodeBatch(batched, toks);
      for (let i = 0; i < 8; i++) expectRowsClose(row(lb, i), await model.decodeBatch([single[i]], [toks[i]]));
    }
    for (const s of [...batched, ...single]) s.free();
  });
});

describe('state lifecycle', () => {
  it('reports length and bytes, and refuses use after free', async () => {
    const st = model.createState();
    expect(st.length).toBe(0);
    const before = st.bytes;
    await model.prefill(st, randomTokens(10, 1, V));
    // Each of the 2 attention layers caches K and V: 2 × 2 × 10 tokens × (2 KV heads × 16) floats.
    expect(st.bytes - before).toBe(2 * 2 * 10 * 32 * 4);
    st.free();
    expect(st.freed).toBe(true);
    await expect(model.prefill(st, [1])).rejects.toThrow(/freed/);
    expect(() => st.fork()).toThrow(/freed/);
  });
});
