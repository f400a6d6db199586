// Per-task metrics of multi-task runs, and the rows of the per-task table (lib/io/task-table.ts).
//   train/<task>/groups         groups of the task in the round (0 when it was not drawn)
//   train/<task>/sampling_prob  the probability each group of the round had of getting the task
//   train/<task>/success_rate   share of the task's episodes solved in the round   } only for tasks drawn
//   train/<task>/reward         mean episode reward of the task's episodes         } in the round
//   eval/<task>/success_rate, ci_low, ci_high, episodes   held-out evaluation (95% Wilson bounds); eval/ci_low, … overall
import type { TaskTableRow } from '../io/task-table.ts';
import type { EvalResult } from './evaluate.ts';
import type { TaskHistory } from './task-sampler.ts';

/** Per-task training metrics of one round. `probabilities` follows `tasks`. */
export function trainTaskMetrics(
  episodes: ReadonlyArray<{ group: number; task: string; reward: { reward: number; success: boolean } }>,
  tasks: readonly string[],
  probabilities: readonly number[],
): Record<string, number> {
  const m: Record<string, number> = {};
  tasks.forEach((task, i) => {
    const eps = episodes.filter((e) => e.task === task);
    m[`train/${task}/groups`] = new Set(eps.map((e) => e.group)).size;
    m[`train/${task}/sampling_prob`] = probabilities[i];
    if (eps.length > 0) {
      m[`train/${task}/success_rate`] = eps.filter((e) => e.reward.success).length / eps.length;
      m[`train/${task}/reward`] = eps.reduce((a, e) => a + e.reward.reward, 0) / eps.length;
    }
  });
  return m;
}

/** Per-task (and overall) evaluation metrics with 95% Wilson bounds and episode counts. */
export function evalTaskMetrics(r: Pick<EvalResult, 'tasks' | 'overall'>): Record<string, number> {
  const m: Record<string, number> = {
    'eval/ci_low': r.overall.ci95.low,
    'eval/ci_high': r.overall.ci95.high,
    'eval/episodes': r.overall.episodes,
  };
  for (const t of r.tasks) {
    m[`eval/${t.task}/success_rate`] = t.successRate;
    m[`eval/${t.task}/ci_low`] = t.ci95.low;
    m[`eval/${t.task}/ci_high`] = t.ci95.high;
    m[`eval/${t.task}/episodes`] = t.episodes;
  }
  return m;
}

/** Table rows of an evaluation: one per task, plus 'all' when there are several. */
export function evalTableRows(r: Pick<EvalResult, 'tasks' | 'overall'>): TaskTableRow[] {
  const rows: TaskTableRow[] = r.tasks.map((t) => ({
    task: t.task,
    eval: { episodes: t.episodes, successRate: t.successRate, ciLow: t.ci95.low, ciHigh: t.ci95.high, meanSteps: t.meanSteps },
  }));
  if (r.tasks.length > 1) {
    const o = r.overall;
    rows.push({ task: 'all', eval: { episodes: o.episodes, successRate: o.successRate, ciLow: o.ci95.low, ciHigh: o.ci95.high, meanSteps: null } });
  }
  return rows;
}

/**
 * The end-of-training table: each task's training totals over the run (from the loop's task history, so a resumed
 * run counts its earlier part too) beside the last held-out evaluation, if any.
 */
export function trainSummaryRows(tasks: readonly string[], history: TaskHistory, lastEval: Pick<EvalResult, 'tasks' | 'overall'> | null): TaskTableRow[] {
  const evalRows = lastEval ? evalTableRows(lastEval) : [];
  const rows: TaskTableRow[] = tasks.map((task) => {
    const h = history[task];
    return {
      task,
      train: { groups: h?.groups ?? 0, episodes: h?.episodes ?? 0, successes: h?.successes ?? 0 },
      eval: evalRows.find((r) => r.task === task)?.eval ?? null,
    };
  });
  if (tasks.length > 1) {
    const sum = (k: 'groups' | 'episodes' | 'successes') => rows.reduce((a, r) => a + (r.train?.[k] ?? 0), 0);
    rows.push({
      task: 'all',
      train: { groups: sum('groups'), episodes: sum('episodes'), successes: sum('successes') },
      eval: evalRows.find((r) => r.task === 'all')?.eval ?? null,
    });
  }
  return rows;
}
