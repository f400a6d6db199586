#pragma once
// RMSNorm forward (docs/lfm2.md §3.2): y = w ⊙ x / sqrt(mean(x²) + eps), eps inside the sqrt, plain weight (not 1 + w).
// Used for the operator/ffn/final norms (rows = tokens, n = hidden) and for the per-head q/k norms
// (rows = tokens × heads, n = head_dim, one weight shared by every head).
#include <cstdint>

namespace lfm2 {

// x: [rows, n] with row stride x_stride; w: [n]; y: [rows, n] with row stride y_stride (y may equal x).
// rstd: [rows] (optional) receives 1/sqrt(mean(x²)+eps), which the backward pass reuses.
void rmsnorm_forward(const float* x, int64_t x_stride, const float* w, float* y, int64_t y_stride, float* rstd,
                     int64_t rows, int64_t n, float eps);

}  // namespace lfm2
