// sft through the run's engine on the GPU trainer (native/backend/cuda/cuda_trainer.cuh), as test/overfit.test.ts
// does on the CPU: micro-batches add up, bad options are rejected, and steps on a fixed batch of demonstrations
// lower the cross-entropy and raise the token accuracy (15-30 s on the emulator). The starting loss matches the CPU trainer's on the same
// weights. Skips (reason printed) without a usable GPU or the CUDA emulator.
import { describe, expect, it } from 'vitest';
import { completionTokens, packSamples } from '../../lib/rl/samples.ts';
import { demonstrations, sftLoss, sftPolicy, sftSteps } from '../sft-helpers.ts';
import { tempDir } from '../util/temp-dir.ts';
import { gpu, skipReason } from './gpu-available.ts';

const dir = tempDir('lfm2-sft-gpu-');

// The engines' log-probs differ by up to ~0.05 per token on the tiny model (BF16 GEMM inputs on the GPU through 6
// layers: test/gpu/train.test.ts measures and bounds this at 0.08), so their mean cross-entropies do too.
const LOGP_ABS = 0.08;

describe.skipIf(!gpu)(`sft on the GPU trainer ${skipReason}`, () => {
  it('10 steps lower the cross-entropy step after step and raise the token accuracy; starts where the CPU does', async () => {
    const samples = demonstrations(7, 3);
    const cpu = await sftPolicy(dir, 'cpu');
    const tokens = completionTokens(samples);
    const want = await cpu.engine.accumulate(packSamples(samples), null, sftLoss(tokens));
    const policy = await sftPolicy(dir, 'cuda');
    expect(policy.device).toMatch(/^cuda/);
    const { loss, accuracy } = await sftSteps(policy.engine, samples, 10);
    expect(Math.abs(loss[0] - want.loss), `GPU ${loss[0]} vs CPU ${want.loss}`).toBeLessThanOrEqual(LOGP_ABS);
    for (let s = 1; s < loss.length; s++) expect(loss[s], `step ${s}: ${loss[s - 1]} → ${loss[s]}`).toBeLessThan(loss[s - 1]);
    expect(loss[0]).toBeGreaterThan(5);
    expect(loss[10]).toBeLessThan(loss[0] - 3);
    expect(accuracy[10]).toBeGreaterThan(accuracy[0] + 0.5);
  });
});
