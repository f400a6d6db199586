#pragma once
// RMSNorm (docs/lfm2.md §3.2): y = w ⊙ x·rstd, rstd = 1/sqrt(mean(x²) + eps). Rows are tokens (operator/ffn/final
// norms, n = C) or tokens × heads (per-head q/k norms, n = D, one weight shared by every head): the per-head norm is
// this same launcher over [T·H, D]. One warp per row. x, y: [rows, n] contiguous; y may equal x.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// rstd: [rows] (optional) for the backward.
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps,
                     cudaStream_t stream);

// dx = rstd·(w⊙dy − x̂·mean(x̂⊙w⊙dy)) with x̂ = x·rstd (overwritten); dw += Σ_rows dy⊙x̂ (accumulated).
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t n, cudaStream_t stream);

}  // namespace lfm2::cuda
