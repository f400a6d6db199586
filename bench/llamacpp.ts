// llama.cpp peer benchmark: the exported GGUF of a random-weight model with the exact LFM2-350M shapes, run by
// node-llama-cpp's prebuilt CPU llama.cpp (never downloaded or compiled), 2 threads by default. Measures
//   - prefill tok/s of one 512-token prompt (one llama_decode batch of 512),
//   - decode tok/s at batch 1 (greedy, one token per step),
//   - aggregate decode tok/s of 8 sequences in one context (llama.cpp batches one token of each per step),
// for F32 and F16 weights (BF16 on request), so bench/run.ts can print it beside the engine's own numbers.
// llama.cpp runs with its defaults otherwise (F16 KV cache, flash attention "auto"). Decode goes through
// node-llama-cpp's JS generator, one native call per step, so its per-token overhead is part of the peer's number.
// Run alone: `npx tsx bench/llamacpp.ts [--dtypes f32,f16,bf16] [--threads 2] [--quick] [--model DIR] [--jsonl]`
// (--jsonl prints each row as a JSON line when it is measured; bench/run.ts runs it so, in a child process).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { ensureBenchModel } from './common.ts';
import type { BenchContext, BenchRow } from './types.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'lfm2-rl.js');

export type GgufDtype = 'f32' | 'f16' | 'bf16';

export interface LlamaCppBenchOptions extends Partial<BenchContext> {
  /** HF-layout model folder; default: a cached random `lfm2-350m` model under .cache/bench/. */
  model?: string;
  dtypes?: GgufDtype[];
  threads?: number;
  promptTokens?: number;
  /** Tokens generated per sequence for the decode measurements (after the first one, which is not timed). */
  decodeTokens?: number;
  batch?: number;
  /** Repetitions per measurement; the median is reported. */
  repeats?: number;
  /** Called with each row as soon as it is measured (a child process prints them, so a crash keeps the rows before it). */
  onRow?: (row: BenchRow) => void;
}

function lfm2(args: string[], log: (m: string) => void): void {
  log(`lfm2-rl ${args.join(' ')}`);
  execFileSync(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The model's GGUF export for a dtype, re-exported when older than the model's weights. */
function ensureGguf(model: string, dtype: GgufDtype, log: (m: string) => void): string {
  const weights = existsSync(join(model, 'model.safetensors'))
    ? join(model, 'model.safetensors')
    : join(model, 'model.safetensors.index.json');
  const out = join(root, '.cache', 'bench', `${model.replace(/[^A-Za-z0-9]+/g, '_').slice(-60)}.${dtype}.gguf`);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(weights).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    lfm2(['export-gguf', '--model', model, '--out', out, '--dtype', dtype], log);
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Deterministic pseudo-random token ids in [16, vocab) (avoids the special tokens at the bottom of LFM2's vocabulary). */
function promptTokens(n: number, vocab: number, seed: number): Token[] {
  let s = seed >>> 0;
  const out: Token[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push((16 + (s % (vocab - 16))) as Token);
  }
  return out;
}

async function timePrefill(seq: LlamaContextSequence, tokens: Token[]): Promise<number> {
  await seq.clearHistory();
  const t0 = performance.now();
  await seq.controlledEvaluate(tokens);
  return tokens.length / ((performance.now() - t0) / 1000);
}

/**
 * Greedy decode of `n` tokens on each sequence concurrently (node-llama-cpp puts one token of every sequence into
 * each llama_decode). Timing starts once every sequence has produced its first token, so the short prompts'
 * prefill is excluded. Returns aggregate generated tokens per second.
 */
async function timeDecode(seqs: LlamaContextSequence[], prompts: Token[][], n: number): Promise<number> {
  for (const s of seqs) await s.clearHistory();
  let started = 0;
  let tStart = 0;
  let release!: () => void;
  const allStarted = new Promise<void>((r) => (release = r));
  const counts = await Promise.all(
    seqs.map(async (seq, i) => {
      let produced = 0;
      for await (const _tok of seq.evaluate(prompts[i], { temperature: 0 })) {
        produced++;
        if (produced === 1) {
          if (++started === seqs.length) {
            tStart = performance.now();
            release();
          } else {
            await allStarted; // keep the sequences in lock step so every timed step decodes the full batch
          }
        }
        if (produced > n) break;
      }
      return produced - 1;
    }),
  );
  const seconds = (performance.now() - tStart) / 1000;
  return counts.reduce((a, b) => a + b, 0) / seconds;
}

/**
 * node-llama-cpp is a devDependency (about 720 MB with its prebuilt binaries): loaded only when the peer runs, and
 * its absence (an install with --omit=dev) is an error that says so instead of a module-resolution stack.
 */
async function loadNodeLlamaCpp(): Promise<typeof import('node-llama-cpp')> {
  try {
    return await import('node-llama-cpp');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new Error('node-llama-cpp is not installed; the llama.cpp peer needs the devDependencies (`npm install` without --omit=dev)');
  }
}

function packageVersion(): string {
  try {
    const p = JSON.parse(readFileSync(join(root, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')) as { version: string };
    return p.version;
  } catch {
    return '?';
  }
}

/**
 * From bench/run.ts: the peer runs in a child process per weights dtype, because llama.cpp is native code that can
 * take the process down (node-llama-cpp 3.21.1's prebuilt CPU build segfaults on some Xeons when 8 sequences decode
 * together); the rows measured before a crash are kept and the crash becomes a row that says so.
 */
function isolated(opts: LlamaCppBenchOptions, log: (m: string) => void): BenchRow[] {
  const rows: BenchRow[] = [];
  const common: string[] = [];
  if (opts.quick) common.push('--quick');
  for (const [flag, v] of [['--model', opts.model], ['--threads', opts.threads], ['--repeats', opts.repeats], ['--prompt', opts.promptTokens], ['--decode', opts.decodeTokens], ['--batch', opts.batch]] as const)
    if (v !== undefined) common.push(flag, String(v));
  for (const dtype of opts.dtypes ?? ['f32', 'f16']) {
    const childArgs = [...common, '--dtypes', dtype, '--jsonl'];
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...childArgs], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 3_600_000,
      maxBuffer: 1 << 20,
    });
    const got = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as BenchRow);
    rows.push(...got);
    if (r.status !== 0) {
      const why = r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
      log(`llama.cpp ${dtype}: the peer's process ended (${why}) after ${got.length} rows`);
      rows.push({ workload: `(the next workload crashed llama.cpp: ${why})`, weights: dtype.toUpperCase() });
    }
  }
  return rows;
}

/** Rows: one per (weights dtype, workload), with tok/s as the median of `repeats` runs. */
export async function benchLlamaCpp(options: LlamaCppBenchOptions = {}): Promise<BenchRow[]> {
  // bench/run.ts passes its leftover command-line arguments; the ones this module knows refine the options.
  if (options.args) return isolated({ ...parseCli(options.args, true), ...options }, options.log ?? ((m: string) => process.stderr.write(`  ${m}\n`)));
  const opts: LlamaCppBenchOptions = options;
  const log = opts.log ?? ((m: string) => process.stderr.write(`  ${m}\n`));
  const quick = opts.quick ?? false;
  const dtypes = opts.dtypes ?? ['f32', 'f16'];
  const threads = opts.threads ?? 2;
  const promptLen = opts.promptTokens ?? (quick ? 128 : 512);
  const decodeN = opts.decodeTokens ?? (quick ? 16 : 64);
  const batch = opts.batch ?? 8;
  const repeats = opts.repeats ?? (quick ? 1 : 3);
  const model = opts.model ?? ensureBenchModel(log);
  const engine = `llama.cpp (node-llama-cpp ${packageVersion()})`;

  const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, skipDownload: true });
  const rows: BenchRow[] = [];
  const emit = (row: BenchRow) => {
    rows.push(row);
    opts.onRow?.(row);
  };
  try {
    for (const dtype of dtypes) {
      const gguf = ensureGguf(model, dtype, log);
      log(`llama.cpp ${dtype}: loading ${gguf}`);
      let m: LlamaModel | undefined;
      let ctx1: LlamaContext | undefined;
      let ctxB: LlamaContext | undefined;
      try {
        m = await llama.loadModel({ modelPath: gguf, useMmap: true });
        const V = Number((m.fileInfo.metadata as unknown as { lfm2: { vocab_size: number } }).lfm2.vocab_size);
        const base = { engine, weights: dtype.toUpperCase(), threads, 'KV cache': 'F16' };
        // Prefill and batch-1 decode share a one-sequence context with a 512-token batch.
        ctx1 = await m.createContext({ contextSize: promptLen + decodeN + 64, batchSize: promptLen, sequences: 1, threads });
        const seq = ctx1.getSequence();
        const prompt = promptTokens(promptLen, V, 1);
        const pre: number[] = [];
        for (let r = 0; r < repeats; r++) pre.push(await timePrefill(seq, prompt));
        log(`llama.cpp ${dtype}: prefill ${pre.map((x) => x.toFixed(1)).join(', ')} tok/s`);
        emit({ workload: `prefill, one ${promptLen}-token prompt`, ...base, 'tok/s': median(pre) });
        const dec1: number[] = [];
        for (let r = 0; r < repeats; r++) dec1.push(await timeDecode([seq], [promptTokens(8, V, 100 + r)], decodeN));
        log(`llama.cpp ${dtype}: decode b1 ${dec1.map((x) => x.toFixed(1)).join(', ')} tok/s`);
        emit({ workload: 'decode, batch 1', ...base, 'tok/s': median(dec1) });
        await ctx1.dispose();
        ctx1 = undefined;

        ctxB = await m.createContext({ contextSize: batch * (decodeN + 32), batchSize: 512, sequences: batch, threads });
        const seqs = Array.from({ length: batch }, () => ctxB!.getSequence());
        const decB: number[] = [];
        for (let r = 0; r < repeats; r++) {
          decB.push(await timeDecode(seqs, seqs.map((_, i) => promptTokens(8, V, 1000 * r + i)), decodeN));
        }
        log(`llama.cpp ${dtype}: decode b${batch} ${decB.map((x) => x.toFixed(1)).join(', ')} tok/s`);
        emit({ workload: `decode, ${batch} sequences together (aggregate)`, ...base, 'tok/s': median(decB) });
      } finally {
        await ctx1?.dispose();
        await ctxB?.dispose();
        await m?.dispose();
      }
    }
  } finally {
    await llama.dispose();
  }
  return rows;
}

export default benchLlamaCpp;

function parseCli(argv: string[], ignoreUnknown = false): LlamaCppBenchOptions {
  const o: LlamaCppBenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--jsonl') o.onRow = (row) => console.log(JSON.stringify(row));
    else if (a === '--model') o.model = next();
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--repeats') o.repeats = Number(next());
    else if (a === '--prompt') o.promptTokens = Number(next());
    else if (a === '--decode') o.decodeTokens = Number(next());
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--dtypes') {
      const ds = next().split(',');
      for (const d of ds) if (d !== 'f32' && d !== 'f16' && d !== 'bf16') throw new Error(`--dtypes: unknown dtype '${d}'`);
      o.dtypes = ds as GgufDtype[];
    } else if (!ignoreUnknown) throw new Error(`unknown option ${a}; usage: npx tsx bench/llamacpp.ts [--dtypes f32,f16,bf16] [--threads N] [--repeats N] [--prompt N] [--decode N] [--batch N] [--quick] [--model DIR]`);
  }
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && !(Number.isInteger(v) && v > 0)) throw new Error(`--${k}: expected a positive integer`);
  return o;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cli = parseCli(process.argv.slice(2));
  benchLlamaCpp(cli).then(
    async (rows) => {
      if (cli.onRow) return; // --jsonl: the rows went out one by one
      const { formatTable } = await import('./run.ts');
      console.log(formatTable(rows));
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
