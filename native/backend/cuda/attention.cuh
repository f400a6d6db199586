#pragma once
// Causal grouped-query attention over a ragged batch (docs/lfm2.md §3.4), after q/k norms and RoPE:
//   o_j = softmax(q̂_j·K̂_gᵀ·scale + causal mask)·V_g,   g = j / (H / KVH).
// Sequence s owns query rows [q_row0[s], q_row0[s+1]) and a context of keys/values at k[s], v[s] (rows of
// KVH·D floats): the KV cache followed by the new rows (decode/prefill over a cache) or just the new rows (fresh).
// Query i of s sits at position q_pos0[s] + i and sees keys 0..=that position. One block per (query row, head)
// streams the keys in tiles with an online softmax (flash-style: never materialises the score matrix), so prefill,
// training and decode over a cache of any length are one kernel.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

struct AttentionBatch {
  int64_t T = 0, nseq = 0;            // query rows, sequences
  int64_t H = 0, KVH = 0, D = 0;      // D ≤ 256
  float scale = 0.f;                  // D^-1/2
  const int32_t* q_row0 = nullptr;    // [nseq + 1] device
  const int32_t* q_pos0 = nullptr;    // [nseq] device: position of each sequence's first query row
  const int32_t* row_seq = nullptr;   // [T] device: sequence of each query row
  const float* const* k = nullptr;    // [nseq] device array of device pointers to [n_kv, KVH·D]
  const float* const* v = nullptr;    // [nseq]
};

// q: [T, H·D]; out: [T, H·D]; lse: [T, H] (optional) log-sum-exp of the scaled scores.
void attention_forward(const AttentionBatch& b, const float* q, float* out, float* lse, cudaStream_t stream);

// Backward for fresh sequences (keys = the sequence's own rows; k/v of the batch point at them). dq overwritten;
// dk, dv (same layout as k, v: [T, KVH·D]) must be zeroed by the caller and are accumulated with atomics because
// the H/KVH query heads of a group and every later query write the same key rows.
void attention_backward(const AttentionBatch& b, const float* q, const float* out, const float* lse,
                        const float* dout, float* dq, float* const* dk, float* const* dv, cudaStream_t stream);

}  // namespace lfm2::cuda
