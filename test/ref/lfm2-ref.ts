// Plain float64 reference of the whole LFM2 forward pass (docs/lfm2.md §3), written straight from the spec with no
// shared code with the native engine: it reads config.json and model.safetensors itself and runs one sequence
// from position 0. Slow by design (naive loops); use it on small models and short sequences.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors, tensorToFloat64, type SafetensorsContents } from '../../lib/io/safetensors.ts';
import { attentionForward, linear, rmsnormForward as rmsnorm, ropeForward, shortconvForward, swigluForward as swiglu } from './train-ref.ts';

export interface RefLayer {
  attention: boolean;
  opNorm: Float64Array; // [C]
  inProj?: Float64Array; // [3C, C]
  convK?: Float64Array; // [C, 3]
  convOut?: Float64Array; // [C, C]
  wq?: Float64Array; // [H*D, C]
  wk?: Float64Array; // [KVH*D, C]
  wv?: Float64Array; // [KVH*D, C]
  wo?: Float64Array; // [C, H*D]
  qNorm?: Float64Array; // [D]
  kNorm?: Float64Array; // [D]
  ffnNorm: Float64Array; // [C]
  w1: Float64Array; // [F, C]
  w3: Float64Array; // [F, C]
  w2: Float64Array; // [C, F]
}

export interface RefModel {
  V: number;
  C: number;
  H: number;
  KVH: number;
  D: number;
  F: number;
  eps: number;
  theta: number;
  embed: Float64Array; // [V, C]
  head: Float64Array; // [V, C] (= embed when tied)
  finalNorm: Float64Array; // [C]
  layers: RefLayer[];
}

export function loadRefModel(dir: string): RefModel {
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const file = join(dir, 'model.safetensors');
  const st: SafetensorsContents = readSafetensors(file);
  const get = (name: string) => tensorToFloat64(st, name, undefined, file);
  const V = cfg.vocab_size, C = cfg.hidden_size, H = cfg.num_attention_heads;
  const KVH = cfg.num_key_value_heads ?? H;
  const L = cfg.num_hidden_layers;
  const attnIdx: number[] = cfg.layer_types
    ? cfg.layer_types.flatMap((t: string, i: number) => (t === 'full_attention' ? [i] : []))
    : cfg.full_attn_idxs;
  const embed = get('model.embed_tokens.weight');
  const F = st.tensors.get('model.layers.0.feed_forward.w1.weight')!.shape[0];
  const layers: RefLayer[] = [];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const attention = attnIdx.includes(l);
    const layer: RefLayer = {
      attention,
      opNorm: get(p + 'operator_norm.weight'),
      ffnNorm: get(p + 'ffn_norm.weight'),
      w1: get(p + 'feed_forward.w1.weight'),
      w3: get(p + 'feed_forward.w3.weight'),
      w2: get(p + 'feed_forward.w2.weight'),
    };
    if (attention) {
      layer.wq = get(p + 'self_attn.q_proj.weight');
      layer.wk = get(p + 'self_attn.k_proj.weight');
      layer.wv = get(p + 'self_attn.v_proj.weight');
      layer.wo = get(p + 'self_attn.out_proj.weight');
      layer.qNorm = get(p + 'self_attn.q_layernorm.weight');
      layer.kNorm = get(p + 'self_attn.k_layernorm.weight');
    } else {
      layer.inProj = get(p + 'conv.in_proj.weight');
      layer.convK = get(p + 'conv.conv.weight'); // [C, 1, 3] = [C, 3] in memory
      layer.convOut = get(p + 'conv.out_proj.weight');
    }
    layers.push(layer);
  }
  const head = st.tensors.has('lm_head.weight') ? get('lm_head.weight') : embed;
  return {
    V, C, H, KVH, D: C / H, F,
    eps: cfg.norm_eps ?? cfg.block_norm_eps ?? 1e-5,
    theta: cfg.rope_theta ?? cfg.theta ?? 1e6,
    embed, head, finalNorm: get('model.embedding_norm.weight'), layers,
  };
}

// ---- the ops are the op-level references of train-ref.ts (one float64 reference per op, shared with the op suite)

export interface RefForward {
  logits: Float64Array; // [T, V]
  hidden: Float64Array; // [T, C] final-norm output
}

/** Whole-model forward of one sequence from position 0. */
export function refForward(m: RefModel, tokens: ArrayLike<number>): RefForward {
  const T = tokens.length, C = m.C;
  let x = new Float64Array(T * C);
  for (let t = 0; t < T; t++) x.set(m.embed.subarray(tokens[t] * C, tokens[t] * C + C), t * C);
  const positions = Array.from({ length: T }, (_, t) => t);
  for (const L of m.layers) {
    const h = rmsnorm(x, L.opNorm, T, C, m.eps);
    let op: Float64Array;
    if (L.attention) {
      const q = rmsnorm(linear(h, L.wq!, T, C, m.H * m.D), L.qNorm!, T * m.H, m.D, m.eps);
      const k = rmsnorm(linear(h, L.wk!, T, C, m.KVH * m.D), L.kNorm!, T * m.KVH, m.D, m.eps);
      const v = linear(h, L.wv!, T, C, m.KVH * m.D);
      const shape = { T, Hq: m.H, Hkv: m.KVH, D: m.D, cu: [0, T], scale: 1 / Math.sqrt(m.D) };
      const o = attentionForward(ropeForward(q, T, m.H, m.D, positions, m.theta), ropeForward(k, T, m.KVH, m.D, positions, m.theta), v, shape).o;
      op = linear(o, L.wo!, T, m.H * m.D, C);
    } else {
      const z = linear(h, L.inProj!, T, C, 3 * C);
      op = linear(shortconvForward(z, L.convK!, [0, T], C), L.convOut!, T, C, C);
    }
    const r = x.map((xi, i) => xi + op[i]);
    const g = rmsnorm(r, L.ffnNorm, T, C, m.eps);
    const act = swiglu(linear(g, L.w1, T, C, m.F), linear(g, L.w3, T, C, m.F));
    const f = linear(act, L.w2, T, m.F, C);
    x = r.map((ri, i) => ri + f[i]);
  }
  const hidden = rmsnorm(x, m.finalNorm, T, C, m.eps);
  return { logits: linear(hidden, m.head, T, C, m.V), hidden };
}
