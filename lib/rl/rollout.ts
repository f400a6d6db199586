// Rollouts: runs groups of episodes against the browser environment. Every group of G episodes shares one task and
// env seed (one start page). At each env step, all live episodes of the round generate together in ONE batched
// generator call (members that see the same prompt share one request with n > 1, so the prompt is prefilled once);
// then their actions run on their pages in parallel. Each env step becomes its own (prompt, completion) record; the
// episode's reward is computed at the end (lib/rl/rewards.ts). A browser that dies mid-round is relaunched by the env (and an env call that fails, e.g. a page load timing out on a busy machine, is treated alike);
// the round is then replayed from the start (same seeds → same draws), so a crash costs time, not data.
// Episodes chosen by `record` also get replay screenshots (lib/rl/replay-capture.ts), which only read their pages.
import { allowedActions, buildActionTrie, type ActionTrie } from './action-trie.ts';
import { parseAction, formatAction } from '../env/actions/parser.ts';
import type { Episode, EpisodeCapture, Observation } from '../env/types.ts';
import type { ChatMessage } from '../engine/tokenizer.ts';
import type { Generator, GenerationRequest, GenerationSettings } from './generator.ts';
import type { HistoryEntry, PromptBuilder } from './prompt.ts';
import { episodeReward, type EpisodeReward, type ShapingOptions } from './rewards.ts';
import type { StepRecord } from './samples.ts';
import { actionTarget, ReplayCamera } from './replay-capture.ts';
import type { GroupDraw } from './seeds.ts';

/** The tokenizer calls a rollout makes. */
export interface RolloutTokenizer {
  applyChatTemplate(messages: readonly ChatMessage[]): number[];
  decode(ids: readonly number[], opts?: { skipSpecial?: boolean }): string;
  encode(text: string): number[];
  readonly vocabSize: number;
  /** End-of-turn token: constrained completions end with it. */
  readonly imEndId: number;
}

/** Where episodes come from: EnvPool (local browser), OpenEnvPool or OpenEnvServerPool (remote servers). */
export interface EpisodeFactory {
  newEpisode(): Promise<Episode>;
  /** Metrics of the environment since the last call (remote servers: per-server latency and failures), if any. */
  envMetrics?(): Record<string, number | null>;
}

export interface RolloutOptions {
  tokenizer: RolloutTokenizer;
  prompts: PromptBuilder;
  generator: Generator;
  /** Sampling settings except the seed (set per env step from `seedFor`). */
  sampling: Omit<GenerationSettings, 'seed'>;
  /** Restrict completions to the allowed actions of the page (action-trie.ts). */
  constrained: boolean;
  actionSet: readonly string[];
  maxEnvSteps: number;
  shaping: ShapingOptions;
  /** Replays of a round after a lost browser or a failed env call before giving up (default 3). */
  maxCrashRetries?: number;
  /** Called when a round is replayed (and when a replay screenshot fails). */
  warn?: (msg: string) => void;
  /**
   * Episodes to record for replays (lib/io/replay-files.ts): true for a (group, member) gives its steps a screenshot
   * of the page before the action, the target outlined, and the episode one after its last step. Unset = none.
   */
  record?: (group: number, member: number) => boolean;
}

export interface RolloutStep extends StepRecord {
  promptText: string;
  completionText: string;
  /** Canonical text of the parsed action, '' when the completion held no valid action. */
  action: string;
  /** The env's error for this action ('' = ran fine). */
  error: string;
  reward: number;
  done: boolean;
  /** Recorded episodes only: the page before this action (null when no image could be taken). */
  screenshot?: EpisodeCapture | null;
}

export interface RolloutEpisode {
  group: number;
  member: number;
  task: string;
  seed: number;
  steps: RolloutStep[];
  reward: EpisodeReward;
  /** Recorded episodes only: the page after the last step (null when no image could be taken). */
  finalScreenshot?: EpisodeCapture | null;
}

export interface RolloutTimings {
  /** Whole round, seconds. */
  total: number;
  /** Env resets and steps (wall time of the parallel calls). */
  env: number;
  /** Generator calls. */
  generate: number;
  generatedTokens: number;
  crashRetries: number;
}

export interface RolloutResult {
  /** Group-major: episodes of group g are [g·G, (g+1)·G). */
  episodes: RolloutEpisode[];
  timings: RolloutTimings;
}

/** Raised inside a round when the browser was lost or an env call failed (e.g. a page load timed out on a busy
 * machine); the round is replayed on fresh pages. */
class EnvFailure extends Error {}

async function envCall<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new EnvFailure((e as Error)?.message ?? String(e));
  }
}

const BROWSER_LOST_RE = /browser page was lost|Target (page, context or browser )?(has been )?closed|Browser has been closed|browser has disconnected/i;

/**
 * Keeps Episode objects (pages) across rounds, so pages are reused rather than reopened. Each page remembers the task
 * it last showed: a page reset to that task again resets in place (~0.1 s for 16 pages at once), while another task
 * loads its page (~1 s), so take() gives every episode a page that last showed its task where one is free. Which page
 * runs an episode never changes the episode: a reset gives the same page state either way.
 */
export class EpisodeSlots {
  private readonly slots: Array<{ episode: Episode; task: string | null }> = [];

  constructor(private readonly factory: EpisodeFactory) {}

  /** One page per entry of `tasks` (the task each episode will be reset to), distinct, in that order. */
  async take(tasks: readonly string[]): Promise<Episode[]> {
    while (this.slots.length < tasks.length) this.slots.push({ episode: await this.factory.newEpisode(), task: null });
    const free = new Set(this.slots.keys());
    const chosen: number[] = tasks.map((task) => {
      for (const k of free) {
        if (this.slots[k]!.task === task) {
          free.delete(k);
          return k;
        }
      }
      return -1;
    });
    // Episodes with no page of their task take the pages whose task no episode of this call wants, first.
    const wanted = new Set(tasks);
    const rest = [...free].sort((a, b) => Number(wanted.has(this.slots[a]!.task ?? '')) - Number(wanted.has(this.slots[b]!.task ?? '')));
    let next = 0;
    return chosen.map((k, i) => {
      const slot = this.slots[k >= 0 ? k : rest[next++]!]!;
      slot.task = tasks[i]!;
      return slot.episode;
    });
  }

  /** Drops every page (after a browser loss the next take() opens fresh ones). */
  async reset(): Promise<void> {
    const old = this.slots.splice(0);
    await Promise.all(old.map((s) => s.episode.close().catch(() => undefined)));
  }

  async close(): Promise<void> {
    await this.reset();
  }
}

/** Canonical action text of a completion, or '' when it holds no single valid action. */
export function actionOfCompletion(text: string): string {
  try {
    return formatAction(parseAction(text));
  } catch {
    return '';
  }
}

/** The logged form of a prompt (episodes.jsonl `prompt`): each message as `role: content`, blank-line separated. */
export function promptText(messages: readonly ChatMessage[]): string {
  return messages.map((m) => `${m.role}: ${String(m.content)}`).join('\n\n');
}

/**
 * What the policy is shown at env step `envStep` (0-based) of an episode: the chat messages, their templated ids
 * (with the generation prompt) and the logged text. Rollouts and demonstrations (lib/rl/demos.ts) both build their
 * prompts here, so a demonstration's prompt is the one a rollout would build on the same page.
 */
export function stepPrompt(
  opts: Pick<RolloutOptions, 'prompts' | 'tokenizer'>,
  obs: Observation,
  envStep: number,
  history: readonly HistoryEntry[],
): { messages: ChatMessage[]; ids: number[]; text: string } {
  const messages = opts.prompts.build(obs, envStep, history);
  return { messages, ids: opts.tokenizer.applyChatTemplate(messages), text: promptText(messages) };
}

/** History entry of an executed step: its canonical action, else the completion's first line (shown as written). */
export function historyEntry(completionText: string, error: string): HistoryEntry {
  return { action: actionOfCompletion(completionText) || completionText.split('\n')[0] || '(empty)', error };
}

interface LiveEpisode {
  index: number;
  episode: Episode;
  obs: Observation;
  history: HistoryEntry[];
  steps: RolloutStep[];
  done: boolean;
  /** Takes replay screenshots (RolloutOptions.record). */
  recorded: boolean;
  finalScreenshot?: EpisodeCapture | null;
}

/**
 * Runs `groups.length × groupSize` episodes (group-major). `seedFor(envStep)` gives the generator seed of each env
 * step's batched call.
 */
export async function runRollout(
  opts: RolloutOptions,
  slots: EpisodeSlots,
  groups: readonly GroupDraw[],
  groupSize: number,
  seedFor: (envStep: number) => number,
): Promise<RolloutResult> {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new Error(`runRollout: groupSize must be a positive integer, got ${groupSize}`);
  if (groups.length === 0) throw new Error('runRollout: no groups');
  if (!Number.isInteger(opts.maxEnvSteps) || opts.maxEnvSteps < 1) throw new Error(`runRollout: maxEnvSteps must be >= 1, got ${opts.maxEnvSteps}`);
  const retries = opts.maxCrashRetries ?? 3;
  const t0 = performance.now();
  let crashRetries = 0;
  for (;;) {
    const timings: RolloutTimings = { total: 0, env: 0, generate: 0, generatedTokens: 0, crashRetries };
    try {
      const episodes = await runRound(opts, slots, groups, groupSize, seedFor, timings);
      timings.total = (performance.now() - t0) / 1000;
      return { episodes, timings };
    } catch (e) {
      if (!(e instanceof EnvFailure)) throw e;
      if (crashRetries >= retries) throw new Error(`environment failed ${crashRetries + 1} times in one rollout round: ${(e as Error).message}`);
      crashRetries++;
      const lost = BROWSER_LOST_RE.test(e.message);
      opts.warn?.(`${lost ? 'browser lost' : 'environment error'} during a rollout round (${e.message.split('\n')[0]}); ${lost ? 'relaunching and ' : ''}replaying the round`);
      await slots.reset();
    }
  }
}

async function runRound(
  opts: RolloutOptions,
  slots: EpisodeSlots,
  groups: readonly GroupDraw[],
  groupSize: number,
  seedFor: (envStep: number) => number,
  timings: RolloutTimings,
): Promise<RolloutEpisode[]> {
  const n = groups.length * groupSize;
  // [n]: each episode's group, in episode order.
  const groupOf = Array.from({ length: n }, (_, i) => groups[Math.floor(i / groupSize)]!);
  const envs = await envCall(slots.take(groupOf.map((g) => g.task)));
  let t = performance.now();
  const firstObs = await envCall(Promise.all(envs.map((ep, i) => ep.reset({ task: groupOf[i]!.task, seed: groupOf[i]!.seed }))));
  timings.env += (performance.now() - t) / 1000;
  const live: LiveEpisode[] = firstObs.map((obs, i) => ({
    index: i,
    episode: envs[i],
    obs,
    history: [],
    steps: [],
    done: false,
    recorded: opts.record?.(Math.floor(i / groupSize), i % groupSize) ?? false,
  }));
  const trieCache = new Map<string, ActionTrie>();
  const camera = new ReplayCamera(opts.warn);
  const where = (l: LiveEpisode) => `${groups[Math.floor(l.index / groupSize)].task} seed ${groups[Math.floor(l.index / groupSize)].seed} step ${l.steps.length}`;
  /** Screenshot after an episode's last step, once. */
  const shootFinal = (ls: readonly LiveEpisode[]) =>
    Promise.all(ls.filter((l) => l.recorded && l.finalScreenshot === undefined).map(async (l) => {
      l.finalScreenshot = await camera.shoot(l.episode, null, `${where(l)}, end`);
    }));

  for (let envStep = 0; envStep < opts.maxEnvSteps; envStep++) {
    const active = live.filter((l) => !l.done);
    if (active.length === 0) break;
    // Prompts of every live episode; identical (prompt, allowed actions) pairs share one request.
    const prompts = active.map((l) => {
      const { ids, text } = stepPrompt(opts, l.obs, envStep, l.history);
      let trie: ActionTrie | null = null;
      let trieKey = '';
      if (opts.constrained) {
        const allowed = allowedActions(l.obs, opts.actionSet);
        if (allowed.length === 0) throw new Error(`constrained_actions: no allowed action on the page of ${groups[Math.floor(l.index / groupSize)].task}`);
        trieKey = allowed.join('\u0000');
        trie = trieCache.get(trieKey) ?? buildActionTrie(opts.tokenizer, allowed, opts.tokenizer.imEndId);
        trieCache.set(trieKey, trie);
      }
      return { ids, text, trie, key: `${ids.join(',')}|${trieKey}` };
    });
    const requestOf = new Map<string, number>();
    const requests: GenerationRequest[] = [];
    const slotOf: Array<[number, number]> = []; // per active episode: [request, sample index]
    for (const p of prompts) {
      let r = requestOf.get(p.key);
      if (r === undefined) {
        r = requests.length;
        requestOf.set(p.key, r);
        requests.push({ prompt: p.ids, n: 0, trie: p.trie });
      }
      slotOf.push([r, requests[r].n]);
      requests[r].n++;
    }
    t = performance.now();
    const { samples } = await opts.generator.generate(requests, { ...opts.sampling, seed: seedFor(envStep) });
    timings.generate += (performance.now() - t) / 1000;
    if (samples.length !== requests.length) throw new Error(`generator returned ${samples.length} results for ${requests.length} requests`);

    const completions = active.map((l, i) => {
      const [r, s] = slotOf[i];
      const sample = samples[r]?.[s];
      if (!sample) throw new Error(`generator returned no sample ${s} for request ${r}`);
      if (sample.tokens.length !== sample.logprobs.length) throw new Error(`generator returned ${sample.tokens.length} tokens but ${sample.logprobs.length} log-probs`);
      timings.generatedTokens += sample.tokens.length;
      const text = opts.tokenizer.decode(sample.tokens, { skipSpecial: true }).trim();
      return { sample, text };
    });

    // Recorded episodes: the page the action is about to act on, its target outlined (outside the env timing).
    const shots = await Promise.all(active.map((l, i) => (l.recorded ? camera.shoot(l.episode, actionTarget(completions[i].text), where(l)) : Promise.resolve(undefined))));

    t = performance.now();
    const results = await envCall(Promise.all(active.map((l, i) => l.episode.step(completions[i].text))));
    timings.env += (performance.now() - t) / 1000;

    active.forEach((l, i) => {
      const res = results[i];
      const err = res.observation.last_action_error ?? '';
      if (typeof res.info?.error === 'string' && BROWSER_LOST_RE.test(res.info.error)) throw new EnvFailure(res.info.error);
      const { sample, text } = completions[i];
      const action = actionOfCompletion(text);
      l.steps.push({
        promptIds: prompts[i].ids,
        completionIds: sample.tokens,
        oldLogprobs: sample.logprobs,
        truncated: sample.finish === 'length',
        promptText: prompts[i].text,
        completionText: text,
        action,
        error: err,
        reward: res.reward,
        done: res.done,
        ...(l.recorded ? { screenshot: shots[i] ?? null } : {}),
      });
      l.history.push(historyEntry(text, err));
      l.obs = res.observation;
      if (res.done || res.truncated) l.done = true;
    });
    await shootFinal(active.filter((l) => l.done));
  }
  await shootFinal(live);

  return live.map((l) => {
    const g = Math.floor(l.index / groupSize);
    return {
      group: g,
      member: l.index % groupSize,
      task: groups[g].task,
      seed: groups[g].seed,
      steps: l.steps,
      reward: episodeReward(
        l.steps.map((s) => ({ reward: s.reward, done: s.done, actionError: s.error })),
        opts.shaping,
      ),
      ...(l.recorded ? { finalScreenshot: l.finalScreenshot ?? null } : {}),
    };
  });
}
