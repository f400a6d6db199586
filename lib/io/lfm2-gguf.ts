// Converts an LFM2 model folder in the Hugging Face layout (config.json, model.safetensors or a sharded index,
// tokenizer.json, tokenizer_config.json) into a GGUF file that llama.cpp loads as architecture "lfm2": the same
// metadata keys and tensor names as llama.cpp's own converter (docs/lfm2.md §2), a byte-level BPE ("gpt2") tokenizer.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { decodeToFloat32, f32ToBf16, f32ToF16, type FloatDtype } from './dtypes.ts';
import { writeGguf, type GgmlTypeName, type GgufTensorToWrite, type GgufValue } from './gguf.ts';
import { readSafetensors, type SafetensorsTensor } from './safetensors.ts';

export type ExportDtype = 'f32' | 'f16' | 'bf16';

/** llama.cpp's llama_ftype for each export dtype (general.file_type). */
const FILE_TYPE: Record<ExportDtype, number> = { f32: 0, f16: 1, bf16: 32 };
const GGML_FOR: Record<ExportDtype, GgmlTypeName> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

/** llama.cpp token types (llama_token_type). */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;
const TOKEN_UNUSED = 5;

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  if (!existsSync(path)) throw new Error(`export-gguf: missing ${path}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`export-gguf: ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function int(c: Json, keys: string[], fallback?: number): number {
  for (const k of keys) {
    const v = c[k];
    if (typeof v === 'number' && Number.isInteger(v)) return v;
  }
  if (fallback !== undefined) return fallback;
  throw new Error(`export-gguf: config.json needs an integer ${keys.join(' or ')}`);
}

function num(c: Json, keys: string[], fallback: number): number {
  for (const k of keys) if (typeof c[k] === 'number') return c[k] as number;
  return fallback;
}

/** All tensors of a model folder: model.safetensors or the shards listed by model.safetensors.index.json. */
function loadWeights(dir: string): Map<string, SafetensorsTensor> {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return readSafetensors(single).tensors;
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!existsSync(indexPath)) throw new Error(`export-gguf: ${dir} has neither model.safetensors nor model.safetensors.index.json`);
  const weightMap = (readJson(indexPath).weight_map ?? {}) as Record<string, string>;
  const out = new Map<string, SafetensorsTensor>();
  for (const shard of new Set(Object.values(weightMap))) {
    for (const [k, v] of readSafetensors(join(dir, shard)).tensors) out.set(k, v);
  }
  return out;
}

export interface Lfm2LayerPlan {
  attention: boolean;
}

export interface Lfm2GgufPlan {
  hidden: number;
  layers: Lfm2LayerPlan[];
  heads: number;
  kvHeads: number;
  ffDim: number;
  vocab: number;
  convLCache: number;
  contextLength: number;
  ropeTheta: number;
  normEps: number;
}

/** Reads the architecture numbers from config.json, with the FFN width taken from the w1 tensor (docs/lfm2.md §1). */
export function planFromConfig(config: Json, weights: Map<string, SafetensorsTensor>): Lfm2GgufPlan {
  const hidden = int(config, ['hidden_size', 'block_dim']);
  const nLayers = int(config, ['num_hidden_layers']);
  const heads = int(config, ['num_attention_heads', 'num_heads']);
  const kvHeads = int(config, ['num_key_value_heads'], heads);
  let types: string[];
  if (Array.isArray(config.layer_types)) {
    types = config.layer_types as string[];
  } else if (Array.isArray(config.full_attn_idxs)) {
    const attn = new Set(config.full_attn_idxs as number[]);
    types = Array.from({ length: nLayers }, (_, i) => (attn.has(i) ? 'full_attention' : 'conv'));
  } else {
    throw new Error('export-gguf: config.json needs layer_types or full_attn_idxs');
  }
  if (types.length !== nLayers) throw new Error(`export-gguf: layer_types has ${types.length} entries, num_hidden_layers is ${nLayers}`);
  for (const t of types) if (t !== 'conv' && t !== 'full_attention') throw new Error(`export-gguf: unknown layer type '${t}'`);
  const w1 = weights.get('model.layers.0.feed_forward.w1.weight');
  if (!w1) throw new Error('export-gguf: missing tensor model.layers.0.feed_forward.w1.weight');
  const embed = weights.get('model.embed_tokens.weight');
  if (!embed) throw new Error('export-gguf: missing tensor model.embed_tokens.weight');
  return {
    hidden,
    layers: types.map((t) => ({ attention: t === 'full_attention' })),
    heads,
    kvHeads,
    ffDim: w1.shape[0],
    vocab: embed.shape[0],
    convLCache: int(config, ['conv_L_cache'], 3),
    contextLength: int(config, ['max_position_embeddings'], 128000),
    ropeTheta: num(config, ['rope_theta', 'theta'], 1_000_000),
    normEps: num(config, ['norm_eps', 'block_norm_eps'], 1e-5),
  };
}

/** HF tensor name → GGUF name, expected HF shape, and whether it stays F32 (norms and the conv kernel, as llama.cpp). */
interface TensorMap {
  hf: string;
  gguf: string;
  shape: number[];
  /** Shape written to GGUF (the conv kernel is squeezed). */
  ggufShape: number[];
  keepF32: boolean;
}

export function lfm2TensorMap(p: Lfm2GgufPlan): TensorMap[] {
  const C = p.hidden;
  const D = C / p.heads;
  const F = p.ffDim;
  const K = p.convLCache;
  const m = (hf: string, gguf: string, shape: number[], keepF32 = false, ggufShape = shape): TensorMap => ({
    hf,
    gguf,
    shape,
    ggufShape,
    keepF32,
  });
  const out: TensorMap[] = [
    m('model.embed_tokens.weight', 'token_embd.weight', [p.vocab, C]),
    // embedding_norm is LFM2's FINAL norm; llama.cpp keeps the legacy name token_embd_norm for it (docs/lfm2.md §2).
    m('model.embedding_norm.weight', 'token_embd_norm.weight', [C], true),
  ];
  p.layers.forEach((layer, l) => {
    const hf = `model.layers.${l}.`;
    const g = `blk.${l}.`;
    out.push(m(hf + 'operator_norm.weight', g + 'attn_norm.weight', [C], true));
    if (layer.attention) {
      out.push(
        m(hf + 'self_attn.q_proj.weight', g + 'attn_q.weight', [p.heads * D, C]),
        m(hf + 'self_attn.k_proj.weight', g + 'attn_k.weight', [p.kvHeads * D, C]),
        m(hf + 'self_attn.v_proj.weight', g + 'attn_v.weight', [p.kvHeads * D, C]),
        m(hf + 'self_attn.out_proj.weight', g + 'attn_output.weight', [C, p.heads * D]),
        m(hf + 'self_attn.q_layernorm.weight', g + 'attn_q_norm.weight', [D], true),
        m(hf + 'self_attn.k_layernorm.weight', g + 'attn_k_norm.weight', [D], true),
      );
    } else {
      out.push(
        m(hf + 'conv.in_proj.weight', g + 'shortconv.in_proj.weight', [3 * C, C]),
        m(hf + 'conv.conv.weight', g + 'shortconv.conv.weight', [C, 1, K], true, [C, K]),
        m(hf + 'conv.out_proj.weight', g + 'shortconv.out_proj.weight', [C, C]),
      );
    }
    out.push(
      m(hf + 'ffn_norm.weight', g + 'ffn_norm.weight', [C], true),
      m(hf + 'feed_forward.w1.weight', g + 'ffn_gate.weight', [F, C]),
      m(hf + 'feed_forward.w3.weight', g + 'ffn_up.weight', [F, C]),
      m(hf + 'feed_forward.w2.weight', g + 'ffn_down.weight', [C, F]),
    );
  });
  return out;
}

/** Converts a safetensors tensor's bytes to a GGML type (exact when the source is already that type). */
export function convertTensorBytes(t: SafetensorsTensor, to: GgmlTypeName, name: string): Uint8Array {
  if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
    throw new Error(`export-gguf: tensor ${name} has dtype ${t.dtype}, expected a float type`);
  }
  const src = t.dtype as FloatDtype;
  if ((src === 'F32' && to === 'F32') || (src === 'F16' && to === 'F16') || (src === 'BF16' && to === 'BF16')) return t.data;
  if (src === 'BF16' && to === 'F32') {
    // Exact widening without a float round trip: bf16 bits become the top half of the f32.
    const n = t.data.length / 2;
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = t.data.readUInt16LE(2 * i) << 16;
    return new Uint8Array(out.buffer);
  }
  const f = decodeToFloat32(t.data, src);
  if (to === 'F32') return new Uint8Array(f.buffer);
  const out = new Uint16Array(f.length);
  const conv = to === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < f.length; i++) out[i] = conv(f[i]);
  return new Uint8Array(out.buffer);
}

export interface GgufTokenizer {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  bos: number;
  eos: number;
  pad: number;
  addBos: boolean;
  addEos: boolean;
  chatTemplate?: string;
}

/** The llama.cpp "gpt2" (byte-level BPE) vocabulary from tokenizer.json, padded to the embedding's row count. */
export function tokenizerFromHf(dir: string, vocab: number, config: Json): GgufTokenizer {
  const tj = readJson(join(dir, 'tokenizer.json'));
  const model = tj.model as Json | undefined;
  if (!model || model.type !== 'BPE') throw new Error(`export-gguf: ${dir}/tokenizer.json is not a BPE tokenizer`);
  const tokens: (string | undefined)[] = new Array(vocab).fill(undefined);
  const types: number[] = new Array(vocab).fill(TOKEN_NORMAL);
  const put = (tok: string, id: number, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`export-gguf: token ${JSON.stringify(tok)} has id ${id} outside the vocabulary (${vocab})`);
    if (tokens[id] !== undefined && tokens[id] !== tok) throw new Error(`export-gguf: id ${id} is both ${JSON.stringify(tokens[id])} and ${JSON.stringify(tok)}`);
    tokens[id] = tok;
    types[id] = type;
  };
  for (const [tok, id] of Object.entries(model.vocab as Record<string, number>)) put(tok, id, TOKEN_NORMAL);
  for (const a of (tj.added_tokens ?? []) as Array<{ id: number; content: string; special?: boolean }>) {
    put(a.content, a.id, a.special ? TOKEN_CONTROL : TOKEN_USER_DEFINED);
  }
  // Rows of the embedding without a token (padded vocabularies) get placeholder names, as llama.cpp's converter does.
  const finalTokens = tokens.map((t, i) => {
    if (t !== undefined) return t;
    types[i] = TOKEN_UNUSED;
    return `[PAD${i}]`;
  });
  const merges = ((model.merges ?? []) as Array<string | [string, string]>).map((m) => (typeof m === 'string' ? m : `${m[0]} ${m[1]}`));
  let tc: Json = {};
  if (existsSync(join(dir, 'tokenizer_config.json'))) tc = readJson(join(dir, 'tokenizer_config.json'));
  return {
    tokens: finalTokens,
    tokenTypes: types,
    merges,
    bos: int(config, ['bos_token_id'], 1),
    eos: int(config, ['eos_token_id'], 7),
    pad: int(config, ['pad_token_id'], 0),
    addBos: typeof tc.add_bos_token === 'boolean' ? tc.add_bos_token : true,
    addEos: typeof tc.add_eos_token === 'boolean' ? tc.add_eos_token : false,
    chatTemplate: typeof tc.chat_template === 'string' ? tc.chat_template : undefined,
  };
}

export interface ExportResult {
  tensors: number;
  parameters: number;
  bytes: number;
}

/** Writes `out` (GGUF v3, architecture lfm2) from the model folder `dir`. */
export function exportLfm2Gguf(dir: string, out: string, dtype: ExportDtype = 'f32'): ExportResult {
  if (!(dtype in FILE_TYPE)) throw new Error(`export-gguf: dtype must be f32, f16 or bf16, got '${dtype}'`);
  const config = readJson(join(dir, 'config.json'));
  if (config.model_type !== undefined && config.model_type !== 'lfm2') {
    throw new Error(`export-gguf: config.json model_type is '${String(config.model_type)}', expected 'lfm2'`);
  }
  const weights = loadWeights(dir);
  const plan = planFromConfig(config, weights);
  if (plan.hidden % plan.heads !== 0) throw new Error(`export-gguf: hidden_size ${plan.hidden} is not a multiple of ${plan.heads} heads`);
  const map = lfm2TensorMap(plan);
  const known = new Set(map.map((m) => m.hf));
  const tied = config.tie_word_embeddings !== false && config.tie_embedding !== false;
  const extra = [...weights.keys()].filter((k) => !known.has(k) && !(k === 'lm_head.weight' && tied));
  if (extra.length) throw new Error(`export-gguf: unexpected tensors ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`);
  if (!tied) {
    if (!weights.has('lm_head.weight')) throw new Error('export-gguf: tie_word_embeddings is false but lm_head.weight is missing');
    map.push({ hf: 'lm_head.weight', gguf: 'output.weight', shape: [plan.vocab, plan.hidden], ggufShape: [plan.vocab, plan.hidden], keepF32: false });
  }
  const target = GGML_FOR[dtype];
  let parameters = 0;
  const tensors: GgufTensorToWrite[] = map.map((m) => {
    const t = weights.get(m.hf);
    if (!t) throw new Error(`export-gguf: missing tensor ${m.hf}`);
    if (t.shape.length !== m.shape.length || t.shape.some((d, i) => d !== m.shape[i])) {
      throw new Error(`export-gguf: tensor ${m.hf} has shape [${t.shape}], expected [${m.shape}]`);
    }
    parameters += m.shape.reduce((a, b) => a * b, 1);
    const type: GgmlTypeName = m.keepF32 ? 'F32' : target;
    return { name: m.gguf, type, shape: m.ggufShape, data: () => convertTensorBytes(t, type, m.hf) };
  });

  const tok = tokenizerFromHf(dir, plan.vocab, config);
  const u32 = (value: number): GgufValue => ({ type: 'UINT32', value });
  const f32 = (value: number): GgufValue => ({ type: 'FLOAT32', value });
  const str = (value: string): GgufValue => ({ type: 'STRING', value });
  const kv: Array<[string, GgufValue]> = [
    ['general.architecture', str('lfm2')],
    ['general.type', str('model')],
    ['general.name', str(basename(resolve(dir)))],
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ['general.quantization_version', u32(2)],
    ['lfm2.vocab_size', u32(plan.vocab)],
    ['lfm2.context_length', u32(plan.contextLength)],
    ['lfm2.embedding_length', u32(plan.hidden)],
    ['lfm2.feed_forward_length', u32(plan.ffDim)],
    ['lfm2.block_count', u32(plan.layers.length)],
    ['lfm2.attention.head_count', u32(plan.heads)],
    // Per layer: the KV head count for attention layers, 0 for conv layers (how llama.cpp tells them apart).
    ['lfm2.attention.head_count_kv', { type: 'ARRAY', itemType: 'INT32', values: plan.layers.map((l) => (l.attention ? plan.kvHeads : 0)) }],
    ['lfm2.rope.freq_base', f32(plan.ropeTheta)],
    ['lfm2.attention.layer_norm_rms_epsilon', f32(plan.normEps)],
    ['lfm2.shortconv.l_cache', u32(plan.convLCache)],
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str('lfm2')],
    ['tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', values: tok.tokens }],
    ['tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', values: tok.tokenTypes }],
    ['tokenizer.ggml.merges', { type: 'ARRAY', itemType: 'STRING', values: tok.merges }],
    ['tokenizer.ggml.bos_token_id', u32(tok.bos)],
    ['tokenizer.ggml.eos_token_id', u32(tok.eos)],
    ['tokenizer.ggml.padding_token_id', u32(tok.pad)],
    ['tokenizer.ggml.add_bos_token', { type: 'BOOL', value: tok.addBos }],
    ['tokenizer.ggml.add_eos_token', { type: 'BOOL', value: tok.addEos }],
  ];
  if (tok.chatTemplate) kv.push(['tokenizer.chat_template', str(tok.chatTemplate)]);
  writeGguf(out, kv, tensors);
  return { tensors: tensors.length, parameters, bytes: statSync(out).size };
}
