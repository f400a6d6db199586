// The CUDA sampling kernel against the float64 reference of the CPU sampler (test/ref/sampler-ref.ts). The draw is
// an inverse CDF at a given uniform, so R rows of the same logits with u_i = (i + ½)/R must hit every token j
// between ⌊q_j·R⌋ and ⌈q_j·R⌉ + 1 times: a deterministic check of the whole kept set and its probabilities.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/engine/native.ts';
import { randn, rng } from '../ref/train-ref.ts';
import { refDistribution, refLogSoftmaxAt, type RefParams } from '../ref/sampler-ref.ts';
import { freshRandom } from '../util/random.ts';
import { gpu, gpuScale, skipReason } from './gpu-available.ts';

// LFM2_TEST_SEED replays a failing run's seed (printed in the suite name).
const { seed } = freshRandom();

describe.skipIf(!gpu)(`CUDA sampling vs the sampler reference ${skipReason} (seed ${seed})`, () => {
  // R rows of 1024 threads each: 4096 on a GPU, 256 on the emulator (about 2 s of CPU per row batch of 16 there);
  // the kept-set and per-token count checks below hold for any R.
  const V = 3000, R = gpuScale(4096, 256);
  const cases: [string, RefParams, boolean][] = [
    ['plain', { temperature: 1 }, false],
    ['temperature 0.7 + top-k 40', { temperature: 0.7, topK: 40 }, false],
    ['top-p 0.9', { temperature: 1, topP: 0.9 }, false],
    ['min-p 0.05 + repetition penalty 1.3', { temperature: 1.2, minP: 0.05, repetitionPenalty: 1.3 }, false],
    ['all filters + constrained ids', { temperature: 0.8, topK: 50, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1 }, true],
  ];
  it.each(cases)('%s', (_name, p, constrained) => {
    const r = rng(seed + _name.length);
    const row = Float32Array.from(randn(r, V, 2.5));
    row[5] = row[6] = row[7] = Math.max(...row) - 0.5;  // exact ties among likely tokens exercise the id tie-break
    const seen = Int32Array.from({ length: 30 }, () => Math.floor(r() * V));
    const allowed = constrained ? Int32Array.from(new Set(Array.from({ length: 400 }, () => Math.floor(r() * V)))).sort() : undefined;
    const ref = refDistribution(row, p, Array.from(seen), allowed ? Array.from(allowed) : undefined);
    const logits = new Float32Array(R * V);
    for (let i = 0; i < R; i++) logits.set(row, i * V);
    const rows = Array.from({ length: R }, (_, i) => ({ ...p, uniform: (i + 0.5) / R, seen, allowed }));
    const out = native().ops.sample({ device: 'cuda', logits, rows: R, vocab: V, params: rows });
    const count = new Map<number, number>();
    for (const t of out.token) count.set(t, (count.get(t) ?? 0) + 1);
    const q = new Map(ref.ids.map((id, j) => [id, ref.probs[j]]));
    for (const [id] of count) expect(q.has(id), `token ${id} outside the kept set`).toBe(true);
    // FP32 vs float64 probabilities (≈1e-6 relative) can move a CDF boundary past at most one more u.
    for (const [id, pj] of q) {
      const c = count.get(id) ?? 0;
      expect(c, `token ${id} q=${pj}`).toBeGreaterThanOrEqual(Math.floor(pj * R) - 1);
      expect(c, `token ${id} q=${pj}`).toBeLessThanOrEqual(Math.ceil(pj * R) + 1);
    }
    for (let i = 0; i < R; i += 97) {
      const t = out.token[i];
      expect(Math.abs(out.logq[i] - Math.log(q.get(t)!))).toBeLessThan(1e-4);
      expect(Math.abs(out.logp[i] - refLogSoftmaxAt(row, t))).toBeLessThan(1e-4);
    }
  });

  it('greedy picks the lowest id among equal maxima; bad parameters are clear errors', () => {
    const row = Float32Array.from({ length: 100 }, (_, i) => (i % 7) * 0.1);
    row[20] = row[13] = 5;
    const out = native().ops.sample({ device: 'cuda', logits: row, rows: 1, vocab: 100, params: [{ temperature: 0, uniform: 0.3 }] });
    expect(out.token[0]).toBe(13);
    expect(out.logq[0]).toBe(0);
    expect(() => native().ops.sample({ device: 'cuda', logits: row, rows: 1, vocab: 100, params: [{ uniform: 1 }] })).toThrow(/uniform must be in \[0, 1\)/);
    expect(() => native().ops.sample({ device: 'cuda', logits: row, rows: 1, vocab: 100, params: [{ uniform: 0.5, allowed: Int32Array.of(100) }] })).toThrow(/allowed id 100/);
  });
});
