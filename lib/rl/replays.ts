// Saving recorded episodes (rollouts run with RolloutOptions.record) as replay folders (lib/io/replay-files.ts), with
// the per-task table of what was recorded. Used by `lfm2-rl eval --record` and by training's record_episodes.
import { writeReplay, type ReplayIndex, type ReplaySource } from '../io/replay-files.ts';
import type { TaskTableRow } from '../io/task-table.ts';
import { taskEval, wilsonInterval, type TaskEval } from './evaluate.ts';
import type { RolloutEpisode } from './rollout.ts';
import { evalTableRows } from './task-metrics.ts';

/** Whether the rollout took screenshots of this episode (RolloutOptions.record chose it). */
export function isRecorded(e: RolloutEpisode): boolean {
  return e.finalScreenshot !== undefined;
}

/** The per-task table (episodes, success, 95% Wilson interval, mean steps) of some episodes, tasks in first-seen order. */
export function episodeTableRows(episodes: readonly RolloutEpisode[]): TaskTableRow[] {
  const tasks = [...new Set(episodes.map((e) => e.task))];
  if (tasks.length === 0) return [];
  const evals: TaskEval[] = tasks.map((task) => taskEval(task, episodes.filter((e) => e.task === task)));
  const successes = episodes.filter((e) => e.reward.success).length;
  const overall = { episodes: episodes.length, successes, successRate: successes / episodes.length, ci95: wilsonInterval(successes, episodes.length) };
  return evalTableRows({ tasks: evals, overall });
}

/** Writes the recorded ones of `episodes` to `dir` as one recording; null when none was recorded. */
export function saveReplay(
  dir: string,
  episodes: readonly RolloutEpisode[],
  o: { source: ReplaySource; step: number | null; note?: string; replace?: boolean },
): ReplayIndex | null {
  const recorded = episodes.filter(isRecorded);
  if (recorded.length === 0) return null;
  return writeReplay(dir, recorded, { ...o, tasks: episodeTableRows(recorded) });
}
