// GPU engine throughput on a random-weight LFM2-350M (BF16 weights on the device), registered in bench/run.ts and
// run by `make bench-gpu` (--gpu). Rows:
//   - forward of a GRPO-shaped micro-batch (8 sequences × 512 tokens, all logits): tokens/s and MFU of the forward
//     FLOPs (2·N_params·tokens + attention) against the H100 dense BF16 peak of 989 TFLOP/s;
//   - batched one-token decode at 1, 8, 64, 256 concurrent sequences (context 512): tokens/s, and at batch 1 the
//     memory-bandwidth utilisation (weight + KV bytes read per step / step time) against the card's peak;
//   - the same concurrencies through the GPU sampler (Sampler on a 'cuda' model: sampling on the device, one pinned
//     upload and one download per step) with the decode step replayed as a CUDA graph and with direct launches.
// Without a usable GPU it prints "no GPU" and returns no rows (exit 0); on the CUDA emulator it says so and skips.
import { LfmModel } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { Sampler } from '../lib/engine/sampler.ts';
import { argNum, ensureBenchModel } from './common.ts';
import { gpuBenchReady, H100_BF16_DENSE_FLOPS } from './gpu-common.ts';
import type { BenchContext, BenchRow } from './types.ts';


/** Peak HBM bandwidth by card name (bytes/s); H100 SXM 3.35 TB/s, H200 4.8 TB/s, H100 PCIe 2.0 TB/s. */
function peakBandwidth(name: string): number {
  if (/H200/i.test(name)) return 4.8e12;
  if (/H100.*PCIe/i.test(name)) return 2.0e12;
  if (/H100/i.test(name)) return 3.35e12;
  if (/A100/i.test(name)) return 2.0e12;
  return NaN;
}

export async function benchGpu(ctx: Partial<BenchContext> = {}): Promise<BenchRow[]> {
  const log = ctx.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  if (!gpuBenchReady(ctx, 'gpu')) return [];
  const info = native().backendInfo();
  const args = ctx.args ?? [];
  const quick = ctx.quick ?? false;
  const seqLen = argNum(args, '--gpu-seq', 512);
  const microBatch = argNum(args, '--gpu-batch', quick ? 2 : 8);
  const steps = argNum(args, '--gpu-steps', quick ? 4 : 16);
  const model = await LfmModel.load(ensureBenchModel(log), { device: 'cuda' });
  const cm = model.native;
  const c = model.config;
  const params = model.info.parameterCount;
  const V = c.vocabSize;
  const rnd = mulberry32(7);
  const tokens = (n: number) => Int32Array.from({ length: n }, () => 10 + Math.floor(rnd() * (V - 10)));
  const rows: BenchRow[] = [];
  const nAttn = c.layerTypes.filter((t) => t === 'full_attention').length;

  // ---- forward of a GRPO-shaped micro-batch
  const batch = Array.from({ length: microBatch }, () => tokens(seqLen));
  await model.forward(batch, { logits: 'all' });  // warm-up: arena growth, cuBLASLt heuristics
  const reps = quick ? 2 : 5;
  let t0 = performance.now();
  for (let i = 0; i < reps; i++) await model.forward(batch, { logits: 'all' });
  let sec = (performance.now() - t0) / 1000 / reps;
  const T = microBatch * seqLen;
  // causal attention: QKᵀ and PV, 2·2·T·(L/2)·H·D per attention layer
  const attnFlops = nAttn * 4 * microBatch * seqLen * (seqLen / 2) * c.numHeads * c.headDim;
  const fwdFlops = 2 * params * T + attnFlops;
  rows.push({
    what: `forward ${microBatch}×${seqLen}, all logits`,
    tokens: T,
    's/iter': sec,
    'tok/s': T / sec,
    'TFLOP/s': fwdFlops / sec / 1e12,
    'MFU vs 989': fwdFlops / sec / H100_BF16_DENSE_FLOPS,
  });

  // ---- batched decode
  const prompt = tokens(seqLen);
  const base = model.createState();
  await model.prefill(base, prompt);
  const peak = peakBandwidth(info.cudaDeviceName);
  const weightBytes = cm.memory().weightBytes;
  for (const B of quick ? [1, 8] : [1, 8, 64, 256]) {
    log(`gpu: decode batch ${B} at context ${seqLen}`);
    const states = Array.from({ length: B }, () => base.fork());
    await model.decodeBatch(states, new Int32Array(B).fill(11));  // warm-up
    t0 = performance.now();
    for (let s = 0; s < steps; s++) await model.decodeBatch(states, new Int32Array(B).fill(12 + s));
    sec = (performance.now() - t0) / 1000 / steps;
    // Bytes one step must read: every weight once + each sequence's KV cache (FP32 rows).
    const ctxLen = seqLen + 1 + steps / 2;
    const kvBytes = B * nAttn * 2 * ctxLen * c.numKvHeads * c.headDim * 4;
    rows.push({
      what: `decode B=${B} @${seqLen}`,
      tokens: B,
      's/iter': sec,
      'tok/s': B / sec,
      'GB/s': (weightBytes + kvBytes) / sec / 1e9,
      'BW util': B === 1 ? (weightBytes + kvBytes) / sec / peak : undefined,
    });
    for (const st of states) st.free();
  }
  base.free();

  // ---- generation loop on the GPU (Sampler): decode tokens/s with CUDA graphs on and off
  const sampler = new Sampler(model, { cacheBytes: 0 });
  const genTokens = steps * 2;
  for (const B of quick ? [1, 8] : [1, 8, 64, 256]) {
    for (const graphs of [true, false]) {
      log(`gpu: sampler decode n=${B} graphs ${graphs ? 'on' : 'off'}`);
      const gen = (maxNewTokens: number) =>
        sampler.generate([{ prompt, n: B }], { temperature: 1, maxNewTokens, stopTokenIds: [], seed: 1, graphs });
      await gen(4);  // warm-up: buffers, graph capture for this batch
      const out = await gen(genTokens);
      // decodeMs covers the first draw from the prompt logits and every decode step (prefill excluded).
      const stepSec = out.stats.decodeMs / 1000 / Math.max(1, out.stats.decodeSteps);
      const ctxLen = seqLen + genTokens / 2;
      const kvBytes = B * nAttn * 2 * ctxLen * c.numKvHeads * c.headDim * 4;
      rows.push({
        what: `sampler decode B=${B} @${seqLen}, graphs ${graphs ? 'on' : 'off'}`,
        tokens: B,
        's/iter': stepSec,
        'tok/s': out.stats.generatedTokens / (out.stats.decodeMs / 1000),
        'GB/s': (weightBytes + kvBytes) / stepSec / 1e9,
        'BW util': B === 1 ? (weightBytes + kvBytes) / stepSec / peak : undefined,
      });
    }
  }
  rows.push({ what: `device ${info.cudaDeviceName}; weights ${(weightBytes / 2 ** 20).toFixed(0)} MiB on GPU` });
  return rows;
}
