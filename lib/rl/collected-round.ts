// A rollout round as the training loop consumes it (lib/rl/trainer.ts), and its checkpoint form. With
// async_rollouts the next round is collected during the last optimizer step of the current one, with the weights
// before that step; a checkpoint written at a round boundary therefore carries that round (next_round.json), because
// the weights that sampled it are gone and a resumed run must train on exactly these episodes to equal the
// uninterrupted run. Screenshots are not kept: a recorded round's replays are written when it is collected.
import type { RolloutEpisode, RolloutStep, RolloutTimings } from './rollout.ts';

export const NEXT_ROUND_FILE = 'next_round.json';
const FORMAT = 'lfm2-rl-next-round';

export interface CollectedRound {
  /** Rollout round index: its episodes feed the optimizer steps after round × stepsPerRound. */
  round: number;
  /** Optimizer steps between the weights that sampled the round and those that start training on it (0 or 1). */
  staleness: number;
  /** Task probabilities its groups were drawn with (order of the config's tasks). */
  probabilities: number[];
  /** Group-major, as runRollout returns them. */
  episodes: RolloutEpisode[];
  timings: RolloutTimings;
  /** Environment metrics of the round (remote servers: latency, failures). */
  envMetrics: Record<string, number | null>;
}

/** JSON text of a round (NaN/Inf log-probs of a diverging policy kept as strings, so a resume diverges alike). */
export function serializeRound(r: CollectedRound): string {
  const episodes = r.episodes.map((e) => ({
    group: e.group,
    member: e.member,
    task: e.task,
    seed: e.seed,
    reward: e.reward,
    steps: e.steps.map((s) => ({
      promptIds: s.promptIds,
      completionIds: s.completionIds,
      oldLogprobs: s.oldLogprobs,
      truncated: s.truncated,
      promptText: s.promptText,
      completionText: s.completionText,
      action: s.action,
      error: s.error,
      reward: s.reward,
      done: s.done,
    })),
  }));
  const doc = { format: FORMAT, version: 1, round: r.round, staleness: r.staleness, probabilities: r.probabilities, timings: r.timings, envMetrics: r.envMetrics, episodes };
  return JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

/** Parses what serializeRound wrote; errors name `where` and the field. */
export function parseRound(text: string, where: string): CollectedRound {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  const obj = (x: unknown, path: string): Record<string, unknown> => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) fail(`${path} must be an object`);
    return x as Record<string, unknown>;
  };
  const arr = (x: unknown, path: string): unknown[] => (Array.isArray(x) ? x : fail(`${path} must be a list`));
  const num = (x: unknown, path: string): number => {
    if (typeof x === 'number' && Number.isFinite(x)) return x;
    if (x === 'NaN' || x === 'Infinity' || x === '-Infinity') return Number(x);
    return fail(`${path} must be a number (got ${JSON.stringify(x)})`);
  };
  const int = (x: unknown, path: string): number => (Number.isSafeInteger(x) && (x as number) >= 0 ? (x as number) : fail(`${path} must be a whole number >= 0 (got ${JSON.stringify(x)})`));
  const str = (x: unknown, path: string): string => (typeof x === 'string' ? x : fail(`${path} must be a string`));
  const bool = (x: unknown, path: string): boolean => (typeof x === 'boolean' ? x : fail(`${path} must be true or false`));

  const d = obj(doc, 'the file');
  if (d.format !== FORMAT || d.version !== 1) fail(`not a round collected ahead (format ${JSON.stringify(d.format)}, version ${JSON.stringify(d.version)})`);
  const t = obj(d.timings, 'timings');
  const timings: RolloutTimings = {
    total: num(t.total, 'timings.total'),
    env: num(t.env, 'timings.env'),
    generate: num(t.generate, 'timings.generate'),
    generatedTokens: int(t.generatedTokens, 'timings.generatedTokens'),
    crashRetries: int(t.crashRetries, 'timings.crashRetries'),
  };
  const envMetrics: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(obj(d.envMetrics, 'envMetrics'))) envMetrics[k] = v === null ? null : num(v, `envMetrics.${k}`);
  const episodes = arr(d.episodes, 'episodes').map((x, i): RolloutEpisode => {
    const p = `episodes[${i}]`;
    const e = obj(x, p);
    const r = obj(e.reward, `${p}.reward`);
    const steps = arr(e.steps, `${p}.steps`).map((y, j): RolloutStep => {
      const q = `${p}.steps[${j}]`;
      const s = obj(y, q);
      const completionIds = arr(s.completionIds, `${q}.completionIds`).map((v, k) => int(v, `${q}.completionIds[${k}]`));
      const oldLogprobs = arr(s.oldLogprobs, `${q}.oldLogprobs`).map((v, k) => num(v, `${q}.oldLogprobs[${k}]`));
      if (oldLogprobs.length !== completionIds.length) fail(`${q}: ${completionIds.length} completion tokens but ${oldLogprobs.length} log-probs`);
      return {
        promptIds: arr(s.promptIds, `${q}.promptIds`).map((v, k) => int(v, `${q}.promptIds[${k}]`)),
        completionIds,
        oldLogprobs,
        truncated: bool(s.truncated, `${q}.truncated`),
        promptText: str(s.promptText, `${q}.promptText`),
        completionText: str(s.completionText, `${q}.completionText`),
        action: str(s.action, `${q}.action`),
        error: str(s.error, `${q}.error`),
        reward: num(s.reward, `${q}.reward`),
        done: bool(s.done, `${q}.done`),
      };
    });
    return {
      group: int(e.group, `${p}.group`),
      member: int(e.member, `${p}.member`),
      task: str(e.task, `${p}.task`),
      seed: int(e.seed, `${p}.seed`),
      steps,
      reward: {
        reward: num(r.reward, `${p}.reward.reward`),
        envReward: num(r.envReward, `${p}.reward.envReward`),
        success: bool(r.success, `${p}.reward.success`),
        invalidActions: int(r.invalidActions, `${p}.reward.invalidActions`),
        steps: int(r.steps, `${p}.reward.steps`),
      },
    };
  });
  if (episodes.length === 0) fail('episodes must not be empty');
  return {
    round: int(d.round, 'round'),
    staleness: int(d.staleness, 'staleness'),
    probabilities: arr(d.probabilities, 'probabilities').map((v, k) => num(v, `probabilities[${k}]`)),
    episodes,
    timings,
    envMetrics,
  };
}
