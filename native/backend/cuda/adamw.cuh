#pragma once
// Fused AdamW over FP32 master weights with an optional BF16 copy (same semantics as native/model/adamw.h,
// torch.optim.AdamW): with g' = g·clip_coef,
//   w ← w·(1 − lr·wd);  m ← β1·m + (1−β1)·g';  v ← β2·v + (1−β2)·g'²;
//   w ← w − (lr/(1−β1^t))·m/(sqrt(v)/sqrt(1−β2^t) + eps);  bf16 ← round_nearest_even(w).
// The global gradient norm (for clip_coef and the non-finite guard) comes from grad_sumsq first.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// Hyperparameters in double, as the CPU optimizer holds them: the kernel's 1−β constants are rounded to FP32 from
// these (rounding β2 = 0.999 to FP32 first would make 1−β2 off by 1.3e-5 relative).
struct AdamWParams {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0, clip_coef = 1;
  int64_t step = 1;  // 1-based
};

// sumsq[0] += Σ g² (double accumulation, caller zeroes it); a NaN/Inf gradient makes it non-finite.
void grad_sumsq(const float* g, int64_t n, double* sumsq, cudaStream_t stream);

void adamw_update(float* w, const float* g, float* m, float* v, __nv_bfloat16* bf16_copy, int64_t n,
                  const AdamWParams& p, cudaStream_t stream);

}  // namespace lfm2::cuda
