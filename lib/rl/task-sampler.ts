// Which task each training group gets (task_sampling):
//   uniform     every task equally likely (the draw of single-list configs, unchanged);
//   weighted    P(task) ∝ its weight in `tasks`;
//   curriculum  P(task) ∝ weight × (floor + score), score = share of the task's last `window` groups whose rewards
//               varied, groups not seen yet counting as varied.
// Why this score: GRPO learns only from groups whose rewards differ (the advantage is reward minus the group mean), so a
// task whose recent groups were all solved, or all failed, adds episodes but no gradient. The share of varied groups
// measures exactly that signal, whatever the reward shaping (a step penalty that separates fast from slow solutions
// counts as signal, as it does in the loss), and needs no success model. Counting unseen groups as varied (an
// optimistic start) gives a new or rarely drawn task the top score, so it is tried first and one unlucky group does
// not bury it; the floor keeps every task drawn (at least floor / (1 + floor) of a fully varied task's rate), so a
// solved task is still checked for forgetting and a too-hard one is retried as the policy improves.
// The state is a per-task record of recent groups (TaskHistory), updated after each round and saved in checkpoints:
// a round's draw is a pure function of (run seed, round, history), so a resumed run draws what the uninterrupted one
// drew.
import type { TaskSampling, TrainConfig } from '../io/config.ts';
import { describeTaskList } from '../io/task-list.ts';
import { besselStd, isZeroStd } from './advantages.ts';
import { drawTrainGroups, type GroupDraw } from './seeds.ts';

export interface TaskRecord {
  /** Whole-run totals (the end-of-run table). */
  groups: number;
  episodes: number;
  successes: number;
  /** One flag per recent group of the task, oldest first, at most `window`: 1 = its rewards varied. */
  recent: number[];
}

/** task → record; tasks never drawn have none. */
export type TaskHistory = Record<string, TaskRecord>;

export interface TaskSamplerSettings {
  tasks: readonly string[];
  mode: TaskSampling;
  /** One per task (1 when the config gives none). */
  weights: readonly number[];
  window: number;
  floor: number;
}

export function taskSamplerSettings(c: Pick<TrainConfig, 'tasks' | 'task_weights' | 'task_sampling' | 'curriculum_window' | 'curriculum_floor'>): TaskSamplerSettings {
  const w = c.task_weights;
  return {
    tasks: c.tasks,
    mode: c.task_sampling ?? (w ? 'weighted' : 'uniform'),
    weights: c.tasks.map((t) => w?.[t] ?? 1),
    window: c.curriculum_window,
    floor: c.curriculum_floor,
  };
}

/** Tasks and how they are drawn, for the banner and the report: `a ×1, b ×3 (curriculum, window 8, floor 0.2)`. */
export function describeTasks(c: Parameters<typeof taskSamplerSettings>[0]): string {
  const s = taskSamplerSettings(c);
  const list = describeTaskList(c.tasks, c.task_weights);
  if (c.tasks.length === 1) return list;
  return `${list} (${s.mode}${s.mode === 'curriculum' ? `, window ${s.window}, floor ${s.floor}` : ''})`;
}

/** Curriculum score in [0, 1]: share of the last `window` groups with varied rewards, unseen ones counted as varied. */
export function curriculumScore(record: TaskRecord | undefined, window: number): number {
  const recent = (record?.recent ?? []).slice(-window);
  const varied = recent.reduce((a, b) => a + b, 0);
  return (varied + (window - recent.length)) / window;
}

/** Probability of each task (same order as s.tasks) for the next round. */
export function taskProbabilities(s: TaskSamplerSettings, history: TaskHistory): number[] {
  const raw =
    s.mode === 'uniform' ? s.tasks.map(() => 1)
    : s.mode === 'weighted' ? [...s.weights]
    : s.tasks.map((t, i) => s.weights[i] * (s.floor + curriculumScore(history[t], s.window)));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((x) => x / total);
}

/** The groups of one round and the probabilities they were drawn with. */
export function drawRoundGroups(s: TaskSamplerSettings, runSeed: number, round: number, groups: number, history: TaskHistory): { draws: GroupDraw[]; probabilities: number[] } {
  const probabilities = taskProbabilities(s, history);
  // Uniform keeps the original modulo draw, so single-list runs draw what they always drew.
  const draws = s.mode === 'uniform' ? drawTrainGroups(runSeed, round, groups, s.tasks) : drawTrainGroups(runSeed, round, groups, s.tasks, probabilities);
  return { draws, probabilities };
}

/** What one group of a round did. */
export interface GroupOutcome {
  task: string;
  /** Episode rewards (the shaped rewards the advantages use). */
  rewards: number[];
  successes: number;
}

/** Groups of a round from its episodes (grouped by `group` index, in index order). */
export function groupOutcomes(episodes: ReadonlyArray<{ group: number; task: string; reward: { reward: number; success: boolean } }>): GroupOutcome[] {
  const byGroup = new Map<number, GroupOutcome>();
  for (const e of episodes) {
    let g = byGroup.get(e.group);
    if (!g) byGroup.set(e.group, (g = { task: e.task, rewards: [], successes: 0 }));
    g.rewards.push(e.reward.reward);
    if (e.reward.success) g.successes++;
  }
  return [...byGroup.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}

/** The history after a round (a new object; the input is left as it was). */
export function recordRound(history: TaskHistory, outcomes: readonly GroupOutcome[], window: number): TaskHistory {
  const out: TaskHistory = {};
  for (const [t, r] of Object.entries(history)) out[t] = { ...r, recent: [...r.recent] };
  for (const o of outcomes) {
    const r = (out[o.task] ??= { groups: 0, episodes: 0, successes: 0, recent: [] });
    r.groups++;
    r.episodes += o.rewards.length;
    r.successes += o.successes;
    r.recent.push(isZeroStd(besselStd(o.rewards)) ? 0 : 1);
    if (r.recent.length > window) r.recent.splice(0, r.recent.length - window);
  }
  return out;
}

/** Checks a history read from a checkpoint; errors name the file and the field. */
export function parseTaskHistory(x: unknown, where: string): TaskHistory {
  const fail = (why: string): never => {
    throw new Error(`${where}: task history ${why}`);
  };
  if (x === null || typeof x !== 'object' || Array.isArray(x)) fail(`must be an object of task → record (got ${JSON.stringify(x)})`);
  const out: TaskHistory = {};
  for (const [task, r] of Object.entries(x as Record<string, unknown>)) {
    if (r === null || typeof r !== 'object') fail(`entry '${task}' must be an object`);
    const rec = r as Record<string, unknown>;
    const count = (k: string): number => {
      const v = rec[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`'${task}.${k}' must be a whole number >= 0 (got ${JSON.stringify(v)})`);
      return v as number;
    };
    const recent = rec.recent;
    if (!Array.isArray(recent) || !recent.every((f) => f === 0 || f === 1)) fail(`'${task}.recent' must be a list of 0/1 flags (got ${JSON.stringify(recent)})`);
    out[task] = { groups: count('groups'), episodes: count('episodes'), successes: count('successes'), recent: [...(recent as number[])] };
  }
  return out;
}
