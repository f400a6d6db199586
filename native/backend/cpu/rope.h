#pragma once
// Rotary position embedding, NeoX half-split layout over the whole head (docs/lfm2.md §3.4):
//   inv_freq_i = theta^(-2i/D), angle = p·inv_freq_i, pairs (i, i + D/2):
//   x'_i = x_i·cos − x_{i+D/2}·sin,   x'_{i+D/2} = x_{i+D/2}·cos + x_i·sin
// Angles and cos/sin are computed in double and stored as float: at positions ~32k an fp32 angle product loses
// ~1e-3 rad, which is visible in the logits, while the table costs T·D/2 entries per call.
#include <cstdint>

namespace lfm2 {

// pos: [T] absolute positions; cos_out/sin_out: [T, head_dim/2].
void rope_table(const int32_t* pos, int64_t T, int64_t head_dim, double theta, float* cos_out, float* sin_out);

// In place. x: [T, n_heads, head_dim] with row stride row_stride between tokens (heads contiguous inside a row).
void rope_forward(float* x, int64_t row_stride, int64_t T, int64_t n_heads, int64_t head_dim, const float* cos_t,
                  const float* sin_t);

}  // namespace lfm2
