// What goes wrong in a run and what the user sees: a bad config (rejected before any work), a missing model, no
// browser, a browser that dies mid-run (relaunched, the round replayed, training carries on), a NaN loss (step
// skipped and reported).
import { afterAll, describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../lib/io/config.ts';
import { readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { run as trainCli } from '../lib/cli/train.ts';
import { trainRun } from '../lib/rl/run.ts';
import type { Policy } from '../lib/rl/engine-policy.ts';
import type { TrainEngine } from '../lib/rl/engine-types.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig, TINY_CONFIG } from './trainer-helpers.ts';

const SHORT = ['--max_steps', '2', '--warmup_steps', '0', '--save_steps', '0', '--eval_steps', '0', '--per_device_train_batch_size', '8', '--num_generations', '4'];

/** Pids of this process's Chromium children (the browser this test's run launched). */
function chromiumChildren(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && Number(m[2]) === process.pid && /chrom/i.test(m[1])) out.push(Number(d));
    } catch {
      // process ended while listing
    }
  }
  return out;
}

afterAll(removeTempRoots);

describe('trainer errors', () => {
  it('rejects a bad config before any work, naming the key', async () => {
    const root = tempRoot('errors');
    await expect(trainCli(['--config', TINY_CONFIG, '--learning_rate', 'fast'])).rejects.toThrow(/'learning_rate' must be a number/);
    await expect(trainCli(['--config', TINY_CONFIG, '--lr', '1e-5'])).rejects.toThrow(ConfigError);
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'model: x\nnum_generations: 3\nper_device_train_batch_size: 4\n');
    await expect(trainCli(['--config', bad])).rejects.toThrow(/generation_batch_size \(4 = .*\) must be a multiple of num_generations \(3\)/);
    await expect(trainCli(['--config', join(root, 'missing.yaml')])).rejects.toThrow(/cannot read config/);
  });

  it('a missing model says where to put weights and names the offline config', async () => {
    const root = tempRoot('errors');
    const c = tinyConfig(root, ['--model', join(root, 'nowhere'), '--init_model.preset', 'null']);
    await expect(trainRun(c, { out: new CaptureStream(), handleSignals: false })).rejects.toThrow(/does not exist.*tiny_click_test\.yaml/s);
    const prev = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      const hf = tinyConfig(root, ['--model', 'LiquidAI/LFM2-350M-not-cached', '--init_model.preset', 'null']);
      await expect(trainRun(hf, { out: new CaptureStream(), handleSignals: false })).rejects.toThrow(/Put the model files .*make run config=configs\/tiny_click_test\.yaml/s);
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = prev;
    }
  });

  it('no browser: a clear message', async () => {
    const root = tempRoot('errors');
    const prev = process.env.CHROMIUM_PATH;
    process.env.CHROMIUM_PATH = join(root, 'no-chromium-here');
    try {
      await expect(trainRun(tinyConfig(root, SHORT), { out: new CaptureStream(), handleSignals: false })).rejects.toThrow(/cannot start the browser environment: CHROMIUM_PATH is set to .*does not exist/);
    } finally {
      if (prev === undefined) delete process.env.CHROMIUM_PATH;
      else process.env.CHROMIUM_PATH = prev;
    }
  }, 60_000);

  it('a browser killed mid-rollout is relaunched and the run carries on', async () => {
    const root = tempRoot('errors');
    let calls = 0;
    let killed = 0;
    const wrap = (p: Policy): Policy => ({
      ...p,
      generator: {
        generate: async (req, s) => {
          // Kill the browser between the first and second env step of the second round.
          if (++calls === 3) {
            for (const pid of chromiumChildren()) {
              process.kill(pid, 'SIGKILL');
              killed++;
            }
          }
          return p.generator.generate(req, s);
        },
      },
    });
    const out = new CaptureStream();
    const r = await trainRun(tinyConfig(root, [...SHORT, '--max_env_steps', '2']), { out, handleSignals: false, wrapEngine: wrap });
    expect(killed).toBeGreaterThan(0);
    expect(r.state.step).toBe(2);
    expect(out.text).toMatch(/browser lost during a rollout round .* replaying the round/);
    const rows = readJsonl<MetricRow>(join(r.runDir, 'metrics.jsonl'));
    expect(rows.find((x) => x.step === 2)?.['rollout/crash_retries']).toBeGreaterThanOrEqual(1);
  }, 180_000);

  it('a NaN loss skips the step, reports it, and training continues', async () => {
    const root = tempRoot('errors');
    let round = 0;
    // Delegates everything to the real engine; rounds are counted at generation start (one step per round here,
    // evaluation off) and every micro-batch loss of round 2 is reported as NaN.
    const wrap = (p: Policy): Policy => {
      const e = p.engine;
      const engine: TrainEngine = {
        mode: e.mode,
        totalParameters: e.totalParameters,
        trainableParameters: e.trainableParameters,
        accumulate: async (b, ref, l) => {
          const s = await e.accumulate(b, ref, l);
          return round === 2 ? { ...s, loss: NaN } : s;
        },
        step: () => e.step(),
        zeroGrad: () => e.zeroGrad(),
        referenceLogprobs: (b, t) => e.referenceLogprobs(b, t),
        beginGeneration: () => {
          round++;
          return e.beginGeneration();
        },
        endGeneration: () => e.endGeneration(),
        saveWeights: (d) => e.saveWeights(d),
        saveState: (d, x) => e.saveState(d, x),
        loadState: (d) => e.loadState(d),
      };
      return { ...p, engine };
    };
    const out = new CaptureStream();
    const r = await trainRun(tinyConfig(root, [...SHORT, '--max_steps', '3']), { out, handleSignals: false, wrapEngine: wrap });
    expect(r.state.step).toBe(3);
    expect(r.state.skippedSteps).toBe(1);
    expect(out.text).toMatch(/step 2 skipped: non-finite loss/);
    const rows = readJsonl<MetricRow>(join(r.runDir, 'metrics.jsonl'));
    expect(rows.map((x) => x['optimizer/skipped'])).toEqual([0, 1, 0]);
    expect(rows[1].loss).toBeNull();
    expect(rows[1].grad_norm).toBeNull();
    expect(typeof rows[2].grad_norm).toBe('number');
  }, 180_000);
});
