// Held-out evaluation: success rate per task over env seeds from EVAL_SEED_RANGE (never used by training), each with
// a 95% Wilson score interval. Episodes run like rollouts (batched generation, parallel pages), one episode per seed.
import { evalSeed, generationSeed } from './seeds.ts';
import { runRollout, type EpisodeSlots, type RolloutEpisode, type RolloutOptions } from './rollout.ts';
import { formatTaskTable } from '../io/task-table.ts';
import { evalTableRows } from './task-metrics.ts';

/** z for a two-sided 95% interval. */
export const Z95 = 1.959963984540054;

/**
 * Wilson score interval for k successes in n trials: centre (p + z²/2n)/(1 + z²/n), half-width
 * z·sqrt(p(1−p)/n + z²/4n²)/(1 + z²/n). Unlike p ± z·sqrt(p(1−p)/n) it stays inside [0, 1] and is not empty at
 * p = 0 or 1.
 */
export function wilsonInterval(k: number, n: number, z = Z95): { low: number; high: number } {
  if (!Number.isInteger(n) || n < 1) throw new Error(`wilsonInterval: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`wilsonInterval: k must be an integer in [0, ${n}], got ${k}`);
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export interface TaskEval {
  task: string;
  episodes: number;
  successes: number;
  successRate: number;
  ci95: { low: number; high: number };
  meanSteps: number;
  meanReward: number;
}

/** Success, its 95% Wilson interval, mean steps and mean reward of one task's (non-empty) episodes. */
export function taskEval(task: string, eps: readonly RolloutEpisode[]): TaskEval {
  const successes = eps.filter((e) => e.reward.success).length;
  return {
    task,
    episodes: eps.length,
    successes,
    successRate: successes / eps.length,
    ci95: wilsonInterval(successes, eps.length),
    meanSteps: eps.reduce((a, e) => a + e.steps.length, 0) / eps.length,
    meanReward: eps.reduce((a, e) => a + e.reward.reward, 0) / eps.length,
  };
}

export interface EvalResult {
  tasks: TaskEval[];
  /** Over all tasks' episodes. */
  overall: { episodes: number; successes: number; successRate: number; ci95: { low: number; high: number } };
  seconds: number;
  episodes: RolloutEpisode[];
}

export interface EvalOptions {
  tasks: readonly string[];
  episodesPerTask: number;
  /** Run seed: picks the eval seeds (from EVAL_SEED_RANGE) and sampler seeds. */
  seed: number;
  /** Episodes run at once (pages open together); default min(episodes per task, 16). */
  concurrency?: number;
}

export async function evaluate(rollout: RolloutOptions, slots: EpisodeSlots, opts: EvalOptions): Promise<EvalResult> {
  if (opts.tasks.length === 0) throw new Error('evaluate: no tasks');
  if (!Number.isInteger(opts.episodesPerTask) || opts.episodesPerTask < 1) {
    throw new Error(`evaluate: episodes per task must be a positive integer, got ${opts.episodesPerTask}`);
  }
  const t0 = performance.now();
  const concurrency = opts.concurrency ?? Math.min(opts.episodesPerTask, 16);
  const all: RolloutEpisode[] = [];
  const tasks: TaskEval[] = [];
  let call = 0;
  for (const task of opts.tasks) {
    const eps: RolloutEpisode[] = [];
    for (let start = 0; start < opts.episodesPerTask; start += concurrency) {
      const count = Math.min(concurrency, opts.episodesPerTask - start);
      const groups = Array.from({ length: count }, (_, i) => ({ task, seed: evalSeed(opts.seed, task, start + i) }));
      const round = call++;
      const res = await runRollout(rollout, slots, groups, 1, (envStep) => generationSeed(opts.seed, 'eval', round, envStep));
      eps.push(...res.episodes);
    }
    tasks.push(taskEval(task, eps));
    all.push(...eps);
  }
  const successes = all.filter((e) => e.reward.success).length;
  return {
    tasks,
    overall: { episodes: all.length, successes, successRate: successes / all.length, ci95: wilsonInterval(successes, all.length) },
    seconds: (performance.now() - t0) / 1000,
    episodes: all,
  };
}

/** Plain-text table of an evaluation (the shared per-task table, lib/io/task-table.ts). */
export function formatEvalTable(r: EvalResult): string {
  return formatTaskTable(evalTableRows(r));
}

/** One log line of an evaluation: each task's success with its Wilson interval, the episode count and the time. */
export function formatEvalLine(r: Pick<EvalResult, 'tasks' | 'overall' | 'seconds'>): string {
  const parts = r.tasks.map((t) => `${t.task} ${(100 * t.successRate).toFixed(1)}% [${(100 * t.ci95.low).toFixed(0)}–${(100 * t.ci95.high).toFixed(0)}%]`);
  return `${parts.join(', ')} (${r.overall.episodes} held-out episodes, ${r.seconds.toFixed(1)} s)`;
}

/** JSON-friendly summary (no episode transcripts). */
export function evalSummary(r: EvalResult): { tasks: TaskEval[]; overall: EvalResult['overall']; seconds: number } {
  return { tasks: r.tasks, overall: r.overall, seconds: r.seconds };
}
