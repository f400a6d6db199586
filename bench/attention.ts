// CPU attention backward (causal GQA, FlashAttention-2 tiles; native/backend/cpu/backward) on training shapes:
// one 512-token and one 2048-token sequence, and 8 packed sequences of 256 tokens, for the `small` preset's heads
// (Hq 4, Hkv 2, D 32) and a larger shape (Hq 16, Hkv 8, D 64). The training path (saved O and lse) and the
// recompute path (O and lse rebuilt tile by tile) are timed separately, and the forward with statistics too; "train
// fwd" is the forward the model runs in training and prefill (native/backend/cpu/attention.cpp: the same tiled forward
// behind the model's [T, H·D] layout, plus the output arrays the test op allocates).
// Time: median wall-clock ms of --attn-reps (default 7; 3 with --quick) calls after one warm-up call, on all pool
// threads (--attn-threads N to set the pool size; --attn-isa portable|avx2|avx512 forces a build of the tile loops). GFLOP/s counts the causal half of the matrix products only
// (backward 5 products of 2·D FLOPs per (i, j ≤ i) pair, forward 2), so it compares shapes, not machines.
import { native } from '../lib/engine/native.ts';
import { argNum } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

interface Case {
  name: string;
  lens: number[];
  Hq: number;
  Hkv: number;
  D: number;
}

function cases(quick: boolean): Case[] {
  const out: Case[] = [];
  for (const [Hq, Hkv, D] of [[4, 2, 32], [16, 8, 64]] as const) {
    out.push({ name: '1×512', lens: [512], Hq, Hkv, D });
    if (!quick) out.push({ name: '1×2048', lens: [2048], Hq, Hkv, D });
    out.push({ name: '8×256', lens: Array(8).fill(256), Hq, Hkv, D });
  }
  return out;
}

const randn = (n: number) => Float32Array.from({ length: n }, () => (Math.random() + Math.random() + Math.random() - 1.5) * 2);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export async function benchAttention(ctx: BenchContext): Promise<BenchRow[]> {
  const addon = native();
  const ops = addon.ops;
  const reps = argNum(ctx.args, '--attn-reps', ctx.quick ? 3 : 7);
  if (ctx.args.includes('--attn-threads')) addon.setThreads(argNum(ctx.args, '--attn-threads', 1));
  const isaAt = ctx.args.indexOf('--attn-isa');
  const impl = isaAt >= 0 ? ctx.args[isaAt + 1]! : 'auto';
  const rows: BenchRow[] = [];
  for (const c of cases(ctx.quick)) {
    const T = c.lens.reduce((a, b) => a + b, 0);
    const cu = Int32Array.from([0, ...c.lens.map((_, i) => c.lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
    const args = { tokens: T, qHeads: c.Hq, kvHeads: c.Hkv, headDim: c.D, impl, cuSeqlens: cu, q: randn(T * c.Hq * c.D), k: randn(T * c.Hkv * c.D), v: randn(T * c.Hkv * c.D) };
    const o = new Float32Array(T * c.Hq * c.D), lse = new Float32Array(T * c.Hq);
    const dout = randn(T * c.Hq * c.D);
    const dq = new Float32Array(T * c.Hq * c.D), dk = new Float32Array(T * c.Hkv * c.D), dv = new Float32Array(T * c.Hkv * c.D);
    const pairs = c.lens.reduce((a, l) => a + (l * (l + 1)) / 2, 0) * c.Hq;
    const time = (f: () => void) => {
      f();
      const ms: number[] = [];
      for (let r = 0; r < reps; ++r) {
        const t0 = performance.now();
        f();
        ms.push(performance.now() - t0);
      }
      return median(ms);
    };
    ctx.log(`attention: ${c.name} Hq ${c.Hq} Hkv ${c.Hkv} D ${c.D}`);
    const out = new Float32Array(T * c.Hq * c.D);
    const fwdOpts = { qHeads: c.Hq, kvHeads: c.Hkv, headDim: c.D, nQ: c.lens, nKv: c.lens, impl, q: args.q, k: args.k, v: args.v, out };
    const train = time(() => ops.attention(fwdOpts));
    const fwd = time(() => ops.attentionPacked({ ...args, o, lse }));
    const bwd = time(() => ops.attentionBackward({ ...args, o, lse, dout, dq, dk, dv }));
    const rec = time(() => ops.attentionBackward({ ...args, dout, dq, dk, dv }));
    rows.push({
      seqs: c.name,
      'Hq/Hkv/D': `${c.Hq}/${c.Hkv}/${c.D}`,
      'train fwd ms': train,
      'train fwd GFLOP/s': (pairs * 4 * c.D) / (train * 1e6),
      'fwd ms': fwd,
      'bwd ms': bwd,
      'bwd GFLOP/s': (pairs * 10 * c.D) / (bwd * 1e6),
      'bwd recompute ms': rec,
      'fwd GFLOP/s': (pairs * 4 * c.D) / (fwd * 1e6),
    });
  }
  return rows;
}
