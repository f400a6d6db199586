// PyTorch peer: bench/pytorch-peer.py runs the benchmark's random LFM2-350M (the same BF16 weights) in PyTorch eager,
// BF16, on the workloads of the forward and train modules (prefill, decode at 1/8/32 sequences, LoRA and full
// fine-tuning steps), so one `make bench` prints both engines' numbers from the same run. The interpreter is $PYTHON,
// else the first of python3 and the system's /usr/bin/python3 that can import torch (a virtual environment's python3
// often cannot); skipped, with a note, when none can.
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
  const candidates = process.env.PYTHON ? [process.env.PYTHON] : ['python3', '/usr/bin/python3'];
  const python = candidates.find((p) => spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
  if (!python) {
    ctx.log(`PyTorch peer skipped: none of ${candidates.join(', ')} can import torch`);
    return [];
  }
  const model = ensureBenchModel(ctx.log);
  const args = [join(here, 'pytorch-peer.py'), '--model', model, '--threads', String(threads)];
  if (rows) args.push('--rows', rows);
  if (ctx.quick) args.push('--quick');
  ctx.log(`${python} ${args.join(' ')}`);
  const r = spawnSync(python, args, {
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
