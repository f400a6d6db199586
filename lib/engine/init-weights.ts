// Random LFM2 weights in the Hugging Face layout (docs/lfm2.md §2): model.safetensors with HF tensor names and no
// lm_head (tied head), config.json, and tokenizer files. Deterministic for a seed: every tensor draws from its own
// stream seeded by (seed, tensor name), so the values do not depend on the order tensors are generated in.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32ToBf16 } from '../io/dtypes.ts';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import { writeTokenizerFiles } from './tokenizer-files.ts';
import { ffnWidth, type HfConfig } from './presets.ts';

export interface InitOptions {
  seed: number;
  dtype: 'bf16' | 'f32';
  /** Std of the embedding and linear weights (default: the config's initializer_range, 0.02). */
  std?: number;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  /** 'normal': N(0, std); 'norm': 1 + 0.1·N(0,1) (norm weights jittered so tests exercise them); 'conv': U(±1/√3). */
  init: 'normal' | 'norm' | 'conv';
}

/** Every tensor of an LFM2 model with this config, in HF names and shapes (conv kernel [C, 1, 3], no lm_head). */
export function lfm2TensorSpecs(c: HfConfig): TensorSpec[] {
  const V = c.vocab_size as number;
  const C = c.hidden_size as number;
  const H = c.num_attention_heads as number;
  const KVH = (c.num_key_value_heads ?? H) as number;
  const D = C / H;
  const F = ffnWidth(c);
  const L = c.num_hidden_layers as number;
  const types = c.layer_types as string[];
  const K = (c.conv_L_cache ?? 3) as number;
  const specs: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [V, C], init: 'normal' }];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    specs.push({ name: p + 'operator_norm.weight', shape: [C], init: 'norm' });
    if (types[l] === 'full_attention') {
      specs.push(
        { name: p + 'self_attn.q_proj.weight', shape: [H * D, C], init: 'normal' },
        { name: p + 'self_attn.k_proj.weight', shape: [KVH * D, C], init: 'normal' },
        { name: p + 'self_attn.v_proj.weight', shape: [KVH * D, C], init: 'normal' },
        { name: p + 'self_attn.out_proj.weight', shape: [C, H * D], init: 'normal' },
        { name: p + 'self_attn.q_layernorm.weight', shape: [D], init: 'norm' },
        { name: p + 'self_attn.k_layernorm.weight', shape: [D], init: 'norm' },
      );
    } else {
      specs.push(
        { name: p + 'conv.in_proj.weight', shape: [3 * C, C], init: 'normal' },
        { name: p + 'conv.conv.weight', shape: [C, 1, K], init: 'conv' },
        { name: p + 'conv.out_proj.weight', shape: [C, C], init: 'normal' },
      );
    }
    specs.push(
      { name: p + 'ffn_norm.weight', shape: [C], init: 'norm' },
      { name: p + 'feed_forward.w1.weight', shape: [F, C], init: 'normal' },
      { name: p + 'feed_forward.w3.weight', shape: [F, C], init: 'normal' },
      { name: p + 'feed_forward.w2.weight', shape: [C, F], init: 'normal' },
    );
  }
  specs.push({ name: 'model.embedding_norm.weight', shape: [C], init: 'norm' });
  return specs;
}

// FNV-1a over the name, mixed with the seed: one independent stream per tensor.
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: small, fast, well-distributed 32-bit generator; uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values of one tensor as float32 (before any bf16 rounding). */
export function tensorValues(spec: TensorSpec, seed: number, std: number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const rnd = mulberry32(streamSeed(seed, spec.name));
  // Marsaglia's polar method: two normals per accepted pair, no trigonometry.
  let spare = 0;
  let hasSpare = false;
  const normal = () => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    let u: number, v: number, q: number;
    do {
      u = 2 * rnd() - 1;
      v = 2 * rnd() - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = Math.sqrt((-2 * Math.log(q)) / q);
    spare = v * f;
    hasSpare = true;
    return u * f;
  };
  if (spec.init === 'normal') {
    // Pairs written directly (the hot loop for large models).
    let i = 0;
    while (i < n) {
      const u = 2 * rnd() - 1;
      const v = 2 * rnd() - 1;
      const q = u * u + v * v;
      if (q >= 1 || q === 0) continue;
      const f = std * Math.sqrt((-2 * Math.log(q)) / q);
      out[i++] = u * f;
      if (i < n) out[i++] = v * f;
    }
  }
  else if (spec.init === 'norm') for (let i = 0; i < n; i++) out[i] = 1 + 0.1 * normal();
  else {
    const bound = 1 / Math.sqrt(spec.shape[spec.shape.length - 1]);
    for (let i = 0; i < n; i++) out[i] = (2 * rnd() - 1) * bound;
  }
  return out;
}

function encode(values: Float32Array, dtype: 'bf16' | 'f32'): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]);
  return new Uint8Array(out.buffer);
}

/** Writes a complete random-weight model folder; returns the tensor specs written. */
export function writeRandomModel(dir: string, config: HfConfig, opts: InitOptions): TensorSpec[] {
  if (!Number.isInteger(opts.seed)) throw new Error(`seed must be an integer, got ${opts.seed}`);
  const std = opts.std ?? ((config.initializer_range as number | undefined) ?? 0.02);
  if (!(std > 0)) throw new Error(`std must be positive, got ${std}`);
  mkdirSync(dir, { recursive: true });
  const specs = lfm2TensorSpecs(config);
  const tensors: TensorToWrite[] = specs.map((s) => ({
    name: s.name,
    dtype: opts.dtype === 'bf16' ? 'BF16' : 'F32',
    shape: s.shape,
    data: encode(tensorValues(s, opts.seed, std), opts.dtype),
  }));
  const cfg: HfConfig = { ...config, torch_dtype: opts.dtype === 'bf16' ? 'bfloat16' : 'float32' };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: cfg.bos_token_id, eos_token_id: cfg.eos_token_id, pad_token_id: cfg.pad_token_id }, null, 2) + '\n',
  );
  writeTokenizerFiles(dir, config.vocab_size as number);
  return specs;
}
