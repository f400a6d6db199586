// Task sampling of multi-task runs: weighted draws follow the weights, the curriculum moves groups towards tasks whose
// groups still have reward variance without starving any task, and the whole thing is a pure function of
// (seed, round, history) that survives a checkpoint round trip.
import { describe, it, expect } from 'vitest';
import { loadConfig } from '../lib/io/config.ts';
import { drawTrainGroups, mixSeed, weightedIndex } from '../lib/rl/seeds.ts';
import {
  curriculumScore,
  describeTasks,
  drawRoundGroups,
  groupOutcomes,
  parseTaskHistory,
  recordRound,
  taskProbabilities,
  taskSamplerSettings,
  type GroupOutcome,
  type TaskHistory,
  type TaskSamplerSettings,
} from '../lib/rl/task-sampler.ts';

const G = 4;

/** A synthetic task's group: 'solved' always succeeds, 'hard' never does, 'mixed' succeeds half the time per episode. */
function outcome(task: string, seed: number, round: number, g: number): GroupOutcome {
  const rewards = Array.from({ length: G }, (_, m) => {
    if (task === 'solved') return 1;
    if (task === 'hard') return 0;
    return mixSeed(seed, round, g, m, 99) % 2;
  });
  return { task, rewards, successes: rewards.filter((r) => r > 0).length };
}

/** Runs `rounds` rounds from `history`, returning every round's draws and the final history. */
function simulate(s: TaskSamplerSettings, seed: number, from: number, rounds: number, groups: number, history: TaskHistory) {
  const draws: string[][] = [];
  let h = history;
  for (let round = from; round < from + rounds; round++) {
    const { draws: d } = drawRoundGroups(s, seed, round, groups, h);
    draws.push(d.map((x) => `${x.task}@${x.seed}`));
    h = recordRound(h, d.map((x, g) => outcome(x.task, seed, round, g)), s.window);
  }
  return { draws, history: h };
}

const settings = (mode: TaskSamplerSettings['mode'], weights = [1, 1, 1], window = 4, floor = 0.2): TaskSamplerSettings => ({
  tasks: ['solved', 'mixed', 'hard'],
  mode,
  weights,
  window,
  floor,
});

describe('weighted draws', () => {
  it('follow the weights; a zero weight is never drawn; uniform keeps the original draw', () => {
    const counts = [0, 0];
    for (let r = 0; r < 1000; r++) for (const g of drawTrainGroups(3, r, 4, ['a', 'b'], [1, 3])) counts[g.task === 'a' ? 0 : 1]++;
    // 4000 draws with p = 0.25: the share is within 0.25 ± 0.03 (more than 4 standard deviations).
    expect(counts[0] / 4000).toBeGreaterThan(0.22);
    expect(counts[0] / 4000).toBeLessThan(0.28);
    for (let r = 0; r < 200; r++) expect(drawTrainGroups(3, r, 4, ['a', 'b', 'c'], [1, 0, 2]).some((g) => g.task === 'b')).toBe(false);
    // Env seeds do not depend on the weights (only the task choice does).
    expect(drawTrainGroups(3, 5, 4, ['a', 'b'], [1, 3]).map((g) => g.seed)).toEqual(drawTrainGroups(3, 5, 4, ['a', 'b']).map((g) => g.seed));
    // Uniform sampling is the draw single-list runs always had.
    const u = taskSamplerSettings(loadConfig(null, ['--tasks', 'click-test,click-button']));
    expect(u.mode).toBe('uniform');
    for (let r = 0; r < 20; r++) expect(drawRoundGroups(u, 9, r, 3, {}).draws).toEqual(drawTrainGroups(9, r, 3, ['click-test', 'click-button']));
    expect(weightedIndex([1, 0, 1], 0.5)).toBe(2);
    expect(weightedIndex([1, 1], 1 - 2 ** -53)).toBe(1);
  });

  it('rejects weights that cannot be drawn from', () => {
    expect(() => drawTrainGroups(1, 0, 1, ['a', 'b'], [1])).toThrow(/1 weights for 2 tasks/);
    expect(() => drawTrainGroups(1, 0, 1, ['a', 'b'], [0, 0])).toThrow(/not all 0/);
    expect(() => drawTrainGroups(1, 0, 1, ['a', 'b'], [1, NaN])).toThrow(/must be finite/);
  });

  it('takes its mode and weights from the config', () => {
    const w = taskSamplerSettings(loadConfig(null, ['--tasks', 'click-test:1,click-button:3']));
    expect([w.mode, w.weights]).toEqual(['weighted', [1, 3]]);
    expect(taskProbabilities(w, {})).toEqual([0.25, 0.75]);
    const c = loadConfig(null, ['--tasks', 'click-test:1,click-button:3', '--task_sampling', 'curriculum', '--curriculum_window', '5']);
    expect(taskSamplerSettings(c)).toMatchObject({ mode: 'curriculum', weights: [1, 3], window: 5, floor: 0.2 });
    expect(describeTasks(c)).toBe('click-test ×1, click-button ×3 (curriculum, window 5, floor 0.2)');
    expect(describeTasks(loadConfig(null))).toBe('click-test');
  });
});

describe('curriculum', () => {
  it('scores a task by the share of its recent groups with reward variance, unseen groups counted as varied', () => {
    const rec = (recent: number[]) => ({ groups: recent.length, episodes: G * recent.length, successes: 0, recent });
    expect(curriculumScore(undefined, 4)).toBe(1);
    expect(curriculumScore(rec([0]), 4)).toBe(0.75); // one flat group does not bury a task
    expect(curriculumScore(rec([0, 1, 0, 0]), 4)).toBe(0.25);
    expect(curriculumScore(rec([1, 1, 0, 0, 0, 0]), 4)).toBe(0); // only the last `window` groups count
    // Hand-computed: scores 0, 0.5 and 1 (unseen) plus floor 0.2 → 0.2 : 0.7 : 1.2; weights multiply.
    const h: TaskHistory = { solved: rec([0, 0, 0, 0]), mixed: rec([1, 1, 0, 0]) };
    const p = taskProbabilities(settings('curriculum'), h);
    [0.2 / 2.1, 0.7 / 2.1, 1.2 / 2.1].forEach((x, i) => expect(p[i]).toBeCloseTo(x, 12));
    const pw = taskProbabilities(settings('curriculum', [1, 1, 2]), h);
    [0.2 / 3.3, 0.7 / 3.3, 2.4 / 3.3].forEach((x, i) => expect(pw[i]).toBeCloseTo(x, 12));
    // An unseen task has the highest probability: it is explored first.
    expect(p.indexOf(Math.max(...p))).toBe(2);
  });

  it('samples a solved task less and a mixed one more than uniform, and starves none', () => {
    const s = settings('curriculum');
    const { draws, history } = simulate(s, 7, 0, 300, 2, {});
    const share = (t: string) => draws.flat().filter((d) => d.startsWith(`${t}@`)).length / (300 * 2);
    // Stationary shares: 'mixed' has a varied group with p = 1 − 2/16 → score ≈ 0.875, the others 0.
    // Weights 0.2 : 1.075 : 0.2 → 0.136 : 0.729 : 0.136.
    expect(share('mixed')).toBeGreaterThan(0.6);
    expect(share('solved')).toBeLessThan(0.25);
    expect(share('hard')).toBeLessThan(0.25);
    expect(share('solved')).toBeGreaterThan(0.05);
    expect(share('hard')).toBeGreaterThan(0.05);
    // Every task was drawn within every window of 40 rounds (80 groups).
    for (let start = 0; start + 40 <= 300; start += 40) {
      for (const t of s.tasks) expect(draws.slice(start, start + 40).flat().some((d) => d.startsWith(`${t}@`)), `${t} in rounds ${start}…`).toBe(true);
    }
    expect(history.solved.successes).toBe(history.solved.episodes);
    expect(history.hard.successes).toBe(0);
    expect(history.solved.groups + history.mixed.groups + history.hard.groups).toBe(600);
    // Weighted and uniform sampling ignore the outcomes.
    expect(simulate(settings('uniform'), 7, 0, 300, 2, {}).draws.flat().filter((d) => d.startsWith('mixed@')).length / 600).toBeLessThan(0.4);
  });

  it('is a pure function of (seed, round, history): a history saved as JSON and read back continues the same run', () => {
    const s = settings('curriculum', [1, 2, 1], 3, 0.1);
    const full = simulate(s, 11, 0, 30, 3, {});
    const first = simulate(s, 11, 0, 12, 3, {});
    const restored = parseTaskHistory(JSON.parse(JSON.stringify(first.history)), 'checkpoint-12');
    expect(restored).toEqual(first.history);
    const rest = simulate(s, 11, 12, 18, 3, restored);
    expect([...first.draws, ...rest.draws]).toEqual(full.draws);
    expect(rest.history).toEqual(full.history);
    // The state matters: without it the next round's probabilities are those of a fresh run.
    expect(taskProbabilities(s, restored)).not.toEqual(taskProbabilities(s, {}));
  });

  it('records groups: totals, a varied flag from the reward std, the window, input left as it was', () => {
    const before: TaskHistory = { a: { groups: 1, episodes: 4, successes: 2, recent: [1] } };
    const after = recordRound(
      before,
      [
        { task: 'a', rewards: [1, 1, 1, 1], successes: 4 },
        { task: 'b', rewards: [0.95, 1, 1, 1], successes: 4 }, // a step penalty makes rewards differ: a signal
        { task: 'a', rewards: [0, 0, 0, 0], successes: 0 },
      ],
      2,
    );
    expect(after).toEqual({
      a: { groups: 3, episodes: 12, successes: 6, recent: [0, 0] },
      b: { groups: 1, episodes: 4, successes: 4, recent: [1] },
    });
    expect(before).toEqual({ a: { groups: 1, episodes: 4, successes: 2, recent: [1] } });
    const eps = [
      { group: 1, task: 'b', reward: { reward: 1, success: true } },
      { group: 0, task: 'a', reward: { reward: 0, success: false } },
      { group: 1, task: 'b', reward: { reward: 0, success: false } },
      { group: 0, task: 'a', reward: { reward: 1, success: true } },
    ];
    expect(groupOutcomes(eps)).toEqual([
      { task: 'a', rewards: [0, 1], successes: 1 },
      { task: 'b', rewards: [1, 0], successes: 1 },
    ]);
  });

  it('a bad history in a checkpoint is named', () => {
    expect(() => parseTaskHistory([], 'ck')).toThrow(/ck: task history must be an object/);
    expect(() => parseTaskHistory({ a: { groups: 1, episodes: 4, successes: 1, recent: [2] } }, 'ck')).toThrow(/'a.recent' must be a list of 0\/1 flags/);
    expect(() => parseTaskHistory({ a: { groups: -1, episodes: 4, successes: 1, recent: [] } }, 'ck')).toThrow(/'a.groups' must be a whole number >= 0/);
  });
});
