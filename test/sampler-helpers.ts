// Shared set-up for the sampler tests: small random LFM2 models and full-forward references.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lfm2TensorSpecs, mulberry32, tensorValues, writeRandomModel } from '../lib/engine/init-weights.ts';
import { LfmModel } from '../lib/engine/model.ts';
import { presetConfig } from '../lib/engine/presets.ts';
import { writeSafetensors } from '../lib/io/safetensors.ts';

export interface TestModel {
  model: LfmModel;
  dir: string;
  V: number;
  dispose(): void;
}

/** The tiny preset (vocab 512, with tokenizer files) in f32, so the exact path has no rounding beyond FP32 sums. */
export async function tinyModel(seed = 5, std = 0.2): Promise<TestModel> {
  const dir = mkdtempSync(join(tmpdir(), 'lfm2-sampler-'));
  writeRandomModel(dir, presetConfig('tiny'), { seed, dtype: 'f32', std });
  const model = await LfmModel.load(dir);
  return { model, dir, V: model.config.vocabSize, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The tiny architecture with a vocabulary of `vocab` tokens and no tokenizer (for distribution tests). */
export async function smallVocabModel(vocab: number, seed = 11, std = 0.5): Promise<TestModel> {
  const dir = mkdtempSync(join(tmpdir(), 'lfm2-sampler-v-'));
  mkdirSync(dir, { recursive: true });
  const config = { ...presetConfig('tiny'), vocab_size: vocab, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, torch_dtype: 'float32' };
  const tensors = lfm2TensorSpecs(config).map((s) => {
    const v = tensorValues(s, seed, std);
    return { name: s.name, dtype: 'F32' as const, shape: s.shape, data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
  });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const model = await LfmModel.load(dir);
  return { model, dir, V: vocab, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export function randomTokens(n: number, seed: number, V: number, from = 0): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => from + Math.floor(r() * (V - from)));
}

/** Logits [T, V] of every position of one sequence, by a full forward from position 0. */
export async function fullLogits(model: LfmModel, tokens: readonly number[]): Promise<Float32Array> {
  return model.logits(Int32Array.from(tokens));
}

export function row(logits: Float32Array, V: number, t: number): Float32Array {
  return logits.subarray(t * V, (t + 1) * V);
}

export function argmax(x: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
}

/** log softmax(x / t)[i] in float64. */
export function logSoftmaxAt(x: ArrayLike<number>, i: number, t = 1): number {
  let m = -Infinity;
  for (let j = 0; j < x.length; j++) m = Math.max(m, x[j] / t);
  let s = 0;
  for (let j = 0; j < x.length; j++) s += Math.exp(x[j] / t - m);
  return x[i] / t - m - Math.log(s);
}
