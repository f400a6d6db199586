// Forward engine throughput on a random-weight LFM2-350M (bf16 weights), this machine's threads: prefill of one
// prompt (logits of the last position only) and batched one-token decode of B states at a given context, in both
// precisions. Reports wall-clock tok/s and tok/s per CPU-second × threads ("cpu-normalised": on a shared machine the
// better estimate of what dedicated cores give).
//
// Decode rows also give the step's roofline: bytes = every weight once (the tied embedding once, as the LM head)
// plus each sequence's KV cache; FLOPs = 2 per weight per sequence plus attention (4·ctx·H·D per sequence and
// attention layer). Ceilings measured in the same run: DRAM read bandwidth (cpuReadBandwidth) and the arithmetic peak
// of the precision's kernels (FP32 FMA for exact, vdpbf16ps for fast where the CPU has it, AMX tiles for fast at 5
// sequences and more where it has those). "% bw" is the step's bytes per wall second against the bandwidth; "ceiling tok/s" is B / max(bytes / bandwidth, FLOPs / peak).
// The two precisions' steps alternate (one step each, in turn), so load from other processes hits both alike.
// Extra args: --fwd-prompt N (prefill length and decode context, default 512), --fwd-steps N (decode steps per batch
// size and precision, default 4), --fwd-prefills N (prefills per precision, default 5; the median is reported).
import { LfmModel, type PrecisionMode } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { AMX_MIN_ROWS, argNum, ensureBenchModel, measure } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchForward(ctx: Partial<BenchContext> = {}): Promise<BenchRow[]> {
  const log = ctx.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  const args = ctx.args ?? [];
  const quick = ctx.quick ?? false;
  const promptLen = argNum(args, '--fwd-prompt', quick ? 128 : 512);
  const steps = argNum(args, '--fwd-steps', quick ? 2 : 4);
  const batches = quick ? [1, 8] : [1, 8, 32];
  const threads = native().backendInfo().threads;
  const model = await LfmModel.load(ensureBenchModel(log));
  const cfg = model.config;
  const V = cfg.vocabSize;
  const rnd = mulberry32(1);
  const prompt = Int32Array.from({ length: promptLen }, () => 10 + Math.floor(rnd() * (V - 10)));
  const rows: BenchRow[] = [];
  const row = (what: string, precision: PrecisionMode, tokens: number, t: { wall: number; cpu: number }) =>
    rows.push({
      what,
      precision,
      tokens,
      'wall s': t.wall,
      'tok/s wall': tokens / t.wall,
      'tok/s cpu-normalised': tokens / (t.cpu / threads),
    });

  // Ceilings of this run.
  const f = native().cpuFeatures();
  const bandwidth = native().cpuReadBandwidth(512 << 20, quick ? 0.3 : 1);
  const peak: Record<PrecisionMode, number> = {
    exact: native().cpuPeakFlops('fma-f32', quick ? 0.2 : 0.5),
    fast: f.avx512bf16 ? native().cpuPeakFlops('dot-bf16', quick ? 0.2 : 0.5) : 0,
  };
  if (!peak.fast) peak.fast = peak.exact; // fast runs the exact kernels without AVX512_BF16
  // With AMX, fast products of AMX_MIN_ROWS rows and more (prefill, decode of that many sequences) run on tiles.
  const amxPeak = f.amxBf16 ? native().cpuPeakFlops('amx-bf16', quick ? 0.2 : 0.5) : 0;
  const peakFor = (p: PrecisionMode, rows: number) => (p === 'fast' && amxPeak && rows >= AMX_MIN_ROWS ? amxPeak : peak[p]);
  log(`ceilings: read bandwidth ${(bandwidth / 1e9).toFixed(1)} GB/s, FP32 FMA ${(peak.exact / 1e9).toFixed(0)} GFLOP/s, fast ${(peak.fast / 1e9).toFixed(0)} GFLOP/s${amxPeak ? `, AMX ${(amxPeak / 1e9).toFixed(0)} GFLOP/s` : ''}`);

  // Per decode step: weights read once (bytes by storage dtype), 2 FLOP per weight per sequence.
  let weightBytes = 0;
  let weightCount = 0;
  for (const t of model.info.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    weightBytes += n * (t.dtype === 'bf16' ? 2 : 4);
    weightCount += n;
  }
  const nAttn = cfg.layerTypes.filter((x) => x === 'full_attention').length;
  const kvBytesPerSeq = promptLen * nAttn * 2 * cfg.numKvHeads * cfg.headDim * 4; // FP32 K and V
  const attnFlopsPerSeq = 4 * promptLen * cfg.numHeads * cfg.headDim * nAttn;

  // Prefill: the two precisions take turns, each into a fresh state; the median of --fwd-prefills runs (default 5)
  // per precision. The first exact state is the decode rows' context.
  const prefills = argNum(args, '--fwd-prefills', quick ? 1 : 5);
  let base: ReturnType<typeof model.createState> | null = null;
  const prefillTimes: Record<PrecisionMode, { wall: number[]; cpu: number[] }> = { exact: { wall: [], cpu: [] }, fast: { wall: [], cpu: [] } };
  log(`forward: prefill ${promptLen} tokens, exact and fast alternating, ${prefills} each`);
  for (let r = 0; r < prefills; r++)
    for (const precision of ['exact', 'fast'] as const) {
      const st = model.createState();
      const t = await measure(() => model.prefill(st, prompt, { precision }));
      prefillTimes[precision].wall.push(t.wall);
      prefillTimes[precision].cpu.push(t.cpu);
      if (precision === 'exact' && !base) base = st;
      else st.free();
    }
  for (const precision of ['exact', 'fast'] as const)
    row(`prefill ${promptLen}`, precision, promptLen, { wall: median(prefillTimes[precision].wall), cpu: median(prefillTimes[precision].cpu) });
  if (!base) throw new Error('forward bench: no prefill ran');
  for (const B of batches) {
    log(`forward: decode batch ${B} at context ${promptLen}, exact and fast alternating`);
    const precisions = ['exact', 'fast'] as const;
    const states = Object.fromEntries(precisions.map((p) => [p, Array.from({ length: B }, () => base.fork())]));
    const times: Record<PrecisionMode, { wall: number[]; cpu: number[] }> = { exact: { wall: [], cpu: [] }, fast: { wall: [], cpu: [] } };
    for (let s = -1; s < steps; s++) {
      for (const p of s % 2 ? precisions : [...precisions].reverse()) {
        const t = await measure(() => model.decodeBatch(states[p]!, new Int32Array(B).fill(12 + s), { precision: p }));
        if (s >= 0) {
          times[p].wall.push(t.wall); // s = -1 is the warm-up step (grows the caches)
          times[p].cpu.push(t.cpu);
        }
      }
    }
    for (const p of precisions) {
      const wall = median(times[p].wall);
      const cpu = median(times[p].cpu);
      const bytes = weightBytes + B * kvBytesPerSeq;
      const flops = B * (2 * weightCount + attnFlopsPerSeq);
      rows.push({
        what: `decode B=${B} @${promptLen}`,
        precision: p,
        tokens: B * steps,
        'ms/step': wall * 1e3,
        'tok/s wall': B / wall,
        'tok/s cpu-normalised': B / (cpu / threads),
        'GB/step': bytes / 1e9,
        'GB/s wall': bytes / wall / 1e9,
        '% bw': (100 * bytes) / wall / bandwidth,
        'GFLOP/s wall': flops / wall / 1e9,
        '% peak': (100 * flops) / wall / peakFor(p, B),
        'ceiling tok/s': B / Math.max(bytes / bandwidth, flops / peakFor(p, B)),
      });
      for (const st of states[p]!) st.free();
    }
  }
  base.free();
  return rows;
}

export default benchForward;
