// GPU training throughput on a random-weight LFM2-350M (BF16 weights on the device), registered in bench/run.ts and
// run by `make bench-gpu` (--gpu). Each row is one trainer on the CUDA model (native/backend/cuda/cuda_trainer.cuh):
//   - GRPO micro-batch (forward, fused chunked loss, backward) for LoRA r=8 on all 9 module kinds, LoRA with
//     activation checkpointing, and full fine-tuning: tokens/s and MFU against the H100 dense BF16 peak of
//     989 TFLOP/s. Model FLOPs per token: forward 2N, backward 2N for the input gradients plus 2N for the weight
//     gradients in full fine-tuning (LoRA: 4N, full: 6N; +2N more with checkpointing's recompute, which counts as
//     work done but not as model FLOPs), plus causal attention (forward 4·L/2·H·D per attention layer and token,
//     backward twice that);
//   - one whole GRPO optimizer step of the LoRA config: --gpu-accum micro-batches accumulated, then AdamW.
// Extra args: --gpu-train-seqs N, --gpu-train-len N (micro-batch shape, default 8 × 512), --gpu-accum N (default 4).
// Without a usable GPU it prints why and returns no rows (exit 0); on the CUDA emulator it says so and skips.
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { LfmModel } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { TrainerEngine, type TrainBatch, type TrainerEngineOptions } from '../lib/engine/trainer-engine.ts';
import { argNum, ensureBenchModel } from './common.ts';
import { gpuBenchReady, H100_BF16_DENSE_FLOPS } from './gpu-common.ts';
import type { BenchContext, BenchRow } from './types.ts';

const COMPLETION = 64;  // scored tokens at the end of each sequence

export async function benchGpuTrain(ctx: Partial<BenchContext> = {}): Promise<BenchRow[]> {
  const log = ctx.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  if (!gpuBenchReady(ctx, 'gpu-train')) return [];
  const info = native().backendInfo();
  const args = ctx.args ?? [];
  const quick = ctx.quick ?? false;
  const seqs = argNum(args, '--gpu-train-seqs', quick ? 2 : 8);
  const len = argNum(args, '--gpu-train-len', 512);
  const accum = argNum(args, '--gpu-accum', quick ? 2 : 4);
  const reps = quick ? 2 : 5;
  const model = await LfmModel.load(ensureBenchModel(log), { device: 'cuda' });
  const c = model.config;
  const N = model.info.parameterCount;
  const nAttn = c.layerTypes.filter((t) => t === 'full_attention').length;
  const rnd = mulberry32(11);
  const batch = (): TrainBatch => {
    const sequences = Array.from({ length: seqs }, () => Int32Array.from({ length: len }, () => 10 + Math.floor(rnd() * (c.vocabSize - 10))));
    return {
      sequences,
      completionMasks: sequences.map((s) => Float32Array.from(s, (_, i) => (i >= s.length - COMPLETION ? 1 : 0))),
      advantages: sequences.map((_, i) => (i % 2 ? -1 : 1)),
    };
  };
  const T = seqs * len;
  // Causal attention per micro-batch: QKᵀ and PV over L/2 keys on average, forward 2·2·T·(L/2)·H·D per layer.
  const attnFwd = nAttn * 4 * T * (len / 2) * c.numHeads * c.headDim;
  const lora: TrainerEngineOptions['lora'] = {
    r: 8, loraAlpha: 16, useRslora: false,
    targetModules: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'],
  };
  const configs: { name: string; opts: TrainerEngineOptions; flops: number }[] = [
    { name: 'LoRA r=8', opts: { mode: 'lora', lora, optimizer: { learningRate: 1e-5 } }, flops: 4 * N * T + 3 * attnFwd },
    { name: 'LoRA r=8, checkpointing', opts: { mode: 'lora', lora, optimizer: { learningRate: 1e-5 }, checkpointing: true }, flops: 4 * N * T + 3 * attnFwd },
    { name: 'full', opts: { mode: 'full', optimizer: { learningRate: 1e-6 } }, flops: 6 * N * T + 3 * attnFwd },
  ];
  const rows: BenchRow[] = [];
  for (const cfg of configs) {
    log(`gpu-train: ${cfg.name}, micro-batch ${seqs}×${len}`);
    const t = await TrainerEngine.create(model, cfg.opts);
    const b = batch();
    await t.accumulate(b);  // warm-up: arena growth, cuBLASLt heuristics
    await t.zeroGrad();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await t.accumulate(b);
    const sec = (performance.now() - t0) / 1000 / reps;
    const s0 = performance.now();
    await t.step();
    const stepSec = (performance.now() - s0) / 1000;
    rows.push({
      what: `${cfg.name}: micro-batch ${seqs}×${len}`,
      tokens: T,
      's/iter': sec,
      'tok/s': T / sec,
      'TFLOP/s': cfg.flops / sec / 1e12,
      'MFU vs 989': cfg.flops / sec / H100_BF16_DENSE_FLOPS,
      'AdamW s': stepSec,
    });
    if (cfg.name === 'LoRA r=8') {
      log(`gpu-train: one GRPO step of ${accum} micro-batches + AdamW`);
      const bs = Array.from({ length: accum }, batch);
      const g0 = performance.now();
      for (const mb of bs) await t.accumulate(mb);
      await t.step();
      const gsec = (performance.now() - g0) / 1000;
      rows.push({
        what: `LoRA r=8: GRPO step (${accum} × ${seqs}×${len} + AdamW)`,
        tokens: accum * T,
        's/iter': gsec,
        'tok/s': (accum * T) / gsec,
        'TFLOP/s': (accum * cfg.flops) / gsec / 1e12,
        'MFU vs 989': (accum * cfg.flops) / gsec / H100_BF16_DENSE_FLOPS,
      });
    }
  }
  rows.push({ what: `device ${info.cudaDeviceName}; ${(N / 1e6).toFixed(0)}M parameters, ${COMPLETION} scored tokens per sequence` });
  return rows;
}
