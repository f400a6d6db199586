// The CUDA fused GRPO loss against the CPU engine's fused loss (native/model/grpo_loss.h, itself tested against
// the float64 TRL reference) on the same BF16 head, for every loss type, with clipping, KL and importance weights.
import { describe, expect, it } from 'vitest';
import { native } from '../../lib/engine/native.ts';
import type { GrpoLossType } from '../../lib/engine/native-types.ts';
import { f32, randn, rng } from '../ref/train-ref.ts';
import { bf16Bits, bf16Value, gpu, skipReason, worst } from './gpu-available.ts';

const seed = (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;

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
    const want = native().train.grpoLoss({ ...args, head, ...cpuOut });
    const got = native().cudaOps.grpoLoss({ ...args, head, ...gpuOut });
    // Logits are FP32 sums of 64 exact BF16 products on both sides (≈1e-6 relative), so logp/entropy agree to ~1e-5.
    expect(worst(gpuOut.logp, cpuOut.logp, 1e-4, 1e-5)).toBeLessThanOrEqual(1);
    expect(worst(gpuOut.entropy, cpuOut.entropy, 1e-4, 1e-5)).toBeLessThanOrEqual(1);
    expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(want.loss) + 1e-6);
    expect(got.tokens).toBe(want.tokens);
    for (const k of ['clipLow', 'clipHigh', 'clipRegion'] as const) expect(got[k], k).toBe(want[k]);
    expect(Math.abs(got.klSum - want.klSum)).toBeLessThanOrEqual(1e-4 * want.klSum + 1e-6);
    // The GPU rounds dlogits (and H for dE) to BF16 for its backward GEMMs: 2^-8 relative per term, averaging out
    // over V (dH) or N (dE) terms; 2% of the largest gradient entry bounds it, an indexing error is O(100%).
    const maxOf = (a: Float32Array) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(worst(gpuOut.dhidden, cpuOut.dhidden, 2e-2 * maxOf(cpuOut.dhidden), 0)).toBeLessThanOrEqual(1);
    expect(worst(gpuOut.dhead, cpuOut.dhead, 2e-2 * maxOf(cpuOut.dhead), 0)).toBeLessThanOrEqual(1);
  });

  it('bad input is a clear error', () => {
    const base = {
      rows: 1, vocab: 4, dim: 2, hidden: new Float32Array(2), head: new Uint16Array(8), targets: Int32Array.of(4),
      advantages: new Float32Array(1), mask: Float32Array.of(1), seqIds: Int32Array.of(0),
    };
    expect(() => native().cudaOps.grpoLoss(base)).toThrow(/target 4 at row 0 outside \[0, 4\)/);
    expect(() => native().cudaOps.grpoLoss({ ...base, targets: Int32Array.of(0), beta: 0.1 })).toThrow(/reference log-probs/);
  });
});
