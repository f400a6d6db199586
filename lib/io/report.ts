// report.html: a self-contained page (inline CSS and SVG, no external resources) with line plots of a run's metrics —
// reward and success, loss, KL, entropy, gradient norm, learning rate, completion lengths, clip ratios and timings,
// per-task success (lib/io/task-plots.ts), and the SFT stage's loss, token accuracy, learning rate and gradient norm
// over its own steps — plus the last evaluation per task, a table of the latest values and, when episodes were
// recorded (record_episodes, `lfm2-rl eval --record`), an episode viewer (lib/io/replay-viewer.ts; its only script)
// whose screenshots are the PNGs next to the report. Opens offline in any browser.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl, type MetricRow } from './metrics.ts';
import { readReplays, type ViewerRecording } from './replay-catalog.ts';
import { REPLAY_VIEWER_CSS, replayViewerHtml } from './replay-viewer.ts';
import { taskPlots } from './task-plots.ts';
import { lastEvalRows, taskTableHtml } from './task-table.ts';

export interface Series {
  name: string;
  /** [x, y] points; y null = gap. */
  points: ReadonlyArray<readonly [number, number | null]>;
}

export interface PlotOptions {
  title: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  yLabel?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
/** Plot area margins inside the SVG: left (tick labels), right, top (title), bottom (x ticks). */
export const MARGIN = { left: 56, right: 12, top: 28, bottom: 28 } as const;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Maps [d0, d1] onto [r0, r1]; a zero-width domain maps to the middle of the range. */
export function scaleLinear(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

/** About `count` round tick values (1, 2 or 5 × 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** One SVG line plot; series with no values are left out. */
export function linePlot(opts: PlotOptions): string {
  const width = opts.width ?? 560;
  const height = opts.height ?? 240;
  const series = opts.series.filter((s) => s.points.some(([, y]) => y !== null));
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const ys = series.flatMap((s) => s.points.flatMap(([, y]) => (y === null ? [] : [y])));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    `<title>${escapeHtml(opts.title)}</title>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" class="t">${escapeHtml(opts.title)}</text>`,
  ];
  if (ys.length === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="n">no data yet</text></svg>`);
    return parts.join('');
  }
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const sx = scaleLinear(x0, x1, MARGIN.left, width - MARGIN.right);
  const sy = scaleLinear(y0, y1, height - MARGIN.bottom, MARGIN.top);
  const r = (v: number) => Math.round(v * 10) / 10;
  // Axes and ticks.
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${width - MARGIN.left - MARGIN.right}" height="${height - MARGIN.top - MARGIN.bottom}" class="f"/>`);
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${r(sy(t))}" y2="${r(sy(t))}" class="g"/>`);
    parts.push(`<text x="${MARGIN.left - 4}" y="${r(sy(t)) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6).filter((t) => Number.isInteger(t))) {
    parts.push(`<text x="${r(sx(t))}" y="${height - MARGIN.bottom + 14}" text-anchor="middle">${t}</text>`);
  }
  // Lines: one polyline per run of consecutive values; lone points drawn as dots.
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    let run: string[] = [];
    const flush = () => {
      if (run.length === 1) {
        const [cx, cy] = run[0].split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}"/>`);
      } else if (run.length > 1) {
        parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${run.join(' ')}"/>`);
      }
      run = [];
    };
    for (const [x, y] of s.points) {
      if (y === null) flush();
      else run.push(`${r(sx(x))},${r(sy(y))}`);
    }
    flush();
    parts.push(`<text x="${MARGIN.left + 6 + i * 130}" y="${MARGIN.top + 12}" fill="${color}" class="l">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** The series of one metric over steps, or over another numeric column `x` (missing values become gaps). */
export function metricSeries(rows: readonly MetricRow[], name: string, label = name, x = 'step'): Series {
  return {
    name: label,
    points: rows.flatMap((r) => (typeof r[x] === 'number' ? [[r[x] as number, typeof r[name] === 'number' ? (r[name] as number) : null] as const] : [])),
  };
}

/** Rows of the SFT stage: logged at step 0 (before GRPO), each with its own `sft/step`. */
export const SFT_STEP = 'sft/step';

/** SFT plot groups, drawn over sft/step. */
const SFT_PLOTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['SFT loss (cross-entropy)', ['sft/loss']],
  ['SFT token accuracy', ['sft/token_accuracy']],
  ['SFT learning rate', ['sft/learning_rate']],
  ['SFT gradient norm', ['sft/grad_norm']],
];

/** Plot groups: [title, metric names]. Timings are added from whatever timing/* (and async/*_s) metrics the run logged. */
const PLOTS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Reward', ['reward', 'reward_std']],
  ['Success rate', ['success_rate', 'eval/success_rate']],
  ['Loss', ['loss']],
  ['KL to reference', ['kl']],
  ['Entropy', ['entropy']],
  ['Gradient norm', ['grad_norm']],
  ['Learning rate', ['learning_rate']],
  ['Completion length (tokens)', ['completions/mean_length', 'completions/max_length']],
  ['Clip ratio', ['clip_ratio/region_mean', 'clip_ratio/low_mean', 'clip_ratio/high_mean']],
  ['Zero-variance groups', ['frac_reward_zero_std']],
];

export interface ReportMeta {
  title: string;
  /** Free lines shown under the title (model, config path, device …). */
  details?: readonly string[];
  /** Config text shown at the bottom. */
  configYaml?: string;
  /** Recorded episodes for the viewer (image paths relative to the report). */
  replays?: readonly ViewerRecording[];
}

export function renderReport(rows: readonly MetricRow[], meta: ReportMeta): string {
  const sorted = [...rows].sort((a, b) => a.step - b.step);
  const names = new Set(sorted.flatMap((r) => Object.keys(r).filter((k) => k !== 'step' && k !== 'time')));
  const plots: string[] = [];
  const sftRows = sorted.filter((r) => typeof r[SFT_STEP] === 'number' && typeof r['sft/loss'] === 'number');
  for (const [title, metrics] of SFT_PLOTS) {
    const present = metrics.filter((m) => sftRows.some((r) => typeof r[m] === 'number'));
    if (present.length > 0) plots.push(linePlot({ title: `${title} by SFT step`, series: present.map((m) => metricSeries(sftRows, m, m, SFT_STEP)) }));
  }
  // sft.eval_epochs: held-out success over the stage (overall and per task), once there is a curve to draw.
  const sftEvalRows = sorted.filter((r) => typeof r[SFT_STEP] === 'number' && typeof r['sft/eval/success_rate'] === 'number');
  if (sftEvalRows.length >= 2) {
    const perTask = [...names].filter((n) => /^sft\/eval\/.+\/success_rate$/.test(n)).sort();
    const series = ['sft/eval/success_rate', ...perTask].map((m) => metricSeries(sftEvalRows, m, m, SFT_STEP));
    plots.push(linePlot({ title: 'SFT held-out success rate by SFT step', series }));
  }
  const grpoRows = sorted.filter((r) => typeof r[SFT_STEP] !== 'number');
  for (const [title, metrics] of PLOTS) {
    const present = metrics.filter((m) => names.has(m));
    if (present.length > 0) plots.push(linePlot({ title, series: present.map((m) => metricSeries(grpoRows, m)) }));
  }
  const timing = [...names].filter((n) => n.startsWith('timing/') || n === 'step_time' || n === 'async/overlap_s' || n === 'async/wait_s').sort();
  if (timing.length > 0) plots.push(linePlot({ title: 'Time per step (s)', series: timing.map((m) => metricSeries(grpoRows, m)) }));
  for (const p of taskPlots(grpoRows)) plots.push(linePlot(p));
  const lastEval = lastEvalRows(sorted);

  const last = sorted.at(-1);
  const latest = last
    ? [...names]
        .sort()
        .map((n) => {
          const v = [...sorted].reverse().find((r) => typeof r[n] === 'number')?.[n];
          return `<tr><td>${escapeHtml(n)}</td><td>${typeof v === 'number' ? escapeHtml(fmt(v)) : '–'}</td></tr>`;
        })
        .join('')
    : '';
  const details = (meta.details ?? []).map((d) => `<div>${escapeHtml(d)}</div>`).join('');
  const viewer = replayViewerHtml(meta.replays ?? [], escapeHtml);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(meta.title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px}
.d{color:#555;margin-bottom:16px}
.p{display:flex;flex-wrap:wrap;gap:12px}
svg{background:#fff;border:1px solid #ddd}
svg text{font:11px system-ui,sans-serif;fill:#444}
svg .t{font-size:13px;font-weight:600}
svg .l{font-size:11px;font-weight:600}
svg .n{fill:#999}
svg .f{fill:none;stroke:#bbb}
svg .g{stroke:#eee}
table{border-collapse:collapse;margin-top:16px}
td,th{border-bottom:1px solid #eee;padding:2px 12px 2px 0;text-align:left}
td.r{text-align:right}
pre{background:#f6f6f6;padding:8px;overflow:auto}
${viewer ? REPLAY_VIEWER_CSS : ''}</style></head><body>
<h1>${escapeHtml(meta.title)}</h1>
<div class="d">${details}<div>${grpoRows.length} logged steps${sftRows.length > 0 ? ` after ${sftRows.length} SFT steps` : ''}${last ? `, last step ${last.step} at ${escapeHtml(String(last.time))}` : ''}</div></div>
${plots.length > 0 || !viewer ? `<div class="p">${plots.join('\n') || '<p>No metrics logged yet.</p>'}</div>` : ''}
${lastEval ? `<h2>Evaluation by task (step ${lastEval.step})</h2>${taskTableHtml(lastEval.rows, escapeHtml)}` : ''}
${viewer}
${latest ? `<h2>Latest values</h2><table>${latest}</table>` : ''}
${meta.configYaml ? `<h2>Config</h2><pre>${escapeHtml(meta.configYaml)}</pre>` : ''}
</body></html>
`;
}

/** Where a run keeps its recorded episodes (record_episodes): <run>/replays/step-<S>/<eval|rollout>/. */
export const REPLAYS_DIR = 'replays';

/**
 * Re-reads <runDir>/metrics.jsonl and the recordings under `replayRoot` (default <runDir>/replays) and (re)writes
 * <runDir>/report.html atomically. Returns the report path.
 */
export function writeReport(runDir: string, meta: ReportMeta, opts: { replayRoot?: string; warn?: (m: string) => void } = {}): string {
  const rows = readJsonl<MetricRow>(join(runDir, 'metrics.jsonl'));
  const replays = meta.replays ?? readReplays(opts.replayRoot ?? join(runDir, REPLAYS_DIR), runDir, opts.warn);
  const path = join(runDir, 'report.html');
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, renderReport(rows, { ...meta, replays }));
  renameSync(tmp, path);
  return path;
}
