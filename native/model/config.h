#pragma once
// LFM2 model configuration, parsed from a Hugging Face config.json (docs/lfm2.md §1). Both the current key names and the
// legacy aliases are accepted: layer_types | full_attn_idxs, intermediate_size | block_ff_dim, norm_eps |
// block_norm_eps, rope_theta | theta, tie_word_embeddings | tie_embedding, hidden_size | block_dim,
// num_attention_heads | num_heads.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lfm2 {

struct Lfm2Config {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;         // C
  int64_t num_layers = 0;
  int64_t num_heads = 0;           // H
  int64_t num_kv_heads = 0;        // KVH
  int64_t head_dim = 0;            // D = C / H (the config has no head_dim key)
  int64_t ff_dim = 0;              // F, the real FFN width after the adjustment rule (and after checking tensors)
  int64_t conv_L_cache = 3;
  std::vector<bool> is_attention;  // [num_layers]
  double norm_eps = 1e-5;
  double rope_theta = 1e6;
  bool tie_embedding = true;
  int64_t max_position_embeddings = 128000;
  int64_t bos_token_id = 1, eos_token_id = 7, pad_token_id = 0;

  // Raw FFN numbers, kept so info() can show how ff_dim was derived.
  int64_t block_ff_dim = 0;
  bool block_auto_adjust_ff_dim = true;
  double block_ffn_dim_multiplier = 1.0;  // 0 when the key is absent or null
  int64_t block_multiple_of = 256;

  int64_t num_attention_layers() const;
  // Index of layer l among the attention (resp. conv) layers; -1 if l is the other kind.
  int64_t attention_index(int64_t layer) const;
  int64_t conv_index(int64_t layer) const;
};

// The FFN width rule shared by HF Lfm2MLP and llama.cpp: int(2ff/3) if auto-adjust, int(multiplier·ff) if set,
// then round up to a multiple of multiple_of.
int64_t lfm2_ffn_width(int64_t block_ff_dim, bool auto_adjust, double multiplier, int64_t multiple_of);

// Parses config.json text; `source` names the file in error messages. Throws lfm2::Error on missing/invalid keys.
Lfm2Config parse_lfm2_config(std::string_view json_text, const std::string& source);
Lfm2Config load_lfm2_config(const std::string& model_dir);

}  // namespace lfm2
