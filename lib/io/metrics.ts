// Run logs as JSON Lines: metrics.jsonl (one row per logged optimizer step, TRL metric names, docs/grpo.md §6) and
// episodes.jsonl (every env step of every episode: prompt, completion, parsed action, error, reward). Each line is
// appended with one write so a crash leaves at most one partial last line, which the reader skips with a warning.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** TRL GRPO metric names this project logs (plus its own success and timing metrics). */
export const METRIC_NAMES = {
  reward: 'reward',
  rewardStd: 'reward_std',
  fracRewardZeroStd: 'frac_reward_zero_std',
  /** TRL's per-reward-function names for our single reward function. */
  rewardFnMean: 'rewards/episode_reward/mean',
  rewardFnStd: 'rewards/episode_reward/std',
  kl: 'kl',
  entropy: 'entropy',
  clipRegionMean: 'clip_ratio/region_mean',
  clipLowMean: 'clip_ratio/low_mean',
  clipLowMin: 'clip_ratio/low_min',
  clipHighMean: 'clip_ratio/high_mean',
  clipHighMax: 'clip_ratio/high_max',
  completionsMeanLength: 'completions/mean_length',
  completionsMinLength: 'completions/min_length',
  completionsMaxLength: 'completions/max_length',
  completionsMeanTerminatedLength: 'completions/mean_terminated_length',
  completionsClippedRatio: 'completions/clipped_ratio',
  numTokens: 'num_tokens',
  stepTime: 'step_time',
  loss: 'loss',
  gradNorm: 'grad_norm',
  learningRate: 'learning_rate',
  epoch: 'epoch',
  /** Not in TRL: share of episodes solved, steps per episode, invalid actions. */
  successRate: 'success_rate',
  episodeSteps: 'episode/mean_steps',
  invalidActionRate: 'episode/invalid_action_rate',
  /** Not in TRL: wall-clock split of one optimizer step, seconds. */
  timeRollout: 'timing/rollout_s',
  timeEnv: 'timing/env_s',
  timeGenerate: 'timing/generate_s',
  timeTrain: 'timing/train_s',
  /** Held-out evaluation; per-task train/<task>/… and eval/<task>/… names are in lib/rl/task-metrics.ts. */
  evalSuccessRate: 'eval/success_rate',
} as const;

export type MetricValue = number | null;
/** One metrics.jsonl row: the optimizer step, a wall-clock timestamp and metric values (non-finite → null). */
export interface MetricRow {
  step: number;
  time: string;
  [name: string]: MetricValue | string;
}

/** What one env step of an episode showed the model, what it answered and what came of it: the part of a step that
 *  the episodes.jsonl rows and the replays (lib/io/replay-files.ts) both keep. */
export interface StepTranscript {
  prompt: string;
  completion: string;
  action: string;
  error: string;
  reward: number;
  done: boolean;
}

/** One episodes.jsonl row: one env step of one episode. */
export interface EpisodeStepRow extends StepTranscript {
  /** Optimizer step during whose rollout this happened. */
  step: number;
  /** Group index within the rollout round and index within the group. */
  group: number;
  member: number;
  task: string;
  seed: number;
  envStep: number;
  /** Filled on the episode's last step. */
  episodeReward?: number;
  advantage?: number;
}

function appendLine(path: string, value: unknown): void {
  // JSON.stringify turns NaN/Infinity into null, which is what the readers expect for "no value".
  appendFileSync(path, JSON.stringify(value) + '\n');
}

/** Reads a JSONL file; a malformed line (e.g. the half-written last line after a crash) is skipped with a warning. */
export function readJsonl<T = Record<string, unknown>>(path: string, warn: (msg: string) => void = console.warn): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      warn(`${path}:${i + 1}: skipping malformed line`);
    }
  });
  return out;
}

/** Keeps only rows with step <= `step` (resuming from a checkpoint discards what was logged after it). */
export function truncateJsonlAfterStep(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readJsonl<{ step?: number }>(path, () => {}).filter((r) => typeof r.step === 'number' && r.step <= step);
  writeFileSync(path, keep.map((r) => JSON.stringify(r) + '\n').join(''));
}

export class MetricsWriter {
  readonly metricsPath: string;
  readonly episodesPath: string;

  /**
   * Opens <runDir>/metrics.jsonl and episodes.jsonl. `resumeStep` undefined: start fresh (existing files are
   * replaced); a number: keep rows up to that step and append after them.
   */
  constructor(runDir: string, opts: { resumeStep?: number } = {}) {
    this.metricsPath = join(runDir, 'metrics.jsonl');
    this.episodesPath = join(runDir, 'episodes.jsonl');
    mkdirSync(dirname(this.metricsPath), { recursive: true });
    if (opts.resumeStep === undefined) {
      writeFileSync(this.metricsPath, '');
      writeFileSync(this.episodesPath, '');
    } else {
      truncateJsonlAfterStep(this.metricsPath, opts.resumeStep);
      truncateJsonlAfterStep(this.episodesPath, opts.resumeStep);
    }
  }

  logStep(step: number, metrics: Record<string, number | null | undefined>, now: Date = new Date()): MetricRow {
    if (!Number.isInteger(step) || step < 0) throw new Error(`MetricsWriter.logStep: step must be an integer >= 0, got ${step}`);
    const row: MetricRow = { step, time: now.toISOString() };
    for (const [k, v] of Object.entries(metrics)) {
      if (k === 'step' || k === 'time') throw new Error(`MetricsWriter.logStep: '${k}' is reserved`);
      if (v === undefined) continue;
      if (v !== null && typeof v !== 'number') throw new Error(`MetricsWriter.logStep: metric '${k}' is not a number`);
      row[k] = v !== null && Number.isFinite(v) ? v : null;
    }
    appendLine(this.metricsPath, row);
    return row;
  }

  logEpisodeSteps(rows: readonly EpisodeStepRow[]): void {
    if (rows.length === 0) return;
    appendFileSync(this.episodesPath, rows.map((r) => JSON.stringify(r) + '\n').join(''));
  }
}

/**
 * TRL's completions/* metrics over a batch of completions (here: one per env step): token lengths, the mean length of
 * those that ended with a stop token, and the share cut by max_completion_length.
 */
export function completionMetrics(completions: ReadonlyArray<{ length: number; truncated: boolean }>): Record<string, number | null> {
  if (completions.length === 0) {
    return {
      [METRIC_NAMES.completionsMeanLength]: null,
      [METRIC_NAMES.completionsMinLength]: null,
      [METRIC_NAMES.completionsMaxLength]: null,
      [METRIC_NAMES.completionsMeanTerminatedLength]: null,
      [METRIC_NAMES.completionsClippedRatio]: null,
    };
  }
  const lengths = completions.map((c) => c.length);
  const terminated = completions.filter((c) => !c.truncated).map((c) => c.length);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    [METRIC_NAMES.completionsMeanLength]: mean(lengths),
    [METRIC_NAMES.completionsMinLength]: Math.min(...lengths),
    [METRIC_NAMES.completionsMaxLength]: Math.max(...lengths),
    // TRL logs 0 when every completion was clipped.
    [METRIC_NAMES.completionsMeanTerminatedLength]: terminated.length > 0 ? mean(terminated) : 0,
    [METRIC_NAMES.completionsClippedRatio]: (completions.length - terminated.length) / completions.length,
  };
}
