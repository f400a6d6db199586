// Set-up shared by the model benchmarks: the cached random LFM2-350M folder, integer arguments, and process CPU time
// (on a shared machine wall time also counts other work, so rates are also given per CPU-second × threads).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** With AMX, fast-precision products of this many rows of A and more run on tiles, decode included (the native
 * kAmxMinRows); fewer rows run vdpbf16ps. Benchmarks judge a fast row against the matching peak. */
export const AMX_MIN_ROWS = 5;

/** The shared random LFM2-350M folder of the benchmarks (created once; init-model is deterministic for a seed). */
export function ensureBenchModel(log: (m: string) => void): string {
  const dir = join(benchRoot, '.cache', 'bench', 'lfm2-350m-seed0-bf16');
  if (!existsSync(join(dir, 'model.safetensors')) || !existsSync(join(dir, 'config.json'))) {
    mkdirSync(dirname(dir), { recursive: true });
    log('creating a random lfm2-350m model for benchmarks');
    execFileSync(process.execPath, [join(benchRoot, 'bin', 'lfm2-rl.js'), 'init-model', '--preset', 'lfm2-350m', '--seed', '0', '--dtype', 'bf16', '--out', dir], {
      cwd: benchRoot,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  return dir;
}

/** The integer after `name` in `args` (`def` when absent); at least 1, or at least 0 with `allowZero`. */
export function argNum(args: string[], name: string, def: number, allowZero = false): number {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) throw new Error(`${name} needs a ${allowZero ? 'non-negative' : 'positive'} integer`);
  return v;
}

/** User + system CPU seconds of this process so far (all threads). */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Wall-clock and process CPU seconds of one awaited call. */
export async function measure(f: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
