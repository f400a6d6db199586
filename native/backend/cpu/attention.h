#pragma once
// Causal grouped-query attention over a ragged batch (docs/lfm2.md §3.4), after the q/k norms and RoPE:
//   for query head j (KV head g = j / (H / KVH)):  o_j = softmax(q̂_j·k̂_gᵀ·scale + causal mask)·v_g
// Each sequence brings n_q new query rows and a context of n_kv ≥ n_q keys/values (a KV cache followed by the new
// tokens, or just the new tokens for a fresh sequence); query i sits at position n_kv − n_q + i and sees keys
// 0 ..= that position. Softmax in FP32 with max subtraction.
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_features.h"

namespace lfm2 {

struct AttentionSeq {
  const float* q;  // [n_q, H*D] row stride q_stride (head-major inside a row)
  const float* k;  // [n_kv, KVH*D] row stride kv_stride
  const float* v;  // [n_kv, KVH*D] row stride kv_stride
  float* out;      // [n_q, H*D] row stride out_stride
  float* lse;      // [n_q, H] log-sum-exp of the scaled scores (optional; training keeps it for the backward)
  int64_t n_q = 0, n_kv = 0;
};

struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;
  int64_t q_stride, kv_stride, out_stride;
  float scale;  // head_dim^-0.5
  SimdIsa isa = SimdIsa::Auto;  // kernel family (tests force each one the CPU has)
};

void attention_forward(const std::vector<AttentionSeq>& seqs, const AttentionShape& shape);

}  // namespace lfm2
