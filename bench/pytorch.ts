// PyTorch peer: bench/pytorch-peer.py runs the benchmark's random LFM2-350M (the same BF16 weights) in PyTorch eager,
// BF16, on the workloads of the forward and train modules (prefill, decode at 1/8/32 sequences, LoRA and full
// fine-tuning steps), so one `make bench` prints both engines' numbers from the same run. Skipped, with a note, when
// python3 cannot import torch.
// Extra args: --torch-threads N (default: the engine's thread count), --torch-rows prefill,decode,train.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../lib/engine/native.ts';
import { argNum, ensureBenchModel } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));

export async function benchPytorch(ctx: BenchContext): Promise<BenchRow[]> {
  const threads = argNum(ctx.args, '--torch-threads', native().backendInfo().threads);
  const i = ctx.args.indexOf('--torch-rows');
  const rows = i >= 0 ? ctx.args[i + 1] : undefined;
  const probe = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    ctx.log(`PyTorch peer skipped: python3 cannot import torch (${(probe.stderr || String(probe.error ?? '')).trim().split('\n').at(-1)})`);
    return [];
  }
  const model = ensureBenchModel(ctx.log);
  const args = [join(here, 'pytorch-peer.py'), '--model', model, '--threads', String(threads)];
  if (rows) args.push('--rows', rows);
  if (ctx.quick) args.push('--quick');
  ctx.log(`python3 ${args.join(' ')}`);
  const r = spawnSync('python3', args, {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) },
    timeout: 1_800_000,
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`PyTorch peer failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as BenchRow);
}

export default benchPytorch;
