// Seeded random inputs for tests: one generator (mulberry32, the same one the weight initialiser uses) so a failing
// case can be replayed from its seed.
import { mulberry32 } from '../../lib/engine/init-weights.ts';

/** Uniform in [0, 1) from a 32-bit seed. */
export const rng: (seed: number) => () => number = mulberry32;

/** One standard-normal value (Box–Muller; 1 − u keeps the logarithm finite). */
export function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** `n` seeded token ids, uniform in [from, vocab). */
export function randomTokens(n: number, seed: number, vocab: number, from = 0): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => from + Math.floor(r() * (vocab - from)));
}

/**
 * Fresh random inputs for one test file: a new seed each run, its generator, and `tag` which appends the seed to an
 * assertion message so a failing run can be replayed with rng(seed).
 */
export function freshRandom(): { seed: number; rand: () => number; tag: (what: string) => string } {
  // LFM2_TEST_SEED replays a failure's seed (every random test prints it in its messages).
  const fixed = process.env.LFM2_TEST_SEED;
  const seed = fixed !== undefined && /^\d+$/.test(fixed) ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
  return { seed, rand: rng(seed), tag: (what) => `${what} (seed ${seed})` };
}
