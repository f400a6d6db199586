// Per-task metrics rows and the per-task table shared by `lfm2-rl eval`, the end of `lfm2-rl train` and report.html.
import { describe, it, expect } from 'vitest';
import type { MetricRow } from '../lib/io/metrics.ts';
import { escapeHtml } from '../lib/io/report.ts';
import { formatTaskTable, lastEvalRows, taskTableHtml } from '../lib/io/task-table.ts';
import { formatEvalTable, wilsonInterval, type EvalResult, type TaskEval } from '../lib/rl/evaluate.ts';
import { evalTableRows, evalTaskMetrics, trainSummaryRows, trainTaskMetrics } from '../lib/rl/task-metrics.ts';

const ep = (group: number, task: string, reward: number, success: boolean) => ({ group, task, reward: { reward, success } });

function taskEval(task: string, successes: number, episodes: number, meanSteps: number): TaskEval {
  return { task, episodes, successes, successRate: successes / episodes, ci95: wilsonInterval(successes, episodes), meanSteps, meanReward: successes / episodes };
}

function evalResult(tasks: TaskEval[]): EvalResult {
  const episodes = tasks.reduce((a, t) => a + t.episodes, 0);
  const successes = tasks.reduce((a, t) => a + t.successes, 0);
  return { tasks, overall: { episodes, successes, successRate: successes / episodes, ci95: wilsonInterval(successes, episodes) }, seconds: 1, episodes: [] };
}

describe('per-task metrics', () => {
  it('training: groups and sampling probability of every task, success and reward of the tasks drawn', () => {
    const episodes = [
      ep(0, 'click-test', 1, true),
      ep(0, 'click-test', 0, false),
      ep(1, 'click-test', 0.9, true),
      ep(1, 'click-test', 1, true),
      ep(2, 'book-flight', -0.1, false),
      ep(2, 'book-flight', 0, false),
    ];
    expect(trainTaskMetrics(episodes, ['click-test', 'book-flight', 'login-user'], [0.5, 0.3, 0.2])).toEqual({
      'train/click-test/groups': 2,
      'train/click-test/sampling_prob': 0.5,
      'train/click-test/success_rate': 0.75,
      'train/click-test/reward': 0.725,
      'train/book-flight/groups': 1,
      'train/book-flight/sampling_prob': 0.3,
      'train/book-flight/success_rate': 0,
      'train/book-flight/reward': -0.05,
      'train/login-user/groups': 0,
      'train/login-user/sampling_prob': 0.2,
    });
  });

  it('evaluation: success, Wilson bounds and episodes per task and overall', () => {
    const r = evalResult([taskEval('click-test', 5, 10, 1.5), taskEval('book-flight', 0, 10, 4)]);
    const m = evalTaskMetrics(r);
    expect(m['eval/click-test/success_rate']).toBe(0.5);
    expect(m['eval/click-test/ci_low']).toBeCloseTo(0.2366, 4); // published 95% Wilson interval of 5/10
    expect(m['eval/click-test/ci_high']).toBeCloseTo(0.7634, 4);
    expect(m['eval/click-test/episodes']).toBe(10);
    expect(m['eval/book-flight/ci_low']).toBe(0);
    expect(m['eval/book-flight/ci_high']).toBeCloseTo(0.2775, 4);
    expect(m['eval/episodes']).toBe(20);
    expect(m['eval/ci_low']).toBe(wilsonInterval(5, 20).low);
    expect(m['eval/ci_high']).toBe(wilsonInterval(5, 20).high);
  });
});

describe('per-task table', () => {
  it('an evaluation: success, Wilson interval, episodes, mean steps, and an all row for several tasks', () => {
    const one = formatEvalTable(evalResult([taskEval('click-test', 5, 10, 1.5)]));
    expect(one.split('\n')[0]).toMatch(/^task\s+episodes\s+success\s+95% CI\s+mean steps$/);
    expect(one).toMatch(/click-test\s+10\s+50\.0%\s+23\.7% – 76\.3%\s+1\.50/);
    expect(one).not.toContain('all');
    const two = formatEvalTable(evalResult([taskEval('click-test', 5, 10, 1.5), taskEval('book-flight', 0, 10, 4)])).split('\n');
    expect(two).toHaveLength(4);
    expect(two[2]).toMatch(/^book-flight\s+10\s+0\.0%\s+0\.0% – 27\.8%\s+4\.00$/);
    expect(two[3]).toMatch(/^all\s+20\s+25\.0%\s+11\.2% – 46\.9%$/);
    // Columns line up: every row as long as the header (the all row has no mean steps).
    expect(two[1].length).toBe(two[0].length);
  });

  it('end of training: run totals per task beside the last evaluation; no evaluation shows only training', () => {
    const history = {
      'click-test': { groups: 6, episodes: 24, successes: 18, recent: [1] },
      'book-flight': { groups: 2, episodes: 8, successes: 0, recent: [0] },
    };
    const ev = evalResult([taskEval('click-test', 14, 16, 1.2), taskEval('book-flight', 1, 16, 9.5)]);
    const lines = formatTaskTable(trainSummaryRows(['click-test', 'book-flight', 'login-user'], history, ev)).split('\n');
    expect(lines[0]).toMatch(/^task\s+train groups\s+train success\s+eval episodes\s+eval success\s+95% CI\s+mean steps$/);
    expect(lines[1]).toMatch(/^click-test\s+6\s+75\.0% \(18\/24\)\s+16\s+87\.5%\s+64\.0% – 96\.5%\s+1\.20$/);
    expect(lines[2]).toMatch(/^book-flight\s+2\s+0\.0% \(0\/8\)\s+16\s+6\.3%/);
    expect(lines[3]).toMatch(/^login-user\s+0\s+–\s+–\s+–\s+–$/); // configured, never drawn, not evaluated
    expect(lines[4]).toMatch(/^all\s+8\s+56\.3% \(18\/32\)\s+32\s+46\.9%/);
    const noEval = formatTaskTable(trainSummaryRows(['click-test'], history, null));
    expect(noEval).toBe(['task        train groups  train success', 'click-test             6  75.0% (18/24)'].join('\n'));
  });

  it('HTML: the same cells, escaped', () => {
    const html = taskTableHtml(evalTableRows(evalResult([taskEval('a<b', 1, 2, 1)])), escapeHtml);
    expect(html).toBe(
      '<table class="tasks"><tr><th>task</th><th>episodes</th><th>success</th><th>95% CI</th><th>mean steps</th></tr>' +
        `<tr><td>a&lt;b</td><td class="r">2</td><td class="r">50.0%</td><td class="r">${(100 * wilsonInterval(1, 2).low).toFixed(1)}% – ${(100 * wilsonInterval(1, 2).high).toFixed(1)}%</td><td class="r">1.00</td></tr></table>`,
    );
  });

  it('the last evaluation of a run, read back from metrics rows', () => {
    const ev = evalResult([taskEval('click-test', 5, 10, 1.5), taskEval('book-flight', 0, 10, 4)]);
    const rows: MetricRow[] = [
      { step: 0, time: 't', 'eval/success_rate': 0, 'eval/click-test/success_rate': 0, 'eval/book-flight/success_rate': 0 },
      { step: 10, time: 't', 'eval/success_rate': 0.25, ...evalTaskMetrics(ev) },
      { step: 11, time: 't', reward: 1, 'eval/click-test/success_rate': null },
    ];
    const last = lastEvalRows(rows)!;
    expect(last.step).toBe(10);
    expect(formatTaskTable(last.rows)).toBe(formatTaskTable(evalTableRows(ev).map((r) => ({ ...r, eval: { ...r.eval!, meanSteps: null } }))));
    // Older runs logged no bounds or counts: those cells are dashes.
    expect(formatTaskTable(lastEvalRows(rows.slice(0, 1))!.rows)).toMatch(/^click-test\s+–\s+0\.0%\s+–$/m);
    expect(lastEvalRows([{ step: 1, time: 't', reward: 0 }])).toBeNull();
  });
});
