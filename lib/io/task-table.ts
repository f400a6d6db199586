// The per-task results table, in one place for every place that shows it: `lfm2-rl eval` and the end of
// `lfm2-rl train` print it as text, report.html shows it as HTML. Columns appear for the data the rows carry:
// training totals (groups, success over the run) and/or a held-out evaluation (episodes, success, 95% Wilson
// interval, mean steps). A missing value is shown as '–'.
import type { MetricRow } from './metrics.ts';

export interface TaskTableRow {
  /** Task name, or 'all' for a totals row. */
  task: string;
  train?: { groups: number; episodes: number; successes: number } | null;
  eval?: {
    episodes: number | null;
    successRate: number;
    /** 95% Wilson interval. */
    ciLow: number | null;
    ciHigh: number | null;
    meanSteps?: number | null;
  } | null;
}

const DASH = '–';
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Header row then one row of cells per table row. */
export function taskTableCells(rows: readonly TaskTableRow[]): string[][] {
  const hasTrain = rows.some((r) => r.train);
  const hasEval = rows.some((r) => r.eval);
  const hasSteps = rows.some((r) => r.eval?.meanSteps != null);
  const header = ['task'];
  if (hasTrain) header.push('train groups', 'train success');
  // Without training columns the evaluation columns need no prefix (the `lfm2-rl eval` table).
  if (hasEval) header.push(hasTrain ? 'eval episodes' : 'episodes', hasTrain ? 'eval success' : 'success', '95% CI');
  if (hasSteps) header.push('mean steps');
  const out = [header];
  for (const r of rows) {
    const cells = [r.task];
    if (hasTrain) {
      const t = r.train;
      cells.push(t ? String(t.groups) : DASH, t && t.episodes > 0 ? `${pct(t.successes / t.episodes)} (${t.successes}/${t.episodes})` : DASH);
    }
    if (hasEval) {
      const e = r.eval;
      cells.push(
        e?.episodes != null ? String(e.episodes) : DASH,
        e ? pct(e.successRate) : DASH,
        e && e.ciLow != null && e.ciHigh != null ? `${pct(e.ciLow)} – ${pct(e.ciHigh)}` : DASH,
      );
    }
    if (hasSteps) cells.push(r.eval?.meanSteps != null ? r.eval.meanSteps.toFixed(2) : '');
    out.push(cells);
  }
  return out;
}

/** Plain-text table: task names left-aligned, numbers right-aligned, two spaces between columns. */
export function formatTaskTable(rows: readonly TaskTableRow[]): string {
  const cells = taskTableCells(rows);
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  return cells.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n');
}

/** HTML table (the caller escapes nothing: cells are escaped here). */
export function taskTableHtml(rows: readonly TaskTableRow[], escape: (s: string) => string): string {
  const [header, ...body] = taskTableCells(rows);
  const th = header.map((h) => `<th>${escape(h)}</th>`).join('');
  const trs = body.map((row) => `<tr>${row.map((cell, c) => `<td${c > 0 ? ' class="r"' : ''}>${escape(cell)}</td>`).join('')}</tr>`).join('');
  return `<table class="tasks"><tr>${th}</tr>${trs}</table>`;
}

/**
 * The last evaluation in a run's metrics, as table rows: per-task success, Wilson bounds and episodes
 * (eval/<task>/success_rate, ci_low, ci_high, episodes), plus an 'all' row (eval/success_rate …) for several tasks.
 */
export function lastEvalRows(metrics: readonly MetricRow[]): { step: number; rows: TaskTableRow[] } | null {
  const isNum = (v: unknown): v is number => typeof v === 'number';
  const perTask = (r: MetricRow) => Object.keys(r).flatMap((k) => /^eval\/([^/]+)\/success_rate$/.exec(k)?.[1] ?? []).filter((t) => isNum(r[`eval/${t}/success_rate`]));
  const row = [...metrics].sort((a, b) => a.step - b.step).reverse().find((r) => perTask(r).length > 0);
  if (!row) return null;
  const num = (k: string) => (isNum(row[k]) ? (row[k] as number) : null);
  const evalOf = (prefix: string) => ({
    episodes: num(`${prefix}/episodes`),
    successRate: num(`${prefix}/success_rate`)!,
    ciLow: num(`${prefix}/ci_low`),
    ciHigh: num(`${prefix}/ci_high`),
  });
  const tasks = perTask(row);
  const rows: TaskTableRow[] = tasks.map((t) => ({ task: t, eval: evalOf(`eval/${t}`) }));
  if (tasks.length > 1 && num('eval/success_rate') !== null) rows.push({ task: 'all', eval: evalOf('eval') });
  return { step: row.step, rows };
}
