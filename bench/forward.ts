// Forward engine throughput on a random-weight LFM2-350M (bf16 weights, exact path unless noted), this machine's
// threads: prefill of one prompt (logits of the last position only) and batched one-token decode of B states at a
// given context. Reports wall-clock tok/s and tok/s per CPU-second × threads ("cpu-normalised"): on a shared machine
// the second is the better estimate of what dedicated cores give.
// Extra args: --fwd-prompt N (prefill length, default 512), --fwd-steps N (decode steps per batch size, default 4).
import { LfmModel, type PrecisionMode } from '../lib/engine/model.ts';
import { native } from '../lib/engine/native.ts';
import { mulberry32 } from '../lib/engine/init-weights.ts';
import { argNum, ensureBenchModel, measure } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

export async function benchForward(ctx: Partial<BenchContext> = {}): Promise<BenchRow[]> {
  const log = ctx.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  const args = ctx.args ?? [];
  const quick = ctx.quick ?? false;
  const promptLen = argNum(args, '--fwd-prompt', quick ? 128 : 512);
  const steps = argNum(args, '--fwd-steps', quick ? 2 : 4);
  const batches = quick ? [1, 8] : [1, 8, 32];
  const threads = native().backendInfo().threads;
  const model = await LfmModel.load(ensureBenchModel(log));
  const V = model.config.vocabSize;
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

  let base = model.createState();
  for (const precision of ['exact', 'fast'] as const) {
    log(`forward: prefill ${promptLen} tokens (${precision})`);
    const st = model.createState();
    row(`prefill ${promptLen}`, precision, promptLen, await measure(() => model.prefill(st, prompt, { precision })));
    if (precision === 'exact') base = st;
    else st.free();
  }
  for (const B of batches) {
    log(`forward: decode batch ${B} at context ${promptLen}`);
    const states = Array.from({ length: B }, () => base.fork());
    await model.decodeBatch(states, new Int32Array(B).fill(11)); // warm-up step (grows caches)
    const t = await measure(async () => {
      for (let s = 0; s < steps; s++) await model.decodeBatch(states, new Int32Array(B).fill(12 + s));
    });
    row(`decode B=${B} @${promptLen}`, 'exact', B * steps, t);
    for (const s of states) s.free();
  }
  base.free();
  return rows;
}

export default benchForward;
