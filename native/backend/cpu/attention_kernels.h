#pragma once
// Internal to attention.cpp: the per-row kernels. One call handles the G query heads that share one KV head
// (GQA), so each key/value row is loaded once for all of them.
//   q:   [G, D] the G query heads of one row (contiguous, as in a [T, H*D] row)
//   k,v: [n_vis, *] key/value rows of this KV head, row stride kv_stride
//   out: [G, D]; lse: [G] (optional); scores: scratch of G·n_vis floats
#include <cstdint>

namespace lfm2::attention_kernels {

void attend_group_portable(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t n_vis,
                           int64_t D, int64_t G, float scale, float* scores, float* out, float* lse);

// Requires cpu_features().has_avx2_fma() and D % 8 == 0.
void attend_group_avx2(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t n_vis, int64_t D,
                         int64_t G, float scale, float* scores, float* out, float* lse);

}  // namespace lfm2::attention_kernels
