// Deterministic seeds for everything a run draws: which task and env seed each group gets, and the sampler seed of
// each generation call. Every value is a pure function of (run seed, counters), so a resumed run draws exactly what
// the uninterrupted run drew, with no RNG state to save. Training and evaluation use disjoint env-seed ranges, so
// evaluation pages are never seen in training.

/** Env seeds of training groups: [0, 2^30). */
export const TRAIN_SEED_RANGE = [0, 2 ** 30] as const;
/** Env seeds of evaluation episodes: [2^30, 2^31). */
export const EVAL_SEED_RANGE = [2 ** 30, 2 ** 31] as const;

/** splitmix64-style 32-bit mix of a list of integers (each taken modulo 2^32). */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    if (!Number.isInteger(p)) throw new Error(`mixSeed: ${p} is not an integer`);
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
    // Mix the high part of large (up to 2^53) integers too.
    h = Math.imul(h ^ (Math.floor(p / 2 ** 32) >>> 0), 0x27d4eb2f) >>> 0;
    h ^= h >>> 15;
  }
  return h >>> 0;
}

export interface GroupDraw {
  task: string;
  /** Env seed shared by every episode of the group (same start page). */
  seed: number;
}

/**
 * Task and env seed of each group of rollout round `round`, seeds in TRAIN_SEED_RANGE. Tasks are drawn uniformly, or
 * in proportion to `weights` (one per task, >= 0, not all 0) when given: the caller passes the round's weights (fixed
 * or from a curriculum state), so a draw stays a pure function of (run seed, round, weights).
 */
export function drawTrainGroups(runSeed: number, round: number, groups: number, tasks: readonly string[], weights?: readonly number[]): GroupDraw[] {
  if (tasks.length === 0) throw new Error('drawTrainGroups: no tasks');
  if (weights !== undefined) checkWeights(weights, tasks.length);
  const out: GroupDraw[] = [];
  for (let g = 0; g < groups; g++) {
    const u = mixSeed(runSeed, round, g, 1);
    const task = weights === undefined ? tasks[u % tasks.length] : tasks[weightedIndex(weights, u / 2 ** 32)];
    const span = TRAIN_SEED_RANGE[1] - TRAIN_SEED_RANGE[0];
    out.push({ task, seed: TRAIN_SEED_RANGE[0] + (mixSeed(runSeed, round, g, 2) % span) });
  }
  return out;
}

function checkWeights(weights: readonly number[], n: number): void {
  if (weights.length !== n) throw new Error(`drawTrainGroups: ${weights.length} weights for ${n} tasks`);
  if (!weights.every((w) => Number.isFinite(w) && w >= 0) || !weights.some((w) => w > 0)) {
    throw new Error(`drawTrainGroups: weights must be finite, >= 0 and not all 0 (got ${weights.join(', ')})`);
  }
}

/** Index i with cumulative weight share just above u ∈ [0, 1): P(i) = weights[i] / sum. Zero weights are never picked. */
export function weightedIndex(weights: readonly number[], u: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    acc += weights[i];
    last = i;
    if (target < acc) return i;
  }
  return last; // u·total rounded up to the full sum
}

/** Env seed of evaluation episode `i` of a task: the same for every evaluation of a run, so curves are comparable. */
export function evalSeed(baseSeed: number, task: string, i: number): number {
  let t = 0;
  for (const ch of task) t = mixSeed(t, ch.codePointAt(0)!);
  const span = EVAL_SEED_RANGE[1] - EVAL_SEED_RANGE[0];
  return EVAL_SEED_RANGE[0] + (mixSeed(baseSeed, t, i, 3) % span);
}

/** Sampler seed of env step `envStep` of rollout round `round` (kind separates training from evaluation calls). */
export function generationSeed(runSeed: number, kind: 'train' | 'eval', round: number, envStep: number): number {
  return mixSeed(runSeed, kind === 'train' ? 11 : 12, round, envStep);
}
