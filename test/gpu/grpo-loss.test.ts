// The CUDA fused GRPO loss against the CPU engine's fused loss (native/model/grpo_loss.h, itself tested against
// the float64 TRL reference) on the same BF16 head, for every loss type, with clipping, KL and importance weights;
// the sft cross-entropy; and token accuracy (`correct`) against a float64 argmax.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/engine/native.ts';
import type { EngineLossType, GrpoLossType } from '../../lib/engine/native-types.ts';
import { f32, randn, rng } from '../ref/train-ref.ts';
import { freshRandom } from '../util/random.ts';
import { bf16Bits, bf16Value, gpu, skipReason, worst } from './gpu-available.ts';

// LFM2_TEST_SEED replays a failing run's seed (printed in the suite name).
const { seed } = freshRandom();

/**
 * Float64 argmax (first index on ties) of each row of hidden [N, C] · headᵀ [V, C], and whether the row is a near
 * tie: its top two logits differ, but by at most 1e-4 of the largest |logit|. The engines' FP32 logits of BF16-exact
 * inputs are off by ~1e-6 relative, so only near-tie rows may have another argmax there.
 */
function refArgmax(hidden: ArrayLike<number>, head: ArrayLike<number>, N: number, V: number, C: number) {
  const argmax: number[] = [], nearTie: boolean[] = [];
  for (let n = 0; n < N; n++) {
    const z = Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += hidden[n * C + c] * head[v * C + c];
      return s;
    });
    let top = 0;
    for (let v = 1; v < V; v++) if (z[v] > z[top]) top = v;
    const second = Math.max(...z.filter((_, v) => v !== top));
    const gap = z[top] - second;
    argmax.push(top);
    nearTie.push(gap > 0 && gap <= 1e-4 * Math.max(...z.map(Math.abs)));
  }
  return { argmax, nearTie };
}

/** Float64 token accuracy: Σ mask·[argmax = target] and how many of those rows are near ties (the allowed slack). */
function refCorrect(r: ReturnType<typeof refArgmax>, targets: Int32Array, mask: Float32Array) {
  let correct = 0, slack = 0;
  for (let n = 0; n < targets.length; n++) {
    if (!mask[n]) continue;
    correct += +(r.argmax[n] === targets[n]);
    slack += +r.nearTie[n];
  }
  return { correct, slack };
}

describe.skipIf(!gpu)(`CUDA GRPO loss vs the CPU fused loss ${skipReason} (seed ${seed})`, () => {
  it.each(['grpo', 'bnpo', 'dr_grpo', 'dapo'] as GrpoLossType[])('%s: loss, statistics, logp, dH and dE', (lossType) => {
    const r = rng(seed + lossType.length);
    const N = 70, V = 1000, C = 64;
    // Hidden states already BF16-exact, so the GPU's BF16 rounding of its GEMM input changes nothing.
    const hidden = Float32Array.from(bf16Value(bf16Bits(randn(r, N * C))));
    const head = bf16Bits(randn(r, V * C, 0.3));
    const targets = Int32Array.from({ length: N }, () => Math.floor(r() * V));
    const mask = Float32Array.from({ length: N }, () => (r() < 0.8 ? 1 : 0));
    const seqIds = Int32Array.from({ length: N }, (_, i) => Math.floor(i / 9));
    // Every third row targets its argmax, so token accuracy has hits to count.
    const am = refArgmax(hidden, bf16Value(head), N, V, C);
    for (let n = 0; n < N; n += 3) targets[n] = am.argmax[n];
    const args = {
      rows: N, vocab: V, dim: C, hidden, targets, mask, seqIds, lossType,
      advantages: f32(randn(r, N)),
      oldLogp: f32(randn(r, N, 0.3).map((x) => x - 7)),  // ratios far from 1: both clip branches are exercised
      refLogp: f32(randn(r, N, 0.3).map((x) => x - 7)),
      isWeight: f32(Array.from({ length: N }, () => 0.5 + r())),
      beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.28, temperature: 0.9, maxCompletionLength: 16, chunkRows: 32,
    };
    const cpuOut = { dhidden: new Float32Array(N * C), dhead: new Float32Array(V * C), logp: new Float32Array(N), entropy: new Float32Array(N) };
    const gpuOut = { dhidden: new Float32Array(N * C), dhead: new Float32Array(V * C), logp: new Float32Array(N), entropy: new Float32Array(N) };
    const want = native().ops.grpoLoss({ ...args, head, ...cpuOut });
    const got = native().ops.grpoLoss({ device: 'cuda', ...args, head, ...gpuOut });
    // Logits are FP32 sums of 64 exact BF16 products on both sides (≈1e-6 relative), so logp/entropy agree to ~1e-5.
    expect(worst(gpuOut.logp, cpuOut.logp, 1e-4, 1e-5)).toBeLessThanOrEqual(1);
    expect(worst(gpuOut.entropy, cpuOut.entropy, 1e-4, 1e-5)).toBeLessThanOrEqual(1);
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(want.loss) + 1e-6);
    expect(got.tokens).toBe(want.tokens);
    for (const k of ['clipLow', 'clipHigh', 'clipRegion'] as const) expect(got[k], k).toBe(want[k]);
    const acc = refCorrect(am, targets, mask);
    expect(acc.correct).toBeGreaterThan(0);
    expect(Math.abs(got.correct - acc.correct), `correct ${got.correct} vs ${acc.correct}`).toBeLessThanOrEqual(acc.slack);
    expect(Math.abs(got.klSum - want.klSum)).toBeLessThanOrEqual(1e-4 * want.klSum + 1e-6);
    // The GPU rounds dlogits (and H for dE) to BF16 for its backward GEMMs: 2^-8 relative per term, averaging out
    // over V (dH) or N (dE) terms; 2% of the largest gradient entry bounds it, an indexing error is O(100%).
    const maxOf = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(worst(gpuOut.dhidden, cpuOut.dhidden, 2e-2 * maxOf(cpuOut.dhidden), 0)).toBeLessThanOrEqual(1);
    expect(worst(gpuOut.dhead, cpuOut.dhead, 2e-2 * maxOf(cpuOut.dhead), 0)).toBeLessThanOrEqual(1);
  });

  // sft: l = −logp with temperature 1; the same error sources as the GRPO cases above, so the same tolerances.
  const sftCase = (r: () => number, N: number, V: number, C: number) => {
    const hidden = Float32Array.from(bf16Value(bf16Bits(randn(r, N * C))));
    const head = bf16Bits(randn(r, V * C, 0.3));
    const targets = Int32Array.from({ length: N }, () => Math.floor(r() * V));
    const mask = Float32Array.from({ length: N }, (_, n) => (n % 7 === 3 ? 0 : 1));
    const am = refArgmax(hidden, bf16Value(head), N, V, C);
    for (let n = 0; n < N; n += 2) targets[n] = am.argmax[n];
    const seqIds = Int32Array.from({ length: N }, (_, i) => Math.floor(i / 8));
    return { args: { rows: N, vocab: V, dim: C, hidden, head, targets, mask, seqIds, lossType: 'sft' as const, chunkRows: 16 }, am };
  };
  const outputs = (N: number, V: number, C: number) => ({
    dhidden: new Float32Array(N * C), dhead: new Float32Array(V * C), logp: new Float32Array(N), entropy: new Float32Array(N),
  });
  const maxOf = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

  it('sft: loss = mean −logp, logp, correct, dH and dE vs the CPU loss, with no advantages or old log-probs', () => {
    const r = rng(seed + 11);
    const N = 40, V = 300, C = 32;
    const { args, am } = sftCase(r, N, V, C);
    const cpuOut = outputs(N, V, C), gpuOut = outputs(N, V, C);
    const want = native().ops.grpoLoss({ ...args, ...cpuOut });
    const got = native().ops.grpoLoss({ device: 'cuda', ...args, ...gpuOut });
    expect(worst(gpuOut.logp, cpuOut.logp, 1e-4, 1e-5)).toBeLessThanOrEqual(1);
    let nll = 0;
    for (let n = 0; n < N; n++) if (args.mask[n]) nll -= gpuOut.logp[n];
    expect(got.tokens).toBe(want.tokens);
    // Its own log-probs, averaged in double: only the FP32 rounding of each logp separates the two (≤ 1e-6 relative).
    expect(Math.abs(got.loss - nll / got.tokens)).toBeLessThanOrEqual(1e-6 * Math.abs(got.loss));
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(want.loss) + 1e-6);
    expect([got.clipLow, got.clipHigh, got.clipRegion, got.klSum]).toEqual([0, 0, 0, 0]);
    const acc = refCorrect(am, args.targets, args.mask);
    expect(acc.correct).toBeGreaterThan(0);
    expect(Math.abs(got.correct - acc.correct), `correct ${got.correct} vs ${acc.correct}`).toBeLessThanOrEqual(acc.slack);
    expect(worst(gpuOut.dhidden, cpuOut.dhidden, 2e-2 * maxOf(cpuOut.dhidden), 0)).toBeLessThanOrEqual(1);
    expect(worst(gpuOut.dhead, cpuOut.dhead, 2e-2 * maxOf(cpuOut.dhead), 0)).toBeLessThanOrEqual(1);
    // Masked rows: no gradient at all.
    for (let n = 3; n < N; n += 7) expect(maxOf(gpuOut.dhidden.subarray(n * C, (n + 1) * C)), `masked row ${n}`).toBe(0);
  });

  it('sft with token weights: the weighted loss, counts and gradients match the CPU loss', () => {
    const r = rng(seed + 13);
    const N = 40, V = 300, C = 32;
    const { args } = sftCase(r, N, V, C);
    const mask = Float32Array.from(args.mask, (m) => (m ? Math.fround(0.05 + 1.95 * r()) : 0));
    const cpuOut = outputs(N, V, C), gpuOut = outputs(N, V, C);
    const want = native().ops.grpoLoss({ ...args, mask, ...cpuOut });
    const got = native().ops.grpoLoss({ device: 'cuda', ...args, mask, ...gpuOut });
    let nll = 0, wsum = 0;
    for (let n = 0; n < N; n++) {
      nll -= mask[n] * gpuOut.logp[n];
      wsum += mask[n];
    }
    // Sums of FP32 weights in double, in different orders: equal to rounding.
    expect(Math.abs(got.tokens - wsum)).toBeLessThanOrEqual(1e-9 * wsum);
    expect(Math.abs(got.loss - nll / wsum)).toBeLessThanOrEqual(1e-6 * Math.abs(got.loss));
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(want.loss) + 1e-6);
    expect(worst(gpuOut.dhidden, cpuOut.dhidden, 2e-2 * maxOf(cpuOut.dhidden), 0)).toBeLessThanOrEqual(1);
    expect(worst(gpuOut.dhead, cpuOut.dhead, 2e-2 * maxOf(cpuOut.dhead), 0)).toBeLessThanOrEqual(1);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...args, mask: Float32Array.from(mask, (m, n) => (n === 5 ? -1 : m)) })).toThrow(
      /mask at row 5 must be a finite weight >= 0 for loss_type sft/,
    );
  });

  it('sft: two micro-batches with the batch token count add up to the full batch; masked rows change nothing', () => {
    const r = rng(seed + 12);
    const N = 24, V = 200, C = 32;
    const { args, am } = sftCase(r, N, V, C);
    const full = outputs(N, V, C);
    const st = native().ops.grpoLoss({ device: 'cuda', ...args, ...full });
    const half = N / 2;
    const part = <T extends Float32Array | Int32Array>(a: T, i: number, w = 1) => a.slice(i * half * w, (i + 1) * half * w) as T;
    const dhead = new Float32Array(V * C);
    let loss = 0, correct = 0;
    const dhidden = new Float32Array(N * C);
    for (const i of [0, 1]) {
      const dh = new Float32Array(half * C);
      const s = native().ops.grpoLoss({ device: 'cuda',
        ...args, rows: half, hidden: part(args.hidden, i, C), targets: part(args.targets, i), mask: part(args.mask, i),
        seqIds: part(args.seqIds, i), tokenNormalizer: st.tokens, dhidden: dh, dhead,
      });
      loss += s.loss;
      correct += s.correct;
      dhidden.set(dh, i * half * C);
    }
    // The same rows on both paths; cuBLASLt may pick another GEMM algorithm for another row count (FP32 logits off by
    // ~1e-6 relative, near-tie rows may flip), and dE adds the halves in another order, with BF16-rounded dlogits that
    // can land on the other side of a rounding boundary (2^-8 of one term). A lost half or a wrong normaliser is O(1).
    expect(Math.abs(loss - st.loss)).toBeLessThanOrEqual(1e-5 * st.loss);
    expect(Math.abs(correct - st.correct)).toBeLessThanOrEqual(refCorrect(am, args.targets, args.mask).slack);
    expect(worst(dhidden, full.dhidden, 1e-4 * maxOf(full.dhidden), 1e-4)).toBeLessThanOrEqual(1);
    expect(worst(dhead, full.dhead, 1e-2 * maxOf(full.dhead), 0)).toBeLessThanOrEqual(1);
    // Other contents in the masked rows (hidden states and targets) leave loss, statistics and gradients as they were.
    const hidden = Float32Array.from(args.hidden), targets = Int32Array.from(args.targets);
    for (let n = 3; n < N; n += 7) {
      for (let c = 0; c < C; c++) hidden[n * C + c] = bf16Value(bf16Bits([4 * (r() - 0.5)]))[0];
      targets[n] = (targets[n] + 1) % V;
    }
    const other = outputs(N, V, C);
    const st2 = native().ops.grpoLoss({ device: 'cuda', ...args, hidden, targets, ...other });
    expect([st2.loss, st2.tokens, st2.correct, st2.entropySum]).toEqual([st.loss, st.tokens, st.correct, st.entropySum]);
    expect(other.dhidden).toEqual(full.dhidden);
    expect(other.dhead).toEqual(full.dhead);
  });

  it('token accuracy takes the first index of a tied maximum, for every loss type', () => {
    // Integer inputs (BF16-exact, every FP32 sum exact in any order), so ties are exact on the GPU too. Head rows 7 and
    // 150 are both 3·s1 and hidden rows 0 and 1 are s1 (±1 per entry): their logits tie at 3·C on ids 7 and 150, above
    // every other id (|s1·e_v| ≤ 2·C for entries in {−2, …, 2}, ≤ 3·(C − 2) for the 3·s2 rows below). Row 0 targets
    // 150 (the later index: wrong), row 1 targets 7 (right). The other rows draw entries from {−2, …, 2}, where ties at
    // the maximum are common.
    const r = rng(seed + 13);
    const N = 20, V = 600, C = 16;
    const int = (n: number) => Float64Array.from({ length: n }, () => Math.floor(r() * 5) - 2);
    const hv = int(N * C), ev = int(V * C);
    const s1 = Array.from({ length: C }, () => (r() < 0.5 ? -1 : 1));
    // s2 differs from both s1 and −s1 somewhere, so |s1·s2| ≤ C − 2 and the two tied groups never meet.
    const s2 = Array.from({ length: C }, (_, c) => (c === 0 ? s1[0] : c === 1 ? -s1[1] : r() < 0.5 ? -1 : 1));
    for (let c = 0; c < C; c++) {
      hv[c] = hv[C + c] = s1[c];
      ev[7 * C + c] = ev[150 * C + c] = 3 * s1[c];
      // Row 2 ties on ids 20, 530 and 532: 530 lies in another thread's slice, 532 in the same thread's as 20 (the
      // block has 512 threads striding over the vocabulary).
      hv[2 * C + c] = s2[c];
      ev[20 * C + c] = ev[530 * C + c] = ev[532 * C + c] = 3 * s2[c];
    }
    const am = refArgmax(hv, ev, N, V, C);
    expect(am.argmax.slice(0, 3)).toEqual([7, 7, 20]);
    const targets = Int32Array.from(am.argmax, (a, n) => (n % 2 === 0 ? a : (a + 1 + Math.floor(r() * (V - 1))) % V));
    targets[0] = 150;
    targets[1] = 7;
    targets[2] = 20;
    const mask = Float32Array.from({ length: N }, (_, n) => (n === 4 ? 0 : 1));
    const want = refCorrect(am, targets, mask);
    expect(want.slack).toBe(0);
    const args = {
      rows: N, vocab: V, dim: C, hidden: f32(hv), head: bf16Bits(ev), targets, mask, seqIds: Int32Array.from({ length: N }, (_, n) => n % 4),
      advantages: f32(randn(r, N)), maxCompletionLength: 16, chunkRows: 8,
    };
    for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'sft'] as EngineLossType[]) {
      const got = native().ops.grpoLoss({ device: 'cuda', ...args, lossType });
      expect(got.correct, lossType).toBe(want.correct);
      expect(native().ops.grpoLoss({ ...args, lossType }).correct, `${lossType} (CPU)`).toBe(want.correct);
    }
  });

  it('bad input is a clear error', () => {
    const base = {
      rows: 1, vocab: 4, dim: 2, hidden: new Float32Array(2), head: new Uint16Array(8), targets: Int32Array.of(4),
      advantages: new Float32Array(1), mask: Float32Array.of(1), seqIds: Int32Array.of(0),
    };
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...base })).toThrow(/target 4 at row 0 outside \[0, 4\)/);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...base, targets: Int32Array.of(0), beta: 0.1 })).toThrow(/reference log-probs/);
    const ok = { ...base, targets: Int32Array.of(0) };
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...ok, advantages: undefined })).toThrow(/advantages/);
    const sft = { ...ok, advantages: undefined, lossType: 'sft' as const };
    expect(native().ops.grpoLoss({ device: 'cuda', ...sft }).tokens).toBe(1);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...sft, beta: 0.1, refLogp: new Float32Array(1) })).toThrow(/loss_type sft: beta must be 0/);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...sft, temperature: 0.7 })).toThrow(/loss_type sft: temperature must be 1/);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...sft, isWeight: Float32Array.of(1) })).toThrow(/sft takes no importance weights/);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...ok, lossType: 'ppo' as EngineLossType })).toThrow(/lossType must be/);
    expect(() => native().ops.grpoLoss({ device: 'cuda', ...ok, mask: Float32Array.of(0.5) })).toThrow(/mask at row 0 must be 0 or 1/);
  });
});
