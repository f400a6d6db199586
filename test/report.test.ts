import { describe, it, expect } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { completionMetrics, MetricsWriter, readJsonl, type MetricRow } from '../lib/io/metrics.ts';
import { escapeHtml, linePlot, MARGIN, niceTicks, renderReport, scaleLinear, writeReport } from '../lib/io/report.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'lfm2-report-'));
const t = new Date('2026-01-02T03:04:05.000Z');

describe('metrics.jsonl / episodes.jsonl', () => {
  it('writes one row per step with TRL names; non-finite values become null', () => {
    const run = fresh();
    const w = new MetricsWriter(run);
    w.logStep(1, { reward: 0.25, 'clip_ratio/low_mean': 0, kl: NaN, loss: undefined }, t);
    w.logStep(2, { reward: 0.5 }, t);
    expect(readJsonl(w.metricsPath)).toEqual([
      { step: 1, time: '2026-01-02T03:04:05.000Z', reward: 0.25, 'clip_ratio/low_mean': 0, kl: null },
      { step: 2, time: '2026-01-02T03:04:05.000Z', reward: 0.5 },
    ]);
    expect(() => w.logStep(3, { step: 1 })).toThrow(/'step' is reserved/);
    expect(() => w.logStep(-1, {})).toThrow(/step must be an integer >= 0/);
  });

  it('resuming drops rows logged after the checkpoint step; a torn last line is skipped with a warning', () => {
    const run = fresh();
    const w = new MetricsWriter(run);
    for (let s = 1; s <= 5; s++) w.logStep(s, { reward: s / 10 }, t);
    w.logEpisodeSteps([
      { step: 2, group: 0, member: 0, task: 'click-test', seed: 3, envStep: 0, prompt: 'p', completion: "click('5')", action: "click('5')", error: '', reward: 1, done: true },
      { step: 4, group: 0, member: 1, task: 'click-test', seed: 3, envStep: 0, prompt: 'p', completion: 'x', action: '', error: 'parse', reward: 0, done: false },
    ]);
    appendFileSync(w.metricsPath, '{"step": 6, "rew');
    const warnings: string[] = [];
    expect(readJsonl(w.metricsPath, (m) => warnings.push(m)).length).toBe(5);
    expect(warnings[0]).toMatch(/metrics.jsonl:6: skipping malformed line/);
    const resumed = new MetricsWriter(run, { resumeStep: 3 });
    expect(readJsonl<MetricRow>(resumed.metricsPath).map((r) => r.step)).toEqual([1, 2, 3]);
    expect(readJsonl<{ step: number }>(resumed.episodesPath).map((r) => r.step)).toEqual([2]);
    // A fresh (non-resumed) writer starts empty.
    expect(readJsonl(new MetricsWriter(run).metricsPath)).toEqual([]);
  });
});

describe('completion metrics', () => {
  it('computes TRL completions/* values (hand-computed)', () => {
    const m = completionMetrics([
      { length: 4, truncated: false },
      { length: 12, truncated: true },
      { length: 6, truncated: false },
      { length: 12, truncated: true },
    ]);
    expect(m).toEqual({
      'completions/mean_length': 8.5,
      'completions/min_length': 4,
      'completions/max_length': 12,
      'completions/mean_terminated_length': 5,
      'completions/clipped_ratio': 0.5,
    });
    expect(completionMetrics([{ length: 3, truncated: true }])['completions/mean_terminated_length']).toBe(0);
    expect(completionMetrics([])['completions/mean_length']).toBeNull();
  });
});

describe('SVG plots', () => {
  it('scales and ticks (hand-computed)', () => {
    const s = scaleLinear(0, 10, 100, 200);
    expect(s(0)).toBe(100);
    expect(s(2.5)).toBe(125);
    expect(scaleLinear(3, 3, 0, 10)(3)).toBe(5);
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(-0.03, 0.07, 5)).toEqual([-0.02, 0, 0.02, 0.04, 0.06]);
  });

  it('places points where the scales say (hand-computed)', () => {
    // width 200, height 100: x ∈ [56, 188], y ∈ [72, 28] for values [0, 1].
    const svg = linePlot({ title: 'r', width: 200, height: 100, series: [{ name: 'reward', points: [[0, 0], [1, 1], [2, 0.5]] }] });
    expect(MARGIN).toEqual({ left: 56, right: 12, top: 28, bottom: 28 });
    expect(svg).toContain('points="56,72 122,28 188,50"');
  });

  it('breaks lines at gaps, draws lone points as dots, and says when there is no data', () => {
    const svg = linePlot({ title: 'g', width: 200, height: 100, series: [{ name: 'a', points: [[0, 0], [1, 1], [2, null], [3, 0.5]] }] });
    expect(svg.match(/<polyline/g)?.length).toBe(1);
    expect(svg.match(/<circle/g)?.length).toBe(1);
    expect(linePlot({ title: 'e', series: [{ name: 'a', points: [[0, null]] }] })).toContain('no data yet');
  });

  it('escapes text', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('report.html', () => {
  const rows: MetricRow[] = Array.from({ length: 12 }, (_, i) => ({
    step: i + 1,
    time: t.toISOString(),
    reward: Math.min(1, i / 8),
    success_rate: Math.min(1, i / 8),
    loss: 0.1 * Math.sin(i),
    kl: i * 1e-3,
    'timing/rollout_s': 2 + (i % 3),
    'timing/train_s': 1.5,
    'eval/click-test/success_rate': i % 4 === 0 ? i / 12 : null,
  }));

  it('is self-contained: inline SVG plots, no scripts or external resources', () => {
    const html = renderReport(rows, { title: 'run <x>', details: ['model: tiny'], configYaml: 'seed: 1\n' });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    for (const title of ['Reward', 'Success rate', 'Loss', 'KL to reference', 'Time per step (s)', 'Eval success by task']) {
      expect(html).toContain(`<title>${title}</title>`);
    }
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    // The only URL is the SVG namespace.
    expect(html.match(/https?:\/\/[^"\s]+/g)?.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
    expect(html).toContain('run &lt;x&gt;');
    expect(html).toContain('12 logged steps, last step 12');
    expect(html).not.toContain('Entropy'); // not logged → no empty plot
  });

  it('writeReport reads metrics.jsonl and writes report.html', () => {
    const run = fresh();
    const w = new MetricsWriter(run);
    for (const r of rows) {
      const { step, time: _time, ...m } = r;
      w.logStep(step, m as Record<string, number | null>, t);
    }
    const path = writeReport(run, { title: 'tiny' });
    expect(path).toBe(join(run, 'report.html'));
    const html = readFileSync(path, 'utf8');
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(5);
  });

  it('plots the SFT stage over its own steps, apart from the GRPO curves', () => {
    const sft: MetricRow[] = Array.from({ length: 6 }, (_, i) => ({ step: 0, time: t.toISOString(), 'sft/step': i + 1, 'sft/loss': 2 - i * 0.3, 'sft/token_accuracy': 0.2 + i * 0.1, 'sft/learning_rate': 1e-4, 'sft/grad_norm': 1 }));
    const evalRow: MetricRow = { step: 0, time: t.toISOString(), 'sft/step': 6, 'sft/eval/success_rate': 0.5 };
    const html = renderReport([...sft, evalRow, ...rows], { title: 'sft run' });
    for (const title of ['SFT loss (cross-entropy) by SFT step', 'SFT token accuracy by SFT step', 'SFT learning rate by SFT step', 'Reward']) expect(html).toContain(`<title>${title}</title>`);
    expect(html).toContain('12 logged steps after 6 SFT steps, last step 12');
    // The token-accuracy plot spans SFT steps 1..6 (x ticks), its values 0.2..0.7.
    const acc = html.slice(html.indexOf('<title>SFT token accuracy'), html.indexOf('</svg>', html.indexOf('<title>SFT token accuracy')));
    expect(acc).toMatch(/>1<\/text>/);
    expect(acc).toMatch(/>6<\/text>/);
    expect(acc).toContain('polyline');
    // GRPO plots ignore SFT rows: the loss plot has the 12 GRPO points only.
    const loss = html.slice(html.indexOf('<title>Loss</title>'), html.indexOf('</svg>', html.indexOf('<title>Loss</title>')));
    expect(loss.match(/points="([^"]*)"/)![1].split(' ')).toHaveLength(12);
    expect(loss).not.toContain('text-anchor="middle">0</text>'); // x axis starts at GRPO step 1, not at the SFT rows' 0
    expect(renderReport(sft, { title: 'sft only' })).toContain('0 logged steps after 6 SFT steps');
  });

  it('multi-task runs: the last evaluation per task as a table, per-task lines joined across absent steps', () => {
    // Two tasks; book-flight is not drawn at step 2, evaluations at steps 2 and 4 (with Wilson bounds and episodes).
    const multi: MetricRow[] = [1, 2, 3, 4].map((step) => ({
      step,
      time: t.toISOString(),
      success_rate: 0.5,
      'train/click-test/success_rate': step / 4,
      'train/click-test/sampling_prob': 0.5 + step / 20,
      'train/book-flight/sampling_prob': 0.5 - step / 20,
      ...(step === 2 ? {} : { 'train/book-flight/success_rate': 0 }),
      ...(step % 2 === 0
        ? {
            'eval/success_rate': step / 8,
            'eval/click-test/success_rate': step / 4,
            'eval/click-test/ci_low': 0.1 * step,
            'eval/click-test/ci_high': 0.2 * step,
            'eval/click-test/episodes': 16,
            'eval/book-flight/success_rate': 0,
            'eval/book-flight/ci_low': 0,
            'eval/book-flight/ci_high': 0.194,
            'eval/book-flight/episodes': 16,
            'eval/ci_low': 0.3,
            'eval/ci_high': 0.6,
            'eval/episodes': 32,
          }
        : {}),
    }));
    const html = renderReport(multi, { title: 'multi' });
    expect(html).toContain('<h2>Evaluation by task (step 4)</h2>');
    expect(html).toContain('<tr><td>click-test</td><td class="r">16</td><td class="r">100.0%</td><td class="r">40.0% – 80.0%</td></tr>');
    expect(html).toContain('<tr><td>book-flight</td><td class="r">16</td><td class="r">0.0%</td><td class="r">0.0% – 19.4%</td></tr>');
    expect(html).toContain('<tr><td>all</td><td class="r">32</td><td class="r">50.0%</td><td class="r">30.0% – 60.0%</td></tr>');
    const plot = (title: string) => html.match(new RegExp(`<svg[^>]*><title>${title}</title>.*?</svg>`))?.[0] ?? '';
    for (const title of ['Training success by task', 'Eval success by task', 'Task sampling probability']) {
      const svg = plot(title);
      // One line per task (sorted names in the legend), each drawn through all of its values without a break.
      expect(svg.match(/<polyline/g)?.length, title).toBe(2);
      expect(svg).not.toContain('<circle');
      expect(svg).toMatch(/>book-flight<\/text>.*>click-test<\/text>/);
    }
    // book-flight's training line has its three values (steps 1, 3, 4), click-test's four.
    const lines = plot('Training success by task').match(/points="[^"]*"/g)!;
    expect(lines.map((l) => l.split(' ').length)).toEqual([3, 4]);
    // Single-task runs keep one success plot (no per-task training or sampling plot).
    const single = renderReport(rows, { title: 'single' });
    expect(single).not.toContain('Training success by task');
    expect(single).not.toContain('Task sampling probability');
    expect(single).toContain('<h2>Evaluation by task (step 9)</h2>');
  });

  it('renders an empty run', () => {
    expect(renderReport([], { title: 'empty' })).toContain('No metrics logged yet.');
  });
});
