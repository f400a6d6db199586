// Browser environment latency: reset and step p50/p95 for 1 and 8 parallel episodes on click-test and book-flight.
// Targets (8 in parallel): p50 step < 50 ms, p50 reset < 100 ms. Every episode of a parallel group runs the same
// task and seed, as a GRPO group does; a step is a real element action (click / fill), plus a noop row that shows the
// fixed cost of validate + observe. `cpu ms/op` is CPU time of this process and Chromium per operation, which stays
// meaningful on a shared machine: 8 parallel episodes on 2 free cores need about 4× that per operation.
// With MINIWOB_URL set (a real MiniWoB++ checkout, e.g. file:///…/miniwob/html/miniwob/) the same rows are measured on
// the real pages too (their resets take a preloaded page: lib/env/episode.ts).
// Runs alone: `npx tsx bench/env.ts [--quick]`.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { EnvPool } from '../lib/env/env.ts';
import type { Episode, Observation } from '../lib/env/types.ts';
import type { BenchContext, BenchRow } from './types.ts';

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function bid(o: Observation, pattern: RegExp): string {
  const line = o.axtree_txt.split('\n').find((l) => pattern.test(l));
  const m = line && /\[([a-zA-Z0-9]+)\]/.exec(line);
  if (!m) throw new Error(`bench: no element matching ${pattern} in\n${o.axtree_txt}`);
  return m[1]!;
}

/** Element actions per task, chosen from the first observation; none of them ends the episode early. */
const ACTIONS: Record<string, (o: Observation) => string[]> = {
  'click-test': (o) => {
    const b = bid(o, /button 'Click Me!'/);
    return [`click('${b}')`, `click('${b}')`, `hover('${b}')`];
  },
  'book-flight': (o) => [
    `click('${bid(o, /textbox 'From:'/)}')`,
    `fill('${bid(o, /textbox 'To:'/)}', 'Zzz')`,
    `click('${bid(o, /button 'Search'/)}')`,
  ],
};

/**
 * CPU milliseconds (user + system) used so far by this process and all its descendants (Chromium and its renderers),
 * from /proc; undefined where /proc is missing. Unlike wall time this does not grow when other work shares the cores.
 */
export function treeCpuMs(): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const d of entries) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Fields after the parenthesised command name: state ppid ... utime(14) stime(15).
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      ticks.set(Number(d), Number(f[11]) + Number(f[12]));
    } catch {
      // The process exited while we were reading.
    }
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === process.pid) {
        total += t;
        break;
      }
    }
  }
  return (total * 1000) / 100; // USER_HZ is 100 on Linux
}

export async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

export async function benchEnv(ctx?: BenchContext): Promise<BenchRow[]> {
  const quick = ctx?.quick ?? process.argv.includes('--quick');
  const log = ctx?.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const rounds = quick ? 3 : 10;
  const rows: BenchRow[] = [];
  // Wall times depend on what else runs on the cores; CPU ms per op does not. Log the load so tables can be read.
  const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
  log(`env: load average ${load()} on ${availableParallelism()} cores`);
  const sources = [
    { source: 'built-in', miniwobUrl: undefined as string | undefined },
    ...(process.env.MINIWOB_URL ? [{ source: 'MiniWoB++', miniwobUrl: process.env.MINIWOB_URL }] : []),
  ];
  for (const { source, miniwobUrl } of sources) {
    const pool = await EnvPool.launch({ miniwobUrl });
    try {
      for (const task of ['click-test', 'book-flight']) {
        for (const parallel of [1, 8]) {
          log(`env: ${source} ${task} × ${parallel}`);
          const eps: Episode[] = await Promise.all(Array.from({ length: parallel }, () => pool.newEpisode()));
          const resets: number[] = [];
          const steps: number[] = [];
          const noops: number[] = [];
          const cpu = { reset: 0, step: 0, noop: 0 };
          let errors = 0;
          // One warm-up round so first-load costs (page compile, CDP setup) do not count.
          for (let round = -1; round < rounds; round++) {
            const seed = 1000 + round;
            const c0 = treeCpuMs() ?? NaN;
            const first = await Promise.all(eps.map((e) => timed(() => e.reset({ task, seed }))));
            const c1 = treeCpuMs() ?? NaN;
            const actions = ACTIONS[task]!(first[0]![0]);
            const stepTimes: number[] = [];
            const noopTimes: number[] = [];
            for (const a of actions) {
              const r = await Promise.all(eps.map((e) => timed(() => e.step(a))));
              for (const [res, ms] of r) {
                // A valid action that failed means the machine was too busy for the action timeout: count it.
                if (res.observation.last_action_error) errors += 1;
                stepTimes.push(ms);
              }
            }
            const c2 = treeCpuMs() ?? NaN;
            for (const [, ms] of await Promise.all(eps.map((e) => timed(() => e.step('noop(0)'))))) noopTimes.push(ms);
            const c3 = treeCpuMs() ?? NaN;
            if (round >= 0) {
              cpu.reset += c1 - c0;
              cpu.step += c2 - c1;
              cpu.noop += c3 - c2;
              resets.push(...first.map(([, ms]) => ms));
              steps.push(...stepTimes);
              noops.push(...noopTimes);
            }
          }
          await Promise.all(eps.map((e) => e.close()));
          const row = (op: string, xs: number[], cpuMs: number, target: number | undefined): BenchRow => ({
            source,
            task,
            parallel,
            op,
            n: xs.length,
            'p50 ms': percentile(xs, 50),
            'p95 ms': percentile(xs, 95),
            'cpu ms/op': cpuMs / xs.length,
            'target p50 ms': parallel === 8 ? target : undefined,
            met: parallel === 8 && target !== undefined ? percentile(xs, 50) < target : undefined,
            'action errors': op === 'step (element action)' ? errors : undefined,
          });
          rows.push(
            row('reset', resets, cpu.reset, 100),
            row('step (element action)', steps, cpu.step, 50),
            row('step (noop)', noops, cpu.noop, 50),
          );
        }
      }
    } finally {
      await pool.close();
      log(`env: load average ${load()} at the end`);
    }
  }
  return rows;
}

function printTable(rows: BenchRow[]): void {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown): string => {
    if (v === undefined || v === null) return '';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(1);
    return String(v);
  };
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ');
  console.log(line(cols));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchEnv().then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
