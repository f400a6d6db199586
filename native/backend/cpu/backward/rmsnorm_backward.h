#pragma once
// RMSNorm backward (docs/lfm2.md §4). Forward per row x ∈ R^n:  r = 1/sqrt(mean(x²) + eps),  x̂ = x·r,  y = w ⊙ x̂.
//   gw = dy ⊙ w
//   dx = r · (gw − x̂ · mean_j(gw_j · x̂_j))
//   dw = Σ_rows dy ⊙ x̂
// r and x̂ are recomputed from x (cheaper to recompute than to store).
//
// Gradient accumulation policy: activation gradient dx is written (=), parameter gradient dw is accumulated (+=).
// dx may alias dy (each row reads dy fully before writing dx).
#include <cstdint>

namespace lfm2::cpu {

// x, dy, dx: [rows, n]   w, dw: [n]
void rmsnorm_backward(int64_t rows, int64_t n, const float* x, const float* w, const float* dy, float eps, float* dx,
                      float* dw);

// Per-head q/k norm: x, dy, dx: [tokens, heads, head_dim]; one weight w/dw [head_dim] shared by every head,
// so dw sums over tokens and heads. Same math as rmsnorm_backward with rows = tokens·heads.
void rmsnorm_heads_backward(int64_t tokens, int64_t heads, int64_t head_dim, const float* x, const float* w,
                            const float* dy, float eps, float* dx, float* dw);

}  // namespace lfm2::cpu
