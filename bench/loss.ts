// Fused GRPO loss vs the unfused version (all logits materialised) at LFM2-350M's head size: vocab 65,536,
// hidden 1024, BF16 tied head, 8 sequences × 512 completion tokens = 4096 rows (--quick: 8 × 64).
// Memory: the work buffers each version allocates (counted by the native code: logits / log-softmax / dlogits
// blocks and per-row arrays) and the process's peak-RSS growth during the call (Linux VmHWM, reset before each run
// through /proc/self/clear_refs). Inputs and gradient outputs are allocated beforehand and are the same for both.
// Time: wall-clock of one forward+backward call, best of --loss-reps (default 2) alternating runs per version, both
// on the same machine in the same process; also the process CPU time of the call (all threads), which other work on
// a shared machine inflates much less than wall time.
// Two cases: LoRA (dH only) and full fine-tune (dH and dE += dlogitsᵀ·H).
// Extra args: --loss-rows N (rows instead of 4096), --loss-chunk N (fused chunk rows, default 256), --loss-reps N.
import { readFileSync, writeFileSync } from 'node:fs';
import { native } from '../lib/engine/native.ts';
import type { GrpoLossArgs } from '../lib/engine/native-types.ts';
import { argNum } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

const V = 65536, C = 1024;
const MiB = 2 ** 20;

/** Peak resident set (bytes) since the last resetPeakRss(), or undefined off Linux. */
function peakRss(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function randomBf16(n: number, scale: number): Uint16Array {
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = (Math.random() * 2 - 1) * scale;
  const u = new Uint32Array(f.buffer);
  return Uint16Array.from(u, (b) => ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff);
}

export async function benchLoss(ctx: BenchContext): Promise<BenchRow[]> {
  const ops = native().ops;
  const N = argNum(ctx.args, '--loss-rows', ctx.quick ? 512 : 4096);
  const chunk = argNum(ctx.args, '--loss-chunk', 256);
  const seqLen = Math.min(512, N);
  ctx.log(`loss: rows ${N}, vocab ${V}, hidden ${C}, bf16 head, chunk ${chunk}`);
  const hidden = new Float32Array(N * C).map(() => Math.random() * 2 - 1);
  const head = randomBf16(V * C, 0.05);
  const targets = Int32Array.from({ length: N }, () => Math.floor(Math.random() * V));
  const advantages = Float32Array.from({ length: N }, () => Math.random() * 2 - 1);
  const mask = new Float32Array(N).fill(1);
  const seqIds = Int32Array.from({ length: N }, (_, i) => Math.floor(i / seqLen));
  const base: GrpoLossArgs = { rows: N, vocab: V, dim: C, hidden, head, targets, advantages, mask, seqIds, lossType: 'dapo', chunkRows: chunk };
  // Old log-probs near the current ones so the clipped objective is exercised, from one fused forward.
  const logp = new Float32Array(N);
  ops.grpoLoss({ ...base, logp });
  const oldLogp = logp.map((v) => v + (Math.random() - 0.5) * 0.4);
  // Outputs touched up front so first-touch page faults do not land in either measurement.
  const dhidden = new Float32Array(N * C).fill(1);
  const dhead = new Float32Array(V * C).fill(1);

  const reps = argNum(ctx.args, '--loss-reps', 2);
  const rows: BenchRow[] = [];
  for (const fullFt of [false, true]) {
    // Fused and unfused alternate and each keeps its best time: other work on a shared machine only adds time.
    const best = new Map<boolean, { ms: number; cpu: number; peak: number | null; work: number; loss: number }>();
    for (let rep = 0; rep < reps; rep++) {
      for (const fused of [true, false]) {
        const canReset = resetPeakRss();
        const before = process.memoryUsage().rss;
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const st = ops.grpoLoss({ ...base, oldLogp, impl: fused ? 'fused' : 'unfused', dhidden, ...(fullFt ? { dhead } : {}) });
        const ms = performance.now() - t0;
        const cu = process.cpuUsage(c0);
        const cpu = (cu.user + cu.system) / 1e6;
        const peak = peakRss();
        const grow = canReset && peak !== undefined ? Math.max(0, peak - before) : null;
        const prev = best.get(fused);
        best.set(fused, {
          ms: Math.min(ms, prev?.ms ?? Infinity),
          cpu: Math.min(cpu, prev?.cpu ?? Infinity),
          peak: grow === null ? null : Math.max(grow, prev?.peak ?? 0),
          work: st.workspaceBytes ?? 0, // the CPU loss always reports it
          loss: st.loss,
        });
        ctx.log(`${fullFt ? 'full FT' : 'LoRA'} ${fused ? 'fused' : 'unfused'} rep ${rep}: ${ms.toFixed(0)} ms, cpu ${cpu.toFixed(1)} s`);
      }
    }
    for (const fused of [true, false]) {
      const b = best.get(fused)!;
      rows.push({
        case: fullFt ? 'full FT (dH, dE)' : 'LoRA (dH)',
        version: fused ? `fused, chunk ${chunk}` : 'unfused',
        rows: N,
        'work MiB': b.work / MiB,
        'peak RSS +MiB': b.peak === null ? null : b.peak / MiB,
        'best ms': b.ms,
        'cpu s': b.cpu,
        'rows/s': (N / b.ms) * 1000,
        loss: b.loss,
      });
    }
  }
  for (let i = 0; i + 1 < rows.length; i += 2) {
    const f = rows[i]!, u = rows[i + 1]!;
    f['mem saving ×'] = (u['work MiB'] as number) / (f['work MiB'] as number);
    f['speed ×'] = (u['best ms'] as number) / (f['best ms'] as number);
    f['cpu speed ×'] = (u['cpu s'] as number) / (f['cpu s'] as number);
  }
  return rows;
}

export default benchLoss;
