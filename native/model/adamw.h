#pragma once
// AdamW (decoupled weight decay, PyTorch torch.optim.AdamW semantics) over FP32 master weights and FP32 moments,
// with global-norm gradient clipping (HF Trainer / torch.nn.utils.clip_grad_norm_) and a non-finite-gradient guard.
//
// One step t (1-based), for every tensor and element, with g' = g·clip_coef:
//   w ← w·(1 − lr·wd)                      (wd = 0 for tensors marked decay = false)
//   m ← β1·m + (1−β1)·g'      v ← β2·v + (1−β2)·g'²
//   w ← w − (lr / (1−β1^t)) · m / (sqrt(v)/sqrt(1−β2^t) + eps)
// clip_coef = min(1, max_grad_norm / (‖g‖₂ + 1e-6)) over ALL tensors together (1 when max_grad_norm ≤ 0).
// Gradients are read, never modified (the clip coefficient is applied on the fly).
// If any gradient element is NaN or ±Inf the step is skipped: nothing (weights, moments, BF16 copies) is written
// and the result says so, so a bad batch can never put NaN into the weights.
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_features.h"

namespace lfm2 {

struct AdamWTensor {
  int64_t size = 0;
  float* weight = nullptr;         // [size] FP32 master weights (updated in place)
  const float* grad = nullptr;     // [size]
  float* exp_avg = nullptr;        // [size] first moment m
  float* exp_avg_sq = nullptr;     // [size] second moment v
  uint16_t* bf16_copy = nullptr;   // [size] optional BF16 copy rewritten after the update (e.g. the sampler's weights)
  bool decay = true;               // apply weight decay to this tensor
};

struct AdamWConfig {
  // Double, like torch's Python-float hyper-parameters: 1−β is formed in double and only then rounded to FP32.
  double lr = 1e-6;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  double max_grad_norm = 1;  // ≤ 0: no clipping
  SimdIsa isa = SimdIsa::Auto;  // element kernels: Auto = the best the CPU has (tests force each one it supports)
};

struct AdamWResult {
  double grad_norm = 0;   // global L2 norm of the gradients before clipping (NaN/Inf when skipped for that reason)
  double clip_coef = 1;   // factor applied to the gradients
  bool skipped = false;   // true: non-finite gradient, nothing was updated
  int64_t bad_tensor = -1;  // index of the first tensor holding a non-finite gradient, or −1
};

// Global L2 norm of all gradients (double accumulation); sets bad_tensor when a non-finite value is found.
double global_grad_norm(const std::vector<AdamWTensor>& tensors, int64_t* bad_tensor, SimdIsa isa = SimdIsa::Auto);

// Throws unless the step number and hyper-parameters are valid (every backend's optimizer checks the same way).
void check_adamw_args(const AdamWConfig& cfg, int64_t step);

// Applies step number `step` (1-based: the first update is step 1). The caller advances its step counter only when
// the result is not skipped.
AdamWResult adamw_step(const std::vector<AdamWTensor>& tensors, const AdamWConfig& cfg, int64_t step);

}  // namespace lfm2
