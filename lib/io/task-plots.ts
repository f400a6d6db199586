// Per-task plots of report.html, one line per task, from metrics.jsonl: training success (train/<task>/success_rate),
// held-out success (eval/<task>/success_rate) and the task sampling probabilities (train/<task>/sampling_prob).
// A task is absent from many rows (not drawn that round, no evaluation at that step), so each line joins the steps
// where its task has a value instead of breaking at every absence.
import type { MetricRow } from './metrics.ts';
import type { PlotOptions, Series } from './report.ts';

/** Tasks with a `<prefix>/<task>/<name>` metric somewhere in the rows, sorted. */
export function tasksWith(rows: readonly MetricRow[], prefix: 'train' | 'eval', name: string): string[] {
  const re = new RegExp(`^${prefix}/([^/]+)/${name}$`);
  const out = new Set<string>();
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      const m = re.exec(k);
      if (m && typeof r[k] === 'number') out.add(m[1]);
    }
  }
  return [...out].sort();
}

/** One task's values over steps, only where present (rows sorted by step). */
export function taskSeries(rows: readonly MetricRow[], prefix: 'train' | 'eval', task: string, name: string): Series {
  const key = `${prefix}/${task}/${name}`;
  return { name: task, points: rows.flatMap((r) => (typeof r[key] === 'number' ? [[r.step, r[key] as number] as const] : [])) };
}

/** Plot specs for the report (rows sorted by step). Training plots only for runs of several tasks. */
export function taskPlots(rows: readonly MetricRow[]): PlotOptions[] {
  const out: PlotOptions[] = [];
  const train = tasksWith(rows, 'train', 'success_rate');
  if (train.length > 1) out.push({ title: 'Training success by task', series: train.map((t) => taskSeries(rows, 'train', t, 'success_rate')) });
  const evalTasks = tasksWith(rows, 'eval', 'success_rate');
  if (evalTasks.length > 0) out.push({ title: 'Eval success by task', series: evalTasks.map((t) => taskSeries(rows, 'eval', t, 'success_rate')) });
  const sampled = tasksWith(rows, 'train', 'sampling_prob');
  if (sampled.length > 1) out.push({ title: 'Task sampling probability', series: sampled.map((t) => taskSeries(rows, 'train', t, 'sampling_prob')) });
  return out;
}
