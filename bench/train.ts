// Training-step throughput on a random-weight LFM2-350M (BF16 weights): one GRPO micro-batch (forward, fused loss,
// backward) plus the AdamW step, for LoRA r=8 on all linear modules (8 sequences × 512 tokens) and full fine-tune
// (2 × 512), and LoRA again with activation checkpointing. Each configuration runs in its own child process so its
// peak RSS is its own.
// Reports wall-clock tok/s, CPU-normalised tok/s (tokens per CPU-second × threads: the better estimate on a shared
// machine), model FLOP/s as a share of the machine's FP32 FMA peak (vdpbf16ps peak for fast rows) and peak RSS.
// FLOPs per token are those of the linear products: 6 per weight for full FT (forward, input and weight gradients),
// 4 for LoRA (no weight gradients), over the body's weights for every token and over the tied head only for the
// scored tokens (the fused loss evaluates it there alone; the embedding lookup costs nothing). Attention's own
// products (about 1% of that at 512 tokens) are not counted.
// Rates are medians over the steps after the first (--train-steps N in all, default 3), whose buffers are warm as in a
// training run; the first step's time is its own column.
// Extra args: --train-seqs N, --train-len N (LoRA batch shape, default 8 × 512), --train-pass N (maxPassTokens),
// --train-only lora,lora-ckpt,full (which configurations; default all), --train-precision exact,fast (default both;
// fast rounds every linear product's operands to BF16, forward and backward, and is judged against the vdpbf16ps
// peak where the CPU has AVX512_BF16).
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { LfmModel } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { TrainerEngine, type TrainerEngineOptions } from '../lib/engine/trainer-engine.ts';
import { argNum, benchRoot, ensureBenchModel, median } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

const COMPLETION = 64; // scored tokens at the end of each sequence

interface ChildSpec {
  name: string;
  mode: 'lora' | 'full';
  checkpointing: boolean;
  seqs: number;
  len: number;
  pass: number;
  model: string;
  precision: 'exact' | 'fast';
  steps: number;
}

interface ChildResult {
  tokens: number;
  /** The first step (buffers allocated and first touched). */
  coldWall: number;
  /** Medians over the later steps, which reuse the buffers as a training run does. */
  microWall: number;
  stepWall: number;
  cpu: number;
  params: number;
  headParams: number;
  trainable: number;
  rssGiB: number;
}

/** Runs one configuration in this process (the child side). */
async function runChild(spec: ChildSpec): Promise<ChildResult> {
  const model = await LfmModel.load(spec.model);
  const V = model.config.vocabSize;
  const opts: TrainerEngineOptions =
    spec.mode === 'lora'
      ? {
          mode: 'lora',
          lora: { r: 8, loraAlpha: 16, targetModules: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'in_proj', 'w1', 'w2', 'w3'], useRslora: false },
          optimizer: { learningRate: 1e-4 },
          maxPassTokens: spec.pass,
          checkpointing: spec.checkpointing,
          precision: spec.precision,
        }
      : { mode: 'full', optimizer: { learningRate: 5e-6 }, maxPassTokens: spec.pass, checkpointing: spec.checkpointing, precision: spec.precision };
  const t = await TrainerEngine.create(model, opts);
  const r = mulberry32(3);
  const sequences = Array.from({ length: spec.seqs }, () => Int32Array.from({ length: spec.len }, () => 10 + Math.floor(r() * (V - 10))));
  const completionMasks = sequences.map((s) => Float32Array.from(s, (_, i) => (i >= s.length - COMPLETION ? 1 : 0)));
  const advantages = sequences.map((_, i) => (i % 2 ? -1 : 1));
  const steps: { micro: number; step: number; cpu: number }[] = [];
  for (let i = 0; i < spec.steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await t.accumulate({ sequences, completionMasks, advantages });
    const t1 = performance.now();
    await t.step();
    const t2 = performance.now();
    const c = process.cpuUsage(c0);
    steps.push({ micro: (t1 - t0) / 1000, step: (t2 - t1) / 1000, cpu: (c.user + c.system) / 1e6 });
  }
  const warm = steps.length > 1 ? steps.slice(1) : steps;
  return {
    tokens: spec.seqs * spec.len,
    coldWall: steps[0]!.micro + steps[0]!.step,
    microWall: median(warm.map((x) => x.micro)),
    stepWall: median(warm.map((x) => x.step)),
    cpu: median(warm.map((x) => x.cpu)),
    params: model.info.parameterCount,
    headParams: model.config.vocabSize * model.config.hiddenSize,
    trainable: t.info().trainableParameters,
    rssGiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 30,
  };
}

export async function benchTrain(ctx: Partial<BenchContext> = {}): Promise<BenchRow[]> {
  const log = ctx.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  const args = ctx.args ?? [];
  const quick = ctx.quick ?? false;
  const modelDir = ensureBenchModel(log);
  const threads = native().backendInfo().threads;
  log('measuring the FP32 FMA peak');
  const peak = native().cpuPeakFlops('fma-f32', 0.5);
  // Fast precision's training products run on AMX tiles where the CPU has them, else on vdpbf16ps.
  const amx = native().cpuFeatures().amxBf16;
  const dotPeak = amx ? native().cpuPeakFlops('amx-bf16', 0.5) : native().cpuFeatures().avx512bf16 ? native().cpuPeakFlops('dot-bf16', 0.5) : 0;
  const seqs = argNum(args, '--train-seqs', quick ? 2 : 8, true);
  const len = argNum(args, '--train-len', quick ? 128 : 512, true);
  const pass = argNum(args, '--train-pass', 0, true);
  // The first step allocates and first-touches every activation buffer (page faults: up to a third of its time);
  // later steps reuse them, as a training run does. Rates are the median of the later steps.
  const steps = argNum(args, '--train-steps', quick ? 2 : 3, true);
  const listArg = (flag: string) => (args.indexOf(flag) >= 0 ? args[args.indexOf(flag) + 1]!.split(',') : null);
  const precisions = (listArg('--train-precision') ?? ['exact', 'fast']) as ('exact' | 'fast')[];
  for (const p of precisions) if (p !== 'exact' && p !== 'fast') throw new Error(`--train-precision: '${p}' is not exact or fast`);
  const all: ChildSpec[] = precisions.flatMap((precision) => [
    { name: 'lora', mode: 'lora' as const, checkpointing: false, seqs, len, pass, model: modelDir, precision, steps },
    { name: 'lora-ckpt', mode: 'lora' as const, checkpointing: true, seqs, len, pass, model: modelDir, precision, steps },
    { name: 'full', mode: 'full' as const, checkpointing: false, seqs: quick ? 1 : 2, len, pass, model: modelDir, precision, steps },
  ]);
  const only = listArg('--train-only');
  const configs = only ? all.filter((c) => only.includes(c.name)) : all;
  const rows: BenchRow[] = [];
  for (const spec of configs) {
    log(`${spec.name} ${spec.precision}: ${spec.seqs} × ${spec.len} tokens (child process)`);
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(spec)], {
      cwd: benchRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
    const wall = r.microWall + r.stepWall;
    const perWeight = spec.mode === 'full' ? 6 : 4;
    const flopsPerToken = perWeight * (r.params - r.headParams + (r.headParams * Math.min(COMPLETION, spec.len)) / spec.len);
    const tokS = r.tokens / wall;
    const cpuTokS = (r.tokens / r.cpu) * threads;
    const rowPeak = spec.precision === 'fast' && dotPeak ? dotPeak : peak;
    rows.push({
      config: `${spec.mode === 'lora' ? 'LoRA r=8 all modules' : 'full fine-tune'}, ${spec.seqs}×${spec.len}${spec.checkpointing ? ', checkpointing' : ''}${spec.pass ? `, passes ≤ ${spec.pass}` : ''}, ${spec.precision}`,
      trainable: r.trainable,
      'first step s': r.coldWall,
      'fwd+loss+bwd s': r.microWall,
      'AdamW s': r.stepWall,
      'tok/s': tokS,
      'tok/s cpu-norm': cpuTokS,
      'peak share': (tokS * flopsPerToken) / rowPeak,
      'peak share cpu-norm': (cpuTokS * flopsPerToken) / rowPeak,
      'peak RSS GiB': r.rssGiB,
    });
  }
  rows.push({ config: `machine FP32 FMA peak (${threads} threads)`, 'tok/s': null, 'peak share': null, trainable: null, 'GFLOP/s': peak / 1e9 });
  if (dotPeak) rows.push({ config: `machine ${amx ? 'AMX TDPBF16PS' : 'vdpbf16ps'} peak (${threads} threads)`, 'tok/s': null, 'peak share': null, trainable: null, 'GFLOP/s': dotPeak / 1e9 });
  return rows;
}

export default benchTrain;

// Child side: `node --import tsx bench/train.ts '<ChildSpec JSON>'` prints one JSON result line.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2]?.startsWith('{')) {
  runChild(JSON.parse(process.argv[2]) as ChildSpec).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e) => {
      process.stderr.write(String(e?.stack ?? e) + '\n');
      process.exit(1);
    },
  );
}
