// Batched sampler throughput on LFM2-350M shapes (random weights, same folder as bench/llamacpp.ts), 2 threads:
//   - aggregate decode tok/s at 1, 8 and 32 concurrent sequences (8-token distinct prompts, 32 new tokens each,
//     temperature 1: tokens fed per decode step × steps / decode time, sampling included), exact and fast precision;
//   - one GRPO group: 8 samples × 32 tokens from a 600-token prompt, cold cache, against the same prompt's prefill
//     alone (the group should cost about one prefill plus 31 batch-8 decode steps), in both precisions;
//   - the same group again with the prompt in the prefix cache;
//   - token choice alone per sequence over one V = 65,536 row (bench/sampler-choice.ts);
// and, where node-llama-cpp loads, llama.cpp's prefill / batch-1 / batch-8 decode on the same weights (F16 GGUF),
// so both engines appear in one table from one run.
// Run alone: `npx tsx bench/sampler.ts [--quick] [--no-peer]`.
import { pathToFileURL } from 'node:url';
import { LfmModel } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { Sampler } from '../lib/engine/sampler.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { cpuSeconds, ensureBenchModel } from './common.ts';
import { benchTokenChoice } from './sampler-choice.ts';
import type { BenchContext, BenchRow } from './types.ts';

function tokens(n: number, seed: number, V: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => 10 + Math.floor(r() * (V - 10)));
}

export async function benchSampler(ctx: Partial<BenchContext> = {}): Promise<BenchRow[]> {
  const log = ctx.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  const quick = ctx.quick ?? false;
  const args = ctx.args ?? [];
  const threads = 2;
  native().setThreads(threads);
  const dir = ensureBenchModel(log);
  const model = await LfmModel.load(dir);
  const V = model.config.vocabSize;
  const engine = 'lfm2-rl';
  const base = { engine, weights: model.info.dtype.toUpperCase(), threads };
  const rows: BenchRow[] = [];
  const newTokens = quick ? 8 : 32;

  // CPU seconds of this process around a call: on a shared machine wall time also counts other work, so each row
  // gives tok/s per CPU-second × threads ("cpu-normalised") beside the wall rate.
  const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
    const c0 = cpuSeconds();
    const r = await f();
    return [r, cpuSeconds() - c0];
  };

  // ---- aggregate decode throughput by concurrency (decode CPU = a full run minus a prefill-only run), in both
  // precisions ('fast' rounds GEMM activations to BF16 for vdpbf16ps where the CPU has AVX512_BF16)
  for (const precision of ['exact', 'fast'] as const) {
    const decodeRate: Record<number, number> = {};
    for (const B of quick ? [1, 8] : [1, 8, 32]) {
      const sampler = new Sampler(model, { cacheBytes: 0 });
      const reqs = Array.from({ length: B }, (_, i) => ({ prompt: tokens(8, 1000 + i, V) }));
      const opts = { stopTokenIds: [], seed: 1, precision };
      const [, cpuPrefill] = await timed(() => sampler.generate(reqs, { ...opts, maxNewTokens: 1 }));
      const [out, cpuAll] = await timed(() => sampler.generate(reqs, { ...opts, maxNewTokens: newTokens }));
      const st = out.stats;
      const fed = B * st.decodeSteps;
      const rate = fed / (st.decodeMs / 1000);
      const cpuRate = fed / (Math.max(cpuAll - cpuPrefill, 1e-9) / threads);
      decodeRate[B] = rate;
      log(`decode batch ${B} (${precision}): ${st.decodeSteps} steps in ${st.decodeMs.toFixed(0)} ms → ${rate.toFixed(1)} tok/s (cpu-normalised ${cpuRate.toFixed(1)})`);
      rows.push({
        workload: `decode, batch ${B}, ${precision}`,
        ...base,
        'tok/s': rate,
        'tok/s cpu-normalised': cpuRate,
        'ms/step': st.decodeMs / st.decodeSteps,
        'vs batch 1': rate / decodeRate[1]!,
      });
    }
  }

  // ---- one GRPO group from a 600-token prompt, in both precisions (rollouts run in the training's precision)
  const promptLen = quick ? 128 : 600;
  const prompt = tokens(promptLen, 7, V);
  for (const precision of ['exact', 'fast'] as const) {
    const sampler = new Sampler(model, { cacheBytes: 0 });
    const [alone, cpuAlone] = await timed(() => sampler.generate([{ prompt }], { maxNewTokens: 1, stopTokenIds: [], precision }));
    const prefillMs = alone.stats.prefillMs;
    log(`prefill ${promptLen} tokens alone (${precision}): ${prefillMs.toFixed(0)} ms`);
    rows.push({
      workload: `prefill, one ${promptLen}-token prompt, ${precision}`,
      ...base,
      'tok/s': promptLen / (prefillMs / 1000),
      'tok/s cpu-normalised': promptLen / (cpuAlone / threads),
      'total ms': prefillMs,
    });
    const cold = new Sampler(model);
    for (const [label, seed] of [['cold', 2], ['prompt cached', 3]] as const) {
      const [g, cpu] = await timed(() => cold.generate([{ prompt, n: 8 }], { maxNewTokens: newTokens, stopTokenIds: [], seed, precision }));
      log(`group 8×${newTokens} ${label} (${precision}): ${g.stats.totalMs.toFixed(0)} ms (prefill ${g.stats.prefillMs.toFixed(0)}, decode ${g.stats.decodeMs.toFixed(0)})`);
      rows.push({
        workload: `GRPO group 8 × ${newTokens} from ${promptLen} tokens, ${label}, ${precision}`,
        ...base,
        'tok/s': (8 * newTokens) / (g.stats.totalMs / 1000),
        'tok/s cpu-normalised': (8 * newTokens) / (cpu / threads),
        'total ms': g.stats.totalMs,
        'prefill ms': g.stats.prefillMs,
        'decode ms': g.stats.decodeMs,
        'total / one prefill': g.stats.totalMs / prefillMs,
        'cpu / one prefill cpu': cpu / cpuAlone,
      });
    }
  }

  // ---- token choice alone over one V = 65,536 row (dispatched vs portable row kernels)
  rows.push(...benchTokenChoice(log, quick ? 50 : 200));

  // ---- llama.cpp peer on the same weights, same run
  if (!args.includes('--no-peer')) {
    try {
      const { benchLlamaCpp } = await import('./llamacpp.ts');
      const peer = await benchLlamaCpp({ log, quick, dtypes: ['f16'], threads, batch: 8, decodeTokens: newTokens, repeats: 1, args: [] });
      rows.push(...peer);
    } catch (e) {
      log(`llama.cpp peer unavailable: ${(e as Error).message}`);
      rows.push({ workload: 'llama.cpp peer', engine: 'llama.cpp', note: `unavailable: ${(e as Error).message.split('\n')[0]}` });
    }
  }
  return rows;
}

export default benchSampler;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const rows = await benchSampler({ quick: argv.includes('--quick'), args: argv });
  console.table(rows);
}
