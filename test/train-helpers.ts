// Shared fixtures of the training-engine tests: random tiny models on disk, seeded GRPO batches, parameter snapshots.
import { join } from 'node:path';
import { mulberry32, writeRandomModel } from '../lib/engine/init-weights.ts';
import { LfmModel } from '../lib/engine/model.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import type { TrainBatch, TrainerEngine } from '../lib/engine/trainer-engine.ts';

/** Writes a tiny-preset model (std 0.1 so every layer matters) and loads it. */
export async function tinyModel(dir: string, name: string, dtype: 'bf16' | 'f32', seed = 5): Promise<LfmModel> {
  const d = join(dir, name);
  writeRandomModel(d, presetConfig('tiny'), { seed, dtype, std: 0.1 });
  return LfmModel.load(d);
}

/** A seeded batch of `n` sequences: prompt then completion (ids ≥ 1), advantages in [−1, 1], no old log-probs. */
export function randomBatch(seed: number, n = 3, vocab = 512): TrainBatch {
  const r = mulberry32(seed);
  const sequences: number[][] = [], completionMasks: number[][] = [], advantages: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = 2 + Math.floor(r() * 4), c = 2 + Math.floor(r() * 5);
    sequences.push(Array.from({ length: p + c }, () => 1 + Math.floor(r() * (vocab - 1))));
    completionMasks.push(Array.from({ length: p + c }, (_, t) => (t >= p ? 1 : 0)));
    advantages.push(2 * r() - 1);
  }
  return { sequences, completionMasks, advantages };
}

/** Copies of every trainable tensor, by name. */
export function snapshot(t: TrainerEngine): Map<string, Float32Array> {
  return new Map(t.native.parameterNames().map((n) => [n, t.native.parameter(n)]));
}

/** Names of tensors whose bytes differ between two snapshots (empty = bit-identical). */
export function differing(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.length !== v.length || !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength))) out.push(k);
  }
  if (a.size !== b.size) out.push(`(sizes ${a.size} vs ${b.size})`);
  return out;
}
