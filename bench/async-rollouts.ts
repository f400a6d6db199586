// Asynchronous against synchronous rollouts on one config (default: the tiny offline click-test run): the same seeds
// and steps, async_rollouts false and true taking turns (on a shared machine the load drifts, so alternating keeps the
// comparison fair), N runs each, every run a fresh `lfm2-rl train` process in a temporary folder.
// Per run: the mean and median step_time over the steps after the first (the first also starts the browser), the
// held-out success at the last step, the load average before the run, and a hash of the final weights (the same
// variant must give the same weights every time). Then the medians per variant and the change of async against sync.
// Runs alone: `npx tsx bench/async-rollouts.ts [--runs N] [--steps N] [--config FILE] [--keep] [-- train overrides]`
// (e.g. `-- --tasks click-test,click-button` passes `--tasks …` to every run).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { argNum, benchRoot, median } from './common.ts';

interface RunResult {
  variant: 'sync' | 'async';
  meanStep: number;
  medianStep: number;
  success: number | null;
  load: number;
  wall: number;
  weights: string;
}


function runOnce(root: string, config: string, steps: number, extra: readonly string[], variant: 'sync' | 'async', index: number): RunResult {
  const name = `${variant}-${index}`;
  const load = loadavg()[0]!;
  const t0 = performance.now();
  execFileSync(
    process.execPath,
    [join(benchRoot, 'bin', 'lfm2-rl.js'), 'train', '--config', config, '--model', join(root, 'model'), '--output_dir', join(root, 'runs'), '--run_name', name,
      ...extra, '--max_steps', String(steps), '--eval_steps', String(steps), '--save_steps', '0', '--async_rollouts', String(variant === 'async')],
    { cwd: benchRoot, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 },
  );
  const wall = (performance.now() - t0) / 1000;
  const runDir = join(root, 'runs', name);
  const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const times = rows.filter((r) => typeof r.step_time === 'number' && (r.step as number) > 1).map((r) => r.step_time as number);
  if (times.length === 0) throw new Error(`${runDir}: no step_time after step 1 (run more than one step)`);
  const last = rows.filter((r) => r.step === steps && typeof r['eval/success_rate'] === 'number').at(-1);
  const ckpt = join(runDir, `checkpoint-${steps}`);
  const weightsFile = ['model.safetensors', 'adapter_model.safetensors'].map((f) => join(ckpt, f)).find((f) => existsSync(f));
  const weights = weightsFile ? createHash('sha256').update(readFileSync(weightsFile)).digest('hex').slice(0, 12) : 'none';
  return {
    variant,
    meanStep: times.reduce((a, b) => a + b, 0) / times.length,
    medianStep: median(times),
    success: last ? (last['eval/success_rate'] as number) : null,
    load,
    wall,
    weights,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dash = argv.indexOf('--');
  const args = dash >= 0 ? argv.slice(0, dash) : argv;
  const extra = dash >= 0 ? argv.slice(dash + 1) : [];
  const runs = argNum(args, '--runs', 2);
  const ci = args.indexOf('--config');
  const config = ci >= 0 ? args[ci + 1] : join(benchRoot, 'configs', 'tiny_click_test.yaml');
  if (!config) throw new Error('--config needs a file');
  const steps = argNum(args, '--steps', 30);
  if (steps < 2) throw new Error('--steps must be at least 2 (the first step is left out of the times)');
  const root = mkdtempSync(join(tmpdir(), 'lfm2-bench-async-'));
  const results: RunResult[] = [];
  try {
    console.log(`config ${config}${extra.length ? ` ${extra.join(' ')}` : ''}, ${steps} steps, ${runs} runs per variant, alternating; load at start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log('| run | variant | mean step s | median step s | eval success | load (1 min) before | process wall s | weights |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (let i = 0; i < runs; i++) {
      // Alternate which variant goes first, so neither always follows the other.
      const order: Array<RunResult['variant']> = i % 2 === 0 ? ['sync', 'async'] : ['async', 'sync'];
      for (const variant of order) {
        const r = runOnce(root, config, steps, extra, variant, i);
        results.push(r);
        console.log(`| ${i + 1} | ${variant} | ${r.meanStep.toFixed(3)} | ${r.medianStep.toFixed(3)} | ${r.success === null ? '–' : `${(100 * r.success).toFixed(1)}%`} | ${r.load.toFixed(2)} | ${r.wall.toFixed(1)} | ${r.weights} |`);
      }
    }
    console.log(`load at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    const of = (v: RunResult['variant']) => results.filter((r) => r.variant === v);
    const summary = (v: RunResult['variant']) => {
      const rs = of(v);
      return { mean: median(rs.map((r) => r.meanStep)), med: median(rs.map((r) => r.medianStep)), success: rs.map((r) => (r.success === null ? '–' : `${(100 * r.success).toFixed(1)}%`)), sameWeights: new Set(rs.map((r) => r.weights)).size === 1 };
    };
    const s = summary('sync');
    const a = summary('async');
    console.log('\n| variant | median of mean step s | median of median step s | eval success per run | same weights every run |');
    console.log('|---|---|---|---|---|');
    for (const [v, x] of [['sync', s], ['async', a]] as const) console.log(`| ${v} | ${x.mean.toFixed(3)} | ${x.med.toFixed(3)} | ${x.success.join(', ')} | ${x.sameWeights ? 'yes' : 'NO'} |`);
    // Each run i of one variant ran next to run i of the other: their ratio sees about the same load.
    const paired = of('async').map((r, i) => r.meanStep / of('sync')[i]!.meanStep);
    console.log(`\nasync vs sync: mean step ${(100 * (a.mean / s.mean - 1)).toFixed(1)}%, median step ${(100 * (a.med / s.med - 1)).toFixed(1)}%; mean step of each pair ${paired.map((x) => `${(100 * (x - 1)).toFixed(1)}%`).join(', ')} (median ${(100 * (median(paired) - 1)).toFixed(1)}%)`);
  } finally {
    if (!args.includes('--keep')) rmSync(root, { recursive: true, force: true });
    else console.log(`runs kept in ${root}`);
  }
}

await main();
