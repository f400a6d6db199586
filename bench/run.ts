// `make bench` / `npx tsx bench/run.ts [--only a,b] [--gpu] [--quick] [--list] [--json FILE]`
// Prints the machine description, then runs every registered bench module and prints one table per module; with
// --json also writes the machine, date, load and every table's rows to FILE for scripts.
// Nothing is written to bench/RESULTS.md: people copy the tables they want to keep there, with context.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchCell, BenchContext, BenchFn, BenchRow } from './types.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** Registered modules, in run order. `fn` is the export to call; a module may also default-export it. */
const MODULES: { name: string; file: string; fn: string; what: string }[] = [
  { name: 'gemm', file: 'gemm.ts', fn: 'benchGemm', what: 'matrix products on LFM2-350M shapes vs machine peak' },
  { name: 'forward', file: 'forward.ts', fn: 'benchForward', what: 'prefill / decode tok/s' },
  { name: 'llamacpp', file: 'llamacpp.ts', fn: 'benchLlamaCpp', what: 'llama.cpp peer on the same machine' },
  { name: 'pytorch', file: 'pytorch.ts', fn: 'benchPytorch', what: 'PyTorch peer (BF16 eager) on the forward and train workloads, where torch is installed' },
  { name: 'train', file: 'train.ts', fn: 'benchTrain', what: 'training step tok/s and memory' },
  { name: 'attention', file: 'attention.ts', fn: 'benchAttention', what: 'CPU attention backward / forward with statistics on training shapes' },
  { name: 'loss', file: 'loss.ts', fn: 'benchLoss', what: 'fused GRPO loss vs unfused: memory and time at vocab 65,536' },
  { name: 'sampler', file: 'sampler.ts', fn: 'benchSampler', what: 'batched sampling' },
  { name: 'env', file: 'env.ts', fn: 'benchEnv', what: 'browser environment steps/s' },
  { name: 'env-reset', file: 'env-reset.ts', fn: 'benchEnvReset', what: 'real MiniWoB++ resets: in place vs preloaded reload (needs MINIWOB_URL)' },
  { name: 'gpu', file: 'gpu.ts', fn: 'benchGpu', what: 'CUDA engine: forward tok/s and MFU, decode at 1/8/64/256 sequences (--gpu)' },
  { name: 'gpu-train', file: 'gpu-train.ts', fn: 'benchGpuTrain', what: 'CUDA trainer: GRPO micro-batch tok/s and MFU (LoRA, LoRA+checkpointing, full), one LoRA GRPO step (--gpu)' },
];

function parseArgs(argv: string[]) {
  const out = { only: [] as string[], gpu: false, quick: false, list: false, json: null as string | null, rest: [] as string[] };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i]!;
    if (a === '--only') {
      const v = argv[++i];
      if (!v) throw new Error('--only needs a module name (comma-separated for several)');
      out.only.push(...v.split(',').filter(Boolean));
    } else if (a.startsWith('--only=')) out.only.push(...a.slice(7).split(',').filter(Boolean));
    else if (a === '--gpu') out.gpu = true;
    else if (a === '--quick') out.quick = true;
    else if (a === '--list') out.list = true;
    else if (a === '--json') {
      const v = argv[++i];
      if (!v || v.startsWith('--')) throw new Error('--json needs a file name');
      out.json = v;
    } else if (a.startsWith('--json=')) out.json = a.slice(7);
    else out.rest.push(a);
  }
  const unknown = out.only.filter((n) => !MODULES.some((m) => m.name === n));
  if (unknown.length) throw new Error(`unknown bench module(s) ${unknown.join(', ')}; known: ${MODULES.map((m) => m.name).join(', ')}`);
  return out;
}

function tryRun(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

/** The machine a run measured, as fields (the JSON output) and as the printed header. */
export interface MachineInfo {
  date: string;
  cpu: string;
  logicalCores: number;
  arch: string;
  simd: string[];
  memoryGiB: number;
  freeMemoryGiB: number;
  /** 1, 5 and 15 minute load averages at the start. */
  load: number[];
  node: string;
  os: string;
  gpu?: string | null;
}

export function machineInfo(gpu: boolean): MachineInfo {
  const cpus = os.cpus();
  let flags: string[] = [];
  let family = '';
  if (existsSync('/proc/cpuinfo')) {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const f = /^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    flags = f.split(/\s+/).filter((x) => /^(avx|fma|f16c|amx|sse4_2)/.test(x));
    const fam = /^cpu family\s*:\s*(\d+)/m.exec(info)?.[1];
    const model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    if (fam) family = ` (family ${fam}, model ${model})`;
  }
  const info: MachineInfo = {
    date: new Date().toISOString(),
    cpu: `${cpus[0]?.model ?? 'unknown'}${family}`,
    logicalCores: cpus.length,
    arch: os.arch(),
    simd: flags,
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    freeMemoryGiB: Number((os.freemem() / 2 ** 30).toFixed(1)),
    load: os.loadavg().map((x) => Number(x.toFixed(2))),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
  if (gpu) info.gpu = tryRun('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader']) ?? null;
  return info;
}

/** CPU model, cores, SIMD flags, memory, load, node version, date (and GPUs with --gpu). */
export function machineDescription(m: MachineInfo): string[] {
  const lines = [
    `date      ${m.date}`,
    `cpu       ${m.cpu}, ${m.logicalCores} logical cores, ${m.arch}`,
    `simd      ${m.simd.join(' ') || 'n/a'}`,
    `memory    ${m.memoryGiB.toFixed(1)} GiB total, ${m.freeMemoryGiB.toFixed(1)} GiB free`,
    `load      ${m.load.map((x) => x.toFixed(2)).join(' ')} (1/5/15 min; other work on the machine skews timings)`,
    `node      ${m.node} on ${m.os}`,
  ];
  if (m.gpu !== undefined) lines.push(`gpu       ${m.gpu ?? 'none found (nvidia-smi unavailable)'}`);
  return lines;
}

/** One module's result in the JSON output. */
export interface ModuleResult {
  name: string;
  what: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or how it failed. */
  message?: string;
  seconds?: number;
  rows?: BenchRow[];
  /** Load averages when the module finished (the start's are in machine.load). */
  loadAfter?: number[];
}

function fmt(v: BenchCell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 0.1 ? v.toFixed(2) : v.toPrecision(2);
  }
  return String(v);
}

/** Plain-text table, numbers right-aligned. */
export function formatTable(rows: BenchRow[]): string {
  if (!rows.length) return '(no rows)';
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cells = rows.map((r) => cols.map((c) => fmt(r[c])));
  const width = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const numeric = cols.map((c) => rows.every((r) => r[c] === undefined || r[c] === null || typeof r[c] === 'number'));
  const line = (vals: string[]) =>
    vals.map((v, i) => (numeric[i] ? v.padStart(width[i]!) : v.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(cols), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

async function loadBench(file: string, fn: string): Promise<BenchFn | undefined> {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as Record<string, unknown>;
  const f = mod[fn] ?? mod.default;
  return typeof f === 'function' ? (f as BenchFn) : undefined;
}

async function runModule(m: (typeof MODULES)[number], ctx: BenchContext): Promise<ModuleResult> {
  const base = { name: m.name, what: m.what };
  if (!existsSync(join(here, m.file))) return { ...base, status: 'skipped', message: `bench/${m.file} does not exist yet` };
  try {
    const fn = await loadBench(m.file, m.fn);
    if (!fn) return { ...base, status: 'skipped', message: `bench/${m.file} exports neither ${m.fn} nor a default function` };
    const t0 = performance.now();
    const rows = await fn(ctx);
    const loadAfter = os.loadavg().map((x) => Number(x.toFixed(2)));
    return { ...base, status: 'ok', seconds: (performance.now() - t0) / 1000, rows, loadAfter };
  } catch (e) {
    return { ...base, status: 'failed', message: e instanceof Error ? e.message : String(e) };
  }
}

export async function main(argv: string[]): Promise<number> {
  const opts = parseArgs(argv);
  if (opts.list) {
    for (const m of MODULES) console.log(`${m.name.padEnd(10)} ${existsSync(join(here, m.file)) ? '' : '(not present) '}${m.what}`);
    return 0;
  }
  const machine = machineInfo(opts.gpu);
  console.log(machineDescription(machine).join('\n'));
  const ctx: BenchContext = { gpu: opts.gpu, quick: opts.quick, args: opts.rest, log: (m) => process.stderr.write(`  ${m}\n`) };
  const results: ModuleResult[] = [];
  for (const m of MODULES) {
    if (opts.only.length && !opts.only.includes(m.name)) continue;
    console.log(`\n## ${m.name}: ${m.what}`);
    const result = await runModule(m, ctx);
    results.push(result);
    if (result.status === 'ok') {
      console.log(formatTable(result.rows!));
      console.log(`(${result.seconds!.toFixed(1)} s)`);
    } else console.log(`(${result.status}: ${result.message})`);
  }
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ format: 'lfm2-rl-bench', version: 1, machine, args: argv, modules: results }, null, 2) + '\n');
    console.log(`\nwrote ${opts.json}`);
  }
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(2);
    },
  );
}
