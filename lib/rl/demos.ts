// Demonstrations for supervised fine-tuning: successful episodes turned into per-step (prompt, action) records in
// exactly the form training sees. From the task oracles (lib/env/tasks/oracles.ts) run in the real browser
// environment, several episodes in parallel, on env seeds of the training range; or from the successful episodes a
// training run logged (episodes.jsonl). Prompts come from the rollout's own builder (stepPrompt, historyEntry), so a
// record's messages are the ones a rollout step on the same page would build, and completions are canonical action
// strings: the form the constrained-action trie emits and the sampler produces.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ActionParseError, formatAction, parseAction } from '../env/actions/parser.ts';
import { OracleError, oracleActions } from '../env/tasks/oracles.ts';
import type { Episode, Observation } from '../env/types.ts';
import type { TrainConfig } from '../io/config.ts';
import type { EpisodeStepRow } from '../io/metrics.ts';
import { allowedActions } from './action-trie.ts';
import { demoHeader, promptSettings, tokenizerFingerprint, writeDemoFile, type DemoRecord } from './demo-file.ts';
import { promptBuilderFor, type HistoryEntry, type PromptBuilder } from './prompt.ts';
import { historyEntry, promptText, stepPrompt, type EpisodeFactory, type RolloutTokenizer } from './rollout.ts';
import { mixSeed, TRAIN_SEED_RANGE } from './seeds.ts';

/** Env seed of demonstration episode `i` of a task: in the training range, never an evaluation page. */
export function demoSeed(baseSeed: number, task: string, i: number): number {
  let t = 0;
  for (const ch of task) t = mixSeed(t, ch.codePointAt(0)!);
  const span = TRAIN_SEED_RANGE[1] - TRAIN_SEED_RANGE[0];
  return TRAIN_SEED_RANGE[0] + (mixSeed(baseSeed, t, i, 4) % span);
}

/** Per task: what was tried and kept, and why the rest was dropped (reason → episodes). */
export interface DemoTaskStats {
  task: string;
  episodes: number;
  succeeded: number;
  steps: number;
  dropped: Record<string, number>;
  /** One example per drop reason, for the report. */
  examples: Record<string, string>;
}

export interface OracleDemoOptions {
  tasks: readonly string[];
  episodesPerTask: number;
  /** Episodes of some tasks instead of episodesPerTask (sft.demo_episodes_per_task). */
  episodesOf?: Readonly<Record<string, number>> | null;
  /** Picks the env seeds (demoSeed). */
  seed: number;
  maxEnvSteps: number;
  prompts: PromptBuilder;
  tokenizer: Pick<RolloutTokenizer, 'applyChatTemplate'>;
  actionSet: readonly string[];
  /** Check every action against allowedActions() of its page; episodes needing another action are dropped. */
  constrained: boolean;
  /** Pages open at once (default 8). */
  concurrency?: number;
  /** The scripted solver (default oracleActions). */
  policy?: (task: string, obs: Observation) => string;
  /** Fresh tries of an episode whose env call failed (browser lost, page load timeout) before giving up (default 2). */
  envRetries?: number;
  warn?: (msg: string) => void;
}

type EpisodeOutcome = { ok: true; steps: Omit<DemoRecord, 'episode'>[] } | { ok: false; reason: string; example: string };

/** Raised for an env call that threw (not for an env step that merely failed the task): the episode is retried. */
class EnvCallFailure extends Error {}

async function env<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new EnvCallFailure((e as Error)?.message ?? String(e));
  }
}

/** One oracle episode, prompts built as a rollout builds them. */
async function oracleEpisode(ep: Episode, task: string, seed: number, o: OracleDemoOptions): Promise<EpisodeOutcome> {
  const policy = o.policy ?? oracleActions;
  let obs = await env(ep.reset({ task, seed }));
  const history: HistoryEntry[] = [];
  const steps: Omit<DemoRecord, 'episode'>[] = [];
  for (let t = 0; t < o.maxEnvSteps; t++) {
    let raw: string;
    try {
      raw = policy(task, obs);
    } catch (e) {
      if (e instanceof OracleError) return { ok: false, reason: 'oracle failed', example: e.message };
      throw e;
    }
    let completion: string;
    let name: string;
    try {
      const a = parseAction(raw);
      completion = formatAction(a);
      name = a.name;
    } catch (e) {
      return { ok: false, reason: 'oracle action does not parse', example: `${raw}: ${e instanceof ActionParseError ? e.errorText : (e as Error).message}` };
    }
    if (!o.actionSet.includes(name)) return { ok: false, reason: 'action not in action_set', example: completion };
    if (o.constrained && !allowedActions(obs, o.actionSet).includes(completion)) {
      return { ok: false, reason: 'action not allowed under constrained_actions', example: completion };
    }
    const prompt = stepPrompt({ prompts: o.prompts, tokenizer: o.tokenizer as RolloutTokenizer }, obs, t, history);
    const res = await env(ep.step(completion));
    const error = res.observation.last_action_error ?? '';
    if (error !== '') return { ok: false, reason: 'action failed in the page', example: `${completion}: ${error.split('\n')[0]}` };
    steps.push({
      task,
      seed,
      step: t,
      messages: [
        { role: 'system', content: String(prompt.messages[0].content) },
        { role: 'user', content: String(prompt.messages[1].content) },
      ],
      completion,
      reward: res.reward,
      done: res.done,
    });
    history.push(historyEntry(completion, error));
    obs = res.observation;
    if (res.done || res.truncated) break;
  }
  if (!steps.some((s) => s.done && s.reward > 0)) {
    const last = steps.at(-1);
    return { ok: false, reason: last?.done ? 'episode ended unsolved' : `not solved within max_env_steps (${o.maxEnvSteps})`, example: `${task} seed ${seed}` };
  }
  return { ok: true, steps };
}

/**
 * Runs `episodesPerTask` oracle episodes per task (`concurrency` pages at once) and returns the steps of the
 * successful ones, task by task in episode order (the same for any concurrency), with per-task statistics.
 */
export async function generateOracleDemos(factory: EpisodeFactory, o: OracleDemoOptions): Promise<{ records: DemoRecord[]; stats: DemoTaskStats[] }> {
  if (o.tasks.length === 0) throw new Error('generateOracleDemos: no tasks');
  const count = (task: string) => o.episodesOf?.[task] ?? o.episodesPerTask;
  for (const task of o.tasks) {
    const n = count(task);
    if (!Number.isInteger(n) || n < 1) throw new Error(`generateOracleDemos: episodes of ${task} must be a positive integer, got ${n}`);
  }
  const jobs = o.tasks.flatMap((task) => Array.from({ length: count(task) }, (_, i) => ({ task, seed: demoSeed(o.seed, task, i) })));
  const outcomes: EpisodeOutcome[] = new Array(jobs.length);
  const retries = o.envRetries ?? 2;
  let next = 0;
  const worker = async () => {
    let ep: Episode | null = null;
    try {
      for (let j = next++; j < jobs.length; j = next++) {
        for (let attempt = 0; ; attempt++) {
          try {
            ep ??= await env(factory.newEpisode());
            outcomes[j] = await oracleEpisode(ep, jobs[j].task, jobs[j].seed, o);
            break;
          } catch (e) {
            if (!(e instanceof EnvCallFailure)) throw e;
            if (attempt >= retries) throw new Error(`environment failed ${attempt + 1} times on ${jobs[j].task} seed ${jobs[j].seed}: ${e.message.split('\n')[0]}`);
            o.warn?.(`environment error on ${jobs[j].task} seed ${jobs[j].seed} (${e.message.split('\n')[0]}); retrying on a fresh page`);
            await ep?.close().catch(() => undefined);
            ep = null;
          }
        }
      }
    } finally {
      await ep?.close().catch(() => undefined);
    }
  };
  const workers = Math.max(1, Math.min(o.concurrency ?? 8, jobs.length));
  await Promise.all(Array.from({ length: workers }, worker));

  const records: DemoRecord[] = [];
  const stats = new Map(o.tasks.map((task): [string, DemoTaskStats] => [task, { task, episodes: 0, succeeded: 0, steps: 0, dropped: {}, examples: {} }]));
  let episode = 0;
  jobs.forEach((job, j) => {
    const s = stats.get(job.task)!;
    s.episodes++;
    const out = outcomes[j];
    if (!out.ok) {
      s.dropped[out.reason] = (s.dropped[out.reason] ?? 0) + 1;
      s.examples[out.reason] ??= out.example;
      return;
    }
    s.succeeded++;
    s.steps += out.steps.length;
    for (const st of out.steps) records.push({ ...st, episode });
    episode++;
  });
  return { records, stats: [...stats.values()] };
}

/** Splits a logged prompt (promptText of [system, user]) back into its messages; null when it is not that shape. */
export function messagesFromPromptText(text: string, system: string): [string, string] | null {
  const head = promptText([{ role: 'system', content: system }, { role: 'user', content: '' }]);
  return text.startsWith(head) ? [system, text.slice(head.length)] : null;
}

/**
 * Reads episodes.jsonl rows with their line numbers. A malformed last line without a final newline is what a crash
 * leaves behind and is skipped with a warning; any other malformed line is an error naming it.
 */
export function readEpisodeRows(path: string, warn: (msg: string) => void): Array<{ row: EpisodeStepRow; line: number }> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read episodes ${path}: ${(e as Error).message}`);
  }
  const lines = text.split('\n');
  const out: Array<{ row: EpisodeStepRow; line: number }> = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      if (i === lines.length - 1) {
        warn(`${path}:${i + 1}: skipping the cut-off last line`);
        return;
      }
      throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const r = v as Record<string, unknown>;
    const bad = (['step', 'group', 'member', 'seed', 'envStep', 'reward'] as const).find((k) => typeof r[k] !== 'number')
      ?? (['task', 'prompt', 'completion', 'action', 'error'] as const).find((k) => typeof r[k] !== 'string')
      ?? (typeof r.done !== 'boolean' ? 'done' : undefined);
    if (bad) throw new Error(`${path}:${i + 1}: not an episodes.jsonl row ('${bad}' is missing or has the wrong type)`);
    out.push({ row: v as EpisodeStepRow, line: i + 1 });
  });
  return out;
}

export interface EpisodeDemoOptions {
  /** The run's system message (its prompts start with it). */
  system: string;
  actionSet: readonly string[];
  /** For error messages. */
  path: string;
}

/**
 * Demonstrations from a run's logged episodes: every solved episode (an env step done with reward > 0) becomes
 * records of its steps with their logged prompts and canonical actions. Steps whose action failed or was not a valid
 * action (or not in action_set) are left out, and an episode identical to an earlier one (same task, seed and
 * actions: group members often agree) is kept once.
 */
export function demosFromEpisodes(rows: ReadonlyArray<{ row: EpisodeStepRow; line: number }>, o: EpisodeDemoOptions): { records: DemoRecord[]; stats: DemoTaskStats[] } {
  // An episode is (optimizer step of its round, group, member); its rows are consecutive and in env-step order.
  const episodes = new Map<string, Array<{ row: EpisodeStepRow; line: number }>>();
  for (const r of rows) {
    const key = `${r.row.step}/${r.row.group}/${r.row.member}`;
    let list = episodes.get(key);
    if (!list) episodes.set(key, (list = []));
    list.push(r);
  }
  const stats = new Map<string, DemoTaskStats>();
  const seen = new Set<string>();
  const records: DemoRecord[] = [];
  let episode = 0;
  for (const list of episodes.values()) {
    list.sort((a, b) => a.row.envStep - b.row.envStep);
    const task = list[0].row.task;
    let s = stats.get(task);
    if (!s) stats.set(task, (s = { task, episodes: 0, succeeded: 0, steps: 0, dropped: {}, examples: {} }));
    s.episodes++;
    const drop = (reason: string, example: string) => {
      s.dropped[reason] = (s.dropped[reason] ?? 0) + 1;
      s.examples[reason] ??= example;
    };
    if (!list.some((r) => r.row.done && r.row.reward > 0)) continue;
    s.succeeded++;
    const key = `${task}|${list[0].row.seed}|${list.map((r) => r.row.action).join('|')}`;
    if (seen.has(key)) {
      drop('duplicate of an earlier episode', `${task} seed ${list[0].row.seed}`);
      continue;
    }
    seen.add(key);
    const kept: DemoRecord[] = [];
    for (const { row, line } of list) {
      const where = `${o.path}:${line}`;
      if (row.action === '' || row.error !== '') {
        // Steps with a failed action teach nothing to imitate (later prompts still show them in the history).
        drop(row.action === '' ? 'step without a valid action' : 'step whose action failed', `${where}: ${JSON.stringify(row.completion.slice(0, 60))}`);
        continue;
      }
      let completion: string;
      try {
        completion = formatAction(parseAction(row.action));
      } catch (e) {
        throw new Error(`${where}: logged action ${JSON.stringify(row.action)} is not an action (${(e as Error).message})`);
      }
      if (!o.actionSet.includes(parseAction(completion).name)) {
        drop('action not in action_set', `${where}: ${completion}`);
        continue;
      }
      const msgs = messagesFromPromptText(row.prompt, o.system);
      if (!msgs) throw new Error(`${where}: the prompt does not start with this run's system prompt (episodes from another config?)`);
      kept.push({
        task,
        seed: row.seed,
        episode,
        step: row.envStep,
        messages: [{ role: 'system', content: msgs[0] }, { role: 'user', content: msgs[1] }],
        completion,
        reward: row.reward,
        done: row.done,
      });
    }
    if (kept.length === 0) continue;
    records.push(...kept);
    s.steps += kept.length;
    episode++;
  }
  return { records, stats: [...stats.values()] };
}

/** Plain-text table of per-task counts, with the drop reasons and one example each. */
export function formatDemoStats(stats: readonly DemoTaskStats[]): string {
  const rows = [['task', 'episodes', 'succeeded', 'steps'], ...stats.map((s) => [s.task, String(s.episodes), String(s.succeeded), String(s.steps)])];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  for (const s of stats) {
    for (const [reason, n] of Object.entries(s.dropped)) lines.push(`  ${s.task}: ${n} dropped, ${reason} (e.g. ${s.examples[reason]})`);
  }
  return lines.join('\n');
}

export interface OracleDemoRequest {
  path: string;
  tasks: readonly string[];
  episodesPerTask: number;
  /** Per-task overrides of episodesPerTask. */
  episodesOf?: Readonly<Record<string, number>> | null;
  seed: number;
  modelDir: string;
  tokenizer: Pick<RolloutTokenizer, 'applyChatTemplate' | 'encode'>;
  factory: EpisodeFactory;
  log(message: string): void;
}

/** Runs the oracles under config `c`'s prompt settings and writes the successful episodes to `path`. */
export async function writeOracleDemos(c: TrainConfig, r: OracleDemoRequest): Promise<{ stats: DemoTaskStats[]; records: number }> {
  const t0 = performance.now();
  const { records, stats } = await generateOracleDemos(r.factory, {
    tasks: r.tasks,
    episodesPerTask: r.episodesPerTask,
    episodesOf: r.episodesOf,
    seed: r.seed,
    maxEnvSteps: c.max_env_steps,
    prompts: promptBuilderFor(c, (s) => r.tokenizer.encode(s).length),
    tokenizer: r.tokenizer,
    actionSet: c.action_set,
    constrained: c.constrained_actions,
    warn: (m) => r.log(`warning: ${m}`),
  });
  const solved = stats.reduce((a, s) => a + s.succeeded, 0);
  if (records.length === 0) throw new Error(`no oracle episode was solved, nothing written to ${r.path}:\n${formatDemoStats(stats)}`);
  mkdirSync(dirname(r.path), { recursive: true });
  writeDemoFile(r.path, demoHeader(promptSettings(c, tokenizerFingerprint(r.modelDir)), c.constrained_actions, 'oracle'), records);
  r.log(`demonstrations: ${records.length} steps of ${solved} solved episodes → ${r.path} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n${formatDemoStats(stats)}`);
  return { stats, records: records.length };
}
