// Model presets in Hugging Face config.json form, with LFM2's real key names (as in the released LFM2-350M config,
// including its legacy aliases). `tiny` keeps the architecture (conv + GQA attention layers, QK norm, tied head)
// at toy widths for tests; `small` is the smallest model that learns the built-in task suite on a CPU.

export type HfConfig = Record<string, unknown>;

export const PRESET_NAMES = ['tiny', 'small', 'lfm2-350m'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function layerTypes(n: number, attention: readonly number[]): string[] {
  return Array.from({ length: n }, (_, i) => (attention.includes(i) ? 'full_attention' : 'conv'));
}

function lfm2Config(p: {
  vocab: number;
  hidden: number;
  layers: number;
  attention: readonly number[];
  heads: number;
  kvHeads: number;
  blockFfDim: number;
  multipleOf: number;
}): HfConfig {
  return {
    architectures: ['Lfm2ForCausalLM'],
    model_type: 'lfm2',
    vocab_size: p.vocab,
    hidden_size: p.hidden,
    block_dim: p.hidden,
    conv_dim: p.hidden,
    conv_dim_out: p.hidden,
    num_hidden_layers: p.layers,
    layer_types: layerTypes(p.layers, p.attention),
    full_attn_idxs: [...p.attention],
    num_attention_heads: p.heads,
    num_heads: p.heads,
    num_key_value_heads: p.kvHeads,
    intermediate_size: p.blockFfDim,
    block_ff_dim: p.blockFfDim,
    block_auto_adjust_ff_dim: true,
    block_ffn_dim_multiplier: 1.0,
    block_multiple_of: p.multipleOf,
    block_use_swiglu: true,
    block_use_xavier_init: true,
    block_mlp_init_scale: 1.0,
    block_out_init_scale: 1.0,
    conv_L_cache: 3,
    conv_bias: false,
    conv_use_xavier_init: true,
    norm_eps: 1e-5,
    block_norm_eps: 1e-5,
    rope_theta: 1000000.0,
    theta: 1000000.0,
    use_pos_enc: true,
    max_position_embeddings: 128000,
    initializer_range: 0.02,
    tie_word_embeddings: true,
    tie_embedding: true,
    bos_token_id: 1,
    eos_token_id: 7,
    pad_token_id: 0,
    use_cache: true,
    torch_dtype: 'bfloat16',
  };
}

export function presetConfig(name: PresetName): HfConfig {
  switch (name) {
    case 'tiny':
      // ff: int(2·256/3) = 170 → multiple of 32 → 192.
      return lfm2Config({ vocab: 512, hidden: 64, layers: 6, attention: [2, 4], heads: 4, kvHeads: 2, blockFfDim: 256, multipleOf: 32 });
    case 'small':
      // The size that learns the whole built-in suite on 2 CPU cores: 8 layers with LFM2's pattern (attention at
      // 2, 5, 7: enough attention layers to look a goal's value up in the page and copy its bid), head_dim 32, a
      // 2,048-id vocabulary whose merges cover web-page words (prompts ~1.8× shorter than at 512 ids).
      // ff: int(2·512/3) = 341 → multiple of 32 → 352. ≈ 1.8 M parameters (0.26 M of them the tied embedding).
      return lfm2Config({ vocab: 2048, hidden: 128, layers: 8, attention: [2, 5, 7], heads: 4, kvHeads: 2, blockFfDim: 512, multipleOf: 32 });
    case 'lfm2-350m':
      // ff: int(2·6656/3) = 4437 → multiple of 256 → 4608 (docs/lfm2.md §1).
      return lfm2Config({
        vocab: 65536,
        hidden: 1024,
        layers: 16,
        attention: [2, 5, 8, 10, 12, 14],
        heads: 16,
        kvHeads: 8,
        blockFfDim: 6656,
        multipleOf: 256,
      });
  }
}

export function isPresetName(s: string): s is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(s);
}

/**
 * A preset with some layers/vocab changed, keeping every other number (used by tests for e.g. a 2-layer slice of the
 * 350M shapes). `attention` lists the attention layer indices of the new layer count.
 */
export function derivedConfig(name: PresetName, change: { layers?: number; attention?: number[]; vocab?: number }): HfConfig {
  const c = presetConfig(name);
  if (change.layers !== undefined || change.attention !== undefined) {
    const layers = change.layers ?? (c.num_hidden_layers as number);
    const attention = change.attention ?? (c.full_attn_idxs as number[]).filter((i) => i < layers);
    c.num_hidden_layers = layers;
    c.layer_types = layerTypes(layers, attention);
    c.full_attn_idxs = attention;
  }
  if (change.vocab !== undefined) c.vocab_size = change.vocab;
  return c;
}

/** The FFN width rule of HF Lfm2MLP and llama.cpp (docs/lfm2.md §1). */
export function ffnWidth(c: HfConfig): number {
  let ff = (c.intermediate_size ?? c.block_ff_dim) as number;
  if (c.block_auto_adjust_ff_dim ?? true) {
    ff = Math.trunc((2 * ff) / 3);
    const m = c.block_ffn_dim_multiplier as number | null | undefined;
    if (m != null) ff = Math.trunc(m * ff);
    const mult = (c.block_multiple_of ?? 256) as number;
    ff = mult * Math.ceil(ff / mult);
  }
  return ff;
}
