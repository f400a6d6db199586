// GFLOP/s of the CPU matrix products on LFM2-350M shapes (d = 1024, FFN 4608, conv in_proj 3072, vocab 65,536),
// on all pool threads, against the machine's measured ceilings: FP32 FMA peak (and vdpbf16ps peak where the CPU
// has AVX512_BF16) for the compute-bound shapes, DRAM read bandwidth for the decode (small-M) shapes. When python3
// with numpy is present, OpenBLAS sgemm runs the same forward shapes as a same-machine peer.
//
// Two rates per row: "wall" (FLOPs / elapsed time) and "cpu" (FLOPs / (process CPU time / threads)). On a quiet
// machine they agree; when other work shares the cores the wall rate drops and the cpu rate still estimates what
// the kernel does per core. The ceilings are per CPU-second too, so "% peak" uses the cpu rate.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { native } from '../lib/engine/native.ts';
import type { GemmArgs } from '../lib/engine/native-types.ts';
import { AMX_MIN_ROWS } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

interface Shape {
  op: GemmArgs['op'];
  role: string;
  M: number;
  N: number;
  K: number;
  bf16: boolean;
  precision: 'exact' | 'fast';
  decode?: boolean;
}

const T = 512; // prefill / training rows (one 512-token prompt)
const FWD: [string, number, number][] = [
  ['conv in_proj', 3072, 1024],
  ['ffn w1 | w3', 4608, 1024],
  ['ffn w2', 1024, 4608],
  ['out_proj | q', 1024, 1024],
];

function shapes(quick: boolean): Shape[] {
  const s: Shape[] = [];
  for (const precision of ['exact', 'fast'] as const) {
    for (const [role, N, K] of FWD) s.push({ op: 'nt', role: `prefill ${role}`, M: T, N, K, bf16: true, precision });
    s.push({ op: 'nt', role: 'LM head', M: quick ? 64 : 256, N: 65536, K: 1024, bf16: true, precision });
  }
  if (!quick) for (const [role, N, K] of FWD.slice(0, 2)) s.push({ op: 'nt', role: `prefill ${role}`, M: T, N, K, bf16: false, precision: 'exact' });
  for (const precision of ['exact', 'fast'] as const)
    for (const M of quick ? [1, 8] : [1, 8, 32]) {
      for (const [role, N, K] of quick ? FWD.slice(1, 2) : FWD) s.push({ op: 'nt', role: `decode ${role}`, M, N, K, bf16: true, precision, decode: true });
      s.push({ op: 'nt', role: 'decode LM head', M, N: 65536, K: 1024, bf16: true, precision, decode: true });
    }
  // Training: dX = dY·W (gemm_nn, W [out, in] bf16) and dW = dYᵀ·X (gemm_tn, FP32) for the FFN and conv shapes,
  // in both precisions (fast rounds both operands to bf16, as training's backward does in fast precision).
  for (const precision of ['exact', 'fast'] as const) {
    for (const [role, out, inp] of quick ? FWD.slice(1, 2) : FWD.slice(0, 3)) {
      s.push({ op: 'nn', role: `train dX ${role}`, M: T, N: inp, K: out, bf16: true, precision });
      s.push({ op: 'tn', role: `train dW ${role}`, M: out, N: inp, K: T, bf16: false, precision });
    }
    if (!quick) s.push({ op: 'nn', role: 'train dX LM head', M: 128, N: 1024, K: 65536, bf16: true, precision });
  }
  return s;
}

function randomF32(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; ++i) a[i] = Math.random() * 2 - 1;
  return a;
}
function randomBf16(n: number): Uint16Array {
  const f = randomF32(n);
  const u = new Uint32Array(f.buffer);
  const h = new Uint16Array(n);
  for (let i = 0; i < n; ++i) h[i] = (u[i]! + 0x7fff + ((u[i]! >>> 16) & 1)) >>> 16;
  return h;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Bytes of weight copies the decode shapes rotate over: twice the last-level cache (some hosts report hundreds of MiB
 * of L3, where a fixed 128 MiB stayed cached and "DRAM" rates exceeded the bandwidth), at least 128 MiB. */
function rotationBytes(): number {
  let llc = 0;
  try {
    const dir = '/sys/devices/system/cpu/cpu0/cache';
    for (const e of readdirSync(dir)) {
      if (!e.startsWith('index')) continue;
      const m = /^(\d+)([KMG]?)/.exec(readFileSync(`${dir}/${e}/size`, 'utf8').trim());
      if (m) llc = Math.max(llc, Number(m[1]) * ({ '': 1, K: 1024, M: 1 << 20, G: 1 << 30 } as Record<string, number>)[m[2]!]!);
    }
  } catch {
    // no sysfs: keep the floor
  }
  return Math.max(128 << 20, Math.min(2 * llc, 2 << 30));
}

/** Median wall seconds and median CPU seconds / threads per call. Decode shapes rotate over enough weight copies to exceed the last-level cache, so the
 * weights come from DRAM as they do when 16 layers are streamed per token. */
function timeShape(s: Shape, quick: boolean, threads: number): { wall: number; cpu: number } {
  const { op, M, N, K } = s;
  const a = randomF32(M * K);
  const bElems = N * K;
  const bBytes = bElems * (s.bf16 ? 2 : 4);
  const copies = s.decode ? Math.max(1, Math.ceil(rotationBytes() / bBytes)) : 1;
  // Copies of one random matrix (equal values time the same; drawing hundreds of MiB of random numbers would not).
  const proto = s.bf16 ? randomBf16(bElems) : randomF32(bElems);
  const bs = [proto, ...Array.from({ length: copies - 1 }, () => proto.slice())];
  const c = new Float32Array(M * N);
  const run = (i: number) => native().ops.gemm({ op, m: M, n: N, k: K, a, b: bs[i % copies]!, c, beta: 0, precision: s.precision });
  for (let i = 0; i < Math.min(copies, 4); ++i) run(i);
  // Repeat for ~0.5 s (at least 3 calls) and take the median.
  const first = run(0).seconds;
  const reps = Math.max(3, Math.min(quick ? 20 : 200, Math.ceil((quick ? 0.15 : 0.5) / Math.max(first, 1e-6))));
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; ++i) {
    const r = run(i + 1);
    wall.push(r.seconds);
    cpu.push(r.cpuSeconds / threads);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** OpenBLAS sgemm (numpy, float32, A·Bᵀ) [wall, cpu] GFLOP/s on the same machine, or undefined without numpy. */
function openblasPeer(
  list: { M: number; N: number; K: number }[],
  threads: number,
  log: (m: string) => void,
): Map<string, [number, number]> | undefined {
  const script = `
import json, sys, time
import numpy as np
threads = int(sys.argv[2])
out = {}
for M, N, K in json.loads(sys.argv[1]):
    a = np.random.rand(M, K).astype(np.float32); b = np.random.rand(N, K).astype(np.float32)
    a @ b.T
    ts, cs = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time(); a @ b.T
        ts.append(time.perf_counter() - t); cs.append((time.process_time() - c) / threads)
    f = 2 * M * N * K / 1e9
    out[f"{M}x{N}x{K}"] = [f / sorted(ts)[2], f / sorted(cs)[2]]
print(json.dumps(out))
`;
  try {
    const txt = execFileSync('python3', ['-c', script, JSON.stringify(list.map((s) => [s.M, s.N, s.K])), String(threads)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    return new Map(Object.entries(JSON.parse(txt) as Record<string, [number, number]>));
  } catch (e) {
    log(`OpenBLAS peer skipped (python3 + numpy not usable: ${e instanceof Error ? e.message.split('\n')[0] : e})`);
    return undefined;
  }
}

export async function benchGemm(ctx: BenchContext): Promise<BenchRow[]> {
  const n = native();
  const threads = n.backendInfo().threads;
  const impl = n.ops.impls('gemm.nt').at(-1); // the build 'auto' runs
  const fast = n.cpuFeatures().avx512bf16;
  ctx.log(`gemm: implementation ${impl}, ${threads} threads; measuring peaks`);
  const fmaPeak = n.cpuPeakFlops('fma-f32', ctx.quick ? 0.1 : 0.4) / 1e9;
  const dotPeak = fast ? n.cpuPeakFlops('dot-bf16', ctx.quick ? 0.1 : 0.4) / 1e9 : undefined;
  // Fast products run on AMX tiles where the build 'auto' is 'amx', except gemm_nt of fewer than AMX_MIN_ROWS rows.
  const amxPeak = impl === 'amx' ? n.cpuPeakFlops('amx-bf16', ctx.quick ? 0.1 : 0.4) / 1e9 : undefined;
  const bw = n.cpuReadBandwidth(512 << 20, ctx.quick ? 0.3 : 1) / 1e9;
  const list = shapes(ctx.quick);
  const noPeer = ctx.args.includes('--no-peer');
  const peerShapes = list.filter((s) => s.op === 'nt' && s.precision === 'exact' && s.bf16);
  const peer = noPeer ? undefined : openblasPeer(peerShapes, threads, ctx.log);
  const rows: BenchRow[] = [
    {
      kernel: 'peak',
      role: `FP32 FMA stream${dotPeak ? `; vdpbf16ps ${dotPeak.toFixed(0)} GFLOP/s` : ''}${amxPeak ? `; AMX ${amxPeak.toFixed(0)} GFLOP/s` : ''}; DRAM read ${bw.toFixed(1)} GB/s`,
      'M×N×K': undefined,
      B: undefined,
      precision: undefined,
      ms: undefined,
      'wall GFLOP/s': undefined,
      'cpu GFLOP/s': fmaPeak,
    },
  ];
  for (const s of list) {
    ctx.log(`gemm ${s.op} ${s.role} ${s.M}x${s.N}x${s.K} ${s.precision}`);
    const t = timeShape(s, ctx.quick, threads);
    const gflop = (2 * s.M * s.N * s.K) / 1e9;
    const gflops = gflop / t.cpu;
    // The fast path only differs from the exact one where vdpbf16ps exists; judge it against that peak there.
    const onAmx = amxPeak !== undefined && !(s.op === 'nt' && s.M < AMX_MIN_ROWS);
    const peak = s.precision === 'fast' && dotPeak ? (onAmx ? amxPeak! : dotPeak) : fmaPeak;
    const row: BenchRow = {
      kernel: s.op,
      role: s.role,
      'M×N×K': `${s.M}×${s.N}×${s.K}`,
      B: s.bf16 ? 'bf16' : 'f32',
      precision: s.precision === 'fast' && !fast ? 'fast (=exact: no AVX512_BF16)' : s.precision,
      ms: t.wall * 1e3,
      'wall GFLOP/s': gflop / t.wall,
      'cpu GFLOP/s': gflops,
      '% peak': (100 * gflops) / peak,
    };
    if (s.decode) {
      const bytes = s.N * s.K * 2 + s.M * (s.K + s.N) * 4;
      row['GB/s'] = bytes / t.cpu / 1e9;
      row['% DRAM bw'] = (100 * bytes) / t.cpu / 1e9 / bw;
    }
    const p = peer?.get(`${s.M}x${s.N}x${s.K}`);
    if (p !== undefined && s.op === 'nt' && s.precision === 'exact' && s.bf16) {
      row['OpenBLAS wall'] = p[0];
      row['OpenBLAS cpu'] = p[1];
      row['÷ OpenBLAS (cpu)'] = gflops / p[1];
    }
    rows.push(row);
  }
  return rows;
}

export default benchGemm;
