// Finds the real MiniWoB++ tasks that can reset in place, for lib/env/in-place-tasks.ts: every task (or the ones
// named) is compared with a fresh load (compareReset) at both snapshot points over SEEDS seeds; steps are compared
// strictly, else after animations settle, else not at all, and a second fresh episode tells whether two fresh loads
// agree at that level. Prints one line per task: the page fingerprint, the verdict per point, and a table row for the
// tasks that pass. Slow (about 10 s per task on two busy cores).
// `MINIWOB_URL=file:///…/miniwob/html/miniwob/ npx tsx test/util/in-place-survey.ts [task …]`
import { EnvPool } from '../../lib/env/env.ts';
import type { RealResetPoint } from '../../lib/env/in-place-tasks.ts';
import { MINIWOB_TASKS } from '../../lib/env/miniwob.ts';
import type { Episode } from '../../lib/env/types.ts';
import { compareReset, inPage, type StepComparison } from './in-place-check.ts';

const SEEDS = [1, 2, 3, 4];
const POINTS: RealResetPoint[] = ['loaded', 'started'];

/** 'OK <comparison>' when every seed agrees and was reset in place, else why not. */
async function verdict(inPlace: Episode, fresh: Episode, fresh2: Episode, task: string): Promise<string> {
  for (const steps of ['strict', 'settled', 'none'] as StepComparison[]) {
    let difference: string | undefined;
    let notInPlace = 0;
    for (const seed of SEEDS) {
      const c = await compareReset(inPlace, fresh, task, seed, steps);
      if (!c.inPlace) notInPlace += 1;
      if (c.difference) {
        difference = `seed ${seed}: ${c.difference.slice(0, 200)}`;
        break;
      }
    }
    if (difference === undefined) return notInPlace === SEEDS.length ? 'never in place' : `OK ${steps}`;
    // Only when two fresh loads differ at this level is a looser comparison worth trying.
    if (steps === 'none') return `differs ${difference}`;
    for (const seed of SEEDS) {
      if ((await compareReset(fresh2, fresh, task, seed, steps)).difference === undefined) continue;
      difference = undefined;
      break;
    }
    if (difference !== undefined) return `differs (${steps}) ${difference}`;
  }
  return 'differs';
}

async function main(): Promise<void> {
  const miniwobUrl = process.env.MINIWOB_URL;
  if (!miniwobUrl) throw new Error('set MINIWOB_URL to miniwob/html/miniwob/ of a MiniWoB++ checkout');
  const tasks = process.argv.length > 2 ? process.argv.slice(2) : [...MINIWOB_TASKS];
  const rows: string[] = [];
  for (const at of POINTS) {
    const pool = await EnvPool.launch({
      miniwobUrl,
      prunedHtml: true,
      pageTimeoutMs: 20_000,
      inPlaceRealTasks: new Map(tasks.map((t) => [t, { at }])),
    });
    try {
      const [inPlace, fresh, fresh2] = await Promise.all([
        pool.newEpisode(),
        pool.newEpisode({ inPlaceReset: false, preloadPages: false }),
        pool.newEpisode({ inPlaceReset: false, preloadPages: false }),
      ]);
      for (const task of tasks) {
        const v = await verdict(inPlace, fresh, fresh2, task).catch((e: unknown) => `error ${String(e).slice(0, 200)}`);
        const fingerprint = await inPage(inPlace, 'window.__envPageFingerprint').catch(() => '?');
        console.log(`${at}\t${task}\t${fingerprint}\t${v}`);
        if (v.startsWith('OK') && !rows.some((r) => r.startsWith(`  ['${task}',`))) {
          rows.push(`  ['${task}', '${at}', '${fingerprint}'],${v === 'OK strict' ? '' : ` // steps: ${v.slice(3)}`}`);
        }
      }
    } finally {
      await pool.close();
    }
  }
  console.log(rows.sort().join('\n'));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
