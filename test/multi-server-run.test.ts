// Rollouts over several `lfm2-rl serve-env` processes on loopback: the tiny run over three servers, one of them killed
// (with its Chromium) in the middle of a rollout round, finishes; the round is replayed on the other two, and the run's
// episodes, weights and optimizer state equal those of the same run over the two survivors alone. The metrics show the
// spread by capacity, per-server latency and the failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import type { Policy } from '../lib/rl/engine-policy.ts';
import { trainRun } from '../lib/rl/run.ts';
import { CaptureStream, removeTempRoots, tempRoot, tinyConfig } from './trainer-helpers.ts';

// Two optimizer steps of one round each: 2 groups × G 4 = 8 episodes of at most 2 env steps per round.
const ARGS = ['--max_steps', '2', '--warmup_steps', '0', '--save_steps', '0', '--eval_steps', '0', '--per_device_train_batch_size', '8', '--num_generations', '4', '--max_env_steps', '2'];

interface Served {
  proc: ChildProcess;
  url: string;
}

const served: Served[] = [];

/** Starts `serve-env` in its own process group (so that killing the group takes its Chromium too). */
function serveEnv(): Promise<Served> {
  const proc = spawn(process.execPath, ['bin/lfm2-rl.js', 'serve-env', '--port', '0', '--max-sessions', '4', '--max-steps', '2', '--no-preload', '--step-timeout', '20'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  proc.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve-env did not start within 60 s: ${out}`)), 60_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /server on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1]! });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve-env exited (${code}) before serving: ${out}`));
    });
  });
}

function killGroup(s: Served, signal: NodeJS.Signals): void {
  try {
    process.kill(-s.proc.pid!, signal);
  } catch {
    // already gone
  }
}

beforeAll(async () => {
  const started = await Promise.allSettled([serveEnv(), serveEnv(), serveEnv()]);
  for (const r of started) if (r.status === 'fulfilled') served.push(r.value);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}, 90_000);

afterAll(async () => {
  await Promise.all(
    served.map(async (s) => {
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
      const exited = new Promise((r) => s.proc.once('exit', r));
      killGroup(s, 'SIGTERM');
      const timer = setTimeout(() => killGroup(s, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
  removeTempRoots();
});

describe('a run over several env servers', () => {
  it('survives a server killed mid-round, with the episodes and weights of a run over the survivors', async () => {
    const root = tempRoot('multi-server');
    const [s0, s1, s2] = served as [Served, Served, Served];
    let calls = 0;
    // Kill server 2 and its browser after the second round's resets, before its first step (generate call 3).
    const wrap = (p: Policy): Policy => ({
      ...p,
      generator: {
        generate: async (req, settings) => {
          if (++calls === 3) {
            const gone = new Promise((r) => s2.proc.once('exit', r));
            killGroup(s2, 'SIGKILL');
            await gone;
          }
          return p.generator.generate(req, settings);
        },
      },
    });
    const out = new CaptureStream();
    const hit = await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'three', '--env_url', `${s0.url},${s1.url},${s2.url}`]), { out, handleSignals: false, wrapEngine: wrap });
    expect(hit.state.step).toBe(2);
    expect(out.text).toContain(`3 OpenEnv servers ${s0.url}, ${s1.url}, ${s2.url} (free sessions 4/4/4)`);
    expect(out.text).toMatch(new RegExp(`env server 2 \\(${s2.url}\\) taken out of the pool: step failed: connection closed`));
    expect(out.text).toMatch(/environment error during a rollout round \(env server 2 .*\); replaying the round/);

    const rows = readJsonl<MetricRow>(join(hit.runDir, 'metrics.jsonl'));
    const [r1, r2] = rows as [MetricRow, MetricRow];
    // Round 1: 8 episodes spread 3/3/2 over three servers with 4 free sessions each.
    expect([0, 1, 2].map((i) => r1[`env/server/${i}/resets`])).toEqual([3, 3, 2]);
    for (const i of [0, 1, 2]) {
      expect(r1[`env/server/${i}/reset_p50_ms`] as number).toBeGreaterThan(0);
      expect(r1[`env/server/${i}/step_p50_ms`] as number).toBeGreaterThan(0);
      expect(r1[`env/server/${i}/failures`]).toBe(0);
      expect(r1[`env/server/${i}/up`]).toBe(1);
    }
    // Round 2: server 2 failed and is out; the replay ran its 8 episodes on the other two.
    expect(r2['rollout/crash_retries']).toBe(1);
    expect(r2['env/server/2/up']).toBe(0);
    expect(r2['env/server/2/failures'] as number).toBeGreaterThanOrEqual(1);
    expect([r2['env/server/0/failures'], r2['env/server/1/failures']]).toEqual([0, 0]);
    expect((r2['env/server/0/resets'] as number) + (r2['env/server/1/resets'] as number)).toBeGreaterThanOrEqual(8);

    // The same run over the two survivors from the start.
    const ref = await trainRun(tinyConfig(root, [...ARGS, '--run_name', 'two', '--env_url', `${s0.url},${s1.url}`]), { out: new CaptureStream(), handleSignals: false });
    expect(ref.state.step).toBe(2);
    const episodes = (dir: string) => readFileSync(join(dir, 'episodes.jsonl'), 'utf8');
    expect(episodes(hit.runDir).split('\n').length).toBeGreaterThan(16);
    expect(episodes(hit.runDir)).toBe(episodes(ref.runDir));
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      expect(readFileSync(join(hit.runDir, 'checkpoint-2', f)).equals(readFileSync(join(ref.runDir, 'checkpoint-2', f))), f).toBe(true);
    }
  }, 120_000);
});
