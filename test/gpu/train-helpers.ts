// Fixtures of the GPU training-engine tests: one tiny model folder loaded on both engines, trainers with matching
// settings, a GRPO batch whose loss depends on the model (old and reference log-probs near the current ones), and
// error measures for comparing the two engines' tensors.
import { join } from 'node:path';
import { mulberry32, writeRandomModel } from '../../lib/engine/init-weights.ts';
import { LfmModel } from '../../lib/engine/model.ts';
import { presetConfig } from '../../lib/engine/presets.ts';
import { TrainerEngine, type TrainBatch, type TrainerEngineOptions } from '../../lib/engine/trainer-engine.ts';

/** Every LoRA-adaptable LFM2 module kind (attention q/k/v/out, conv in/out, feed-forward w1/w2/w3). */
export const ALL_KINDS = ['q_proj', 'k_proj', 'v_proj', 'self_attn.out_proj', 'in_proj', 'conv.out_proj', 'w1', 'w2', 'w3'];

/** Writes a tiny BF16 model and loads it on the CPU and on the GPU. */
export async function bothEngines(dir: string, name: string, seed: number): Promise<{ cpu: LfmModel; gpu: LfmModel; path: string }> {
  const path = join(dir, name);
  writeRandomModel(path, presetConfig('tiny'), { seed, dtype: 'bf16', std: 0.1 });
  return { cpu: await LfmModel.load(path, { device: 'cpu' }), gpu: await LfmModel.load(path, { device: 'cuda' }), path };
}

export function loraOptions(lr = 1e-2): TrainerEngineOptions {
  return {
    mode: 'lora',
    lora: { r: 4, loraAlpha: 8, targetModules: ALL_KINDS, useRslora: false, seed: 1 },
    optimizer: { learningRate: lr, maxGradNorm: 1 },
    // The CPU reference rounds its forward GEMM inputs to BF16 like the GPU ('fast').
    precision: 'fast',
  };
}

/** Gives every LoRA B a seeded non-zero value on each trainer (B = 0 at init would make every dA zero). */
export function seedLoraB(seed: number, ...ts: TrainerEngine[]): void {
  const r = mulberry32(seed);
  for (const name of ts[0].native.parameterNames()) {
    if (!name.endsWith('lora_B.weight')) continue;
    const v = Float32Array.from(ts[0].native.parameter(name), () => (2 * r() - 1) * 0.05);
    for (const t of ts) t.native.setParameter(name, v);
  }
}

/** A seeded batch of `n` sequences (prompt then completion, ids in [1, vocab)) with advantages in [−1, 1]. */
export function gpuBatch(seed: number, n = 3, vocab = 512): TrainBatch {
  const r = mulberry32(seed);
  const sequences: number[][] = [], completionMasks: number[][] = [], advantages: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = 2 + Math.floor(r() * 4), c = 3 + Math.floor(r() * 5);
    sequences.push(Array.from({ length: p + c }, () => 1 + Math.floor(r() * (vocab - 1))));
    completionMasks.push(Array.from({ length: p + c }, (_, t) => (t >= p ? 1 : 0)));
    advantages.push(2 * r() - 1);
  }
  return { sequences, completionMasks, advantages };
}

/**
 * Adds old and reference log-probs near `logprobs` (so ratios, clipping and the KL term all matter). The old ones
 * sit either well inside the clip range (|δ| ≤ 0.1) or well outside it (0.35 ≤ |δ| ≤ 0.5), never near its edge
 * (ε = 0.2 ⇒ |log ρ| ≈ 0.18–0.22): clipping switches a row's gradient on or off, so a row near the edge would turn
 * the engines' small log-prob differences into a difference of a whole row's gradient.
 */
export function withOldAndRef(b: TrainBatch, logprobs: Float32Array[], seed: number): TrainBatch {
  const r = mulberry32(seed);
  const sign = () => (r() < 0.5 ? -1 : 1);
  const oldLogprobs = logprobs.map((lp) => Array.from(lp, (v) => v + sign() * (r() < 0.5 ? 0.1 * r() : 0.35 + 0.15 * r())));
  const refLogprobs = logprobs.map((lp) => Array.from(lp, (v) => v + (2 * r() - 1) * 0.3));
  return { ...b, oldLogprobs, refLogprobs };
}

/** max|a − b| / max|b| and ‖a − b‖₂ / ‖b‖₂. */
export function relErrors(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; l2: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let md = 0, mb = 0, d2 = 0, b2 = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    md = Number.isNaN(d) ? Infinity : Math.max(md, d);
    mb = Math.max(mb, Math.abs(b[i]));
    d2 += d * d;
    b2 += b[i] * b[i];
  }
  return { max: md / mb, l2: Math.sqrt(d2 / b2), scale: mb };
}

export function flat(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}
