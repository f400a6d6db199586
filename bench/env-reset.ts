// Resets of real MiniWoB++ pages: in place (lib/env/page-snapshot.ts, the default for the tasks in
// lib/env/in-place-tasks.ts) against loading the page again, ahead of time on a preloaded page (what every real reset
// did before). P episodes per mode run the same task and seed, as a GRPO group does; the two modes alternate round by
// round, so both see the same load on a shared machine. Each reset is followed by one noop step and a pause (a short
// episode), in which the reload mode's next page loads in the background (the pause starts once those loads are done,
// so they never overlap the other mode's resets); `cpu ms/cycle` is the CPU time of this process and Chromium per
// episode over that whole cycle, background loading included.
// Needs MINIWOB_URL (a real checkout, e.g. file:///…/miniwob/html/miniwob/).
// Runs alone:
//   `MINIWOB_URL=… npx tsx bench/env-reset.ts [--quick] [--tasks a,b] [--parallel 8] [--rounds 10] [--gap-ms 3000]`.
import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { EnvPool } from '../lib/env/env.ts';
import { IN_PLACE_REAL_TASKS } from '../lib/env/in-place-tasks.ts';
import type { Episode } from '../lib/env/types.ts';
import { argNum } from './common.ts';
import { percentile, timed, treeCpuMs } from './env.ts';
import type { BenchContext, BenchRow } from './types.ts';

const DEFAULT_TASKS = ['click-test', 'enter-text', 'login-user', 'click-checkboxes'];

const MODES = [
  { mode: 'reload (preloaded)', options: { inPlaceRealTasks: new Map() } },
  { mode: 'in place', options: {} },
] as const;

export async function benchEnvReset(ctx?: BenchContext): Promise<BenchRow[]> {
  const args = ctx?.args ?? process.argv.slice(2);
  const quick = ctx?.quick ?? args.includes('--quick');
  const log = ctx?.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const miniwobUrl = process.env.MINIWOB_URL;
  if (!miniwobUrl) {
    log('env-reset: skipped, MINIWOB_URL is not set (point it at miniwob/html/miniwob/ of a MiniWoB++ checkout)');
    return [];
  }
  const ti = args.indexOf('--tasks');
  const tasks = ti >= 0 ? (args[ti + 1] ?? '').split(',').filter(Boolean) : DEFAULT_TASKS;
  if (tasks.length === 0) throw new Error('--tasks needs a comma-separated list of task names');
  const parallel = argNum(args, '--parallel', 8);
  const rounds = argNum(args, '--rounds', quick ? 3 : 10);
  const gapMs = argNum(args, '--gap-ms', 3000, true);
  const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
  log(`env-reset: load average ${load()} on ${availableParallelism()} cores`);
  const rows: BenchRow[] = [];
  // Page loads get longer than the default 5 s: sixteen pages load at once on a shared machine.
  const pool = await EnvPool.launch({ miniwobUrl, pageTimeoutMs: 30_000 });
  try {
    for (const task of tasks) {
      const groups = await Promise.all(
        MODES.map(async (m) => ({
          ...m,
          eps: await Promise.all(Array.from({ length: parallel }, () => pool.newEpisode(m.options))) as Episode[],
          times: [] as number[],
          cpuMs: 0,
        })),
      );
      const how = IN_PLACE_REAL_TASKS.has(task) ? 'resets in place' : 'not in place: reloads';
      log(`env-reset: ${task} × ${parallel} (${how})`);
      // One warm-up round: the first reset of each episode loads the page in both modes.
      for (let round = -1; round < rounds; round++) {
        const seed = 2000 + round;
        const order = round % 2 === 0 ? groups : [...groups].reverse();
        for (const g of order) {
          const c0 = treeCpuMs() ?? NaN;
          const r = await Promise.all(g.eps.map((e) => timed(() => e.reset({ task, seed }))));
          await Promise.all(g.eps.map((e) => e.step('noop(0)')));
          // The next pages of the reload mode finish loading inside its own cycle, never during the other mode's.
          await Promise.all(g.eps.map((e) => (e as unknown as { spare?: { ready: Promise<unknown> } }).spare?.ready));
          await new Promise((res) => setTimeout(res, gapMs));
          if (round >= 0) {
            g.times.push(...r.map(([, ms]) => ms));
            g.cpuMs += (treeCpuMs() ?? NaN) - c0;
          }
        }
      }
      for (const g of groups) {
        const loads = g.eps.reduce((n, e) => n + (e as unknown as { pageLoads: number }).pageLoads, 0);
        rows.push({
          task,
          mode: g.mode,
          parallel,
          n: g.times.length,
          'p50 ms': percentile(g.times, 50),
          'p90 ms': percentile(g.times, 90),
          'p95 ms': percentile(g.times, 95),
          'cpu ms/cycle': g.cpuMs / g.times.length,
          'loads/reset': loads / (g.times.length + parallel),
        });
        await Promise.all(g.eps.map((e) => e.close()));
      }
    }
  } finally {
    await pool.close();
    log(`env-reset: load average ${load()} at the end`);
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { formatTable } = await import('./run.ts');
  benchEnvReset().then(
    (rows) => console.log(formatTable(rows)),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
