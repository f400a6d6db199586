#include "model/adamw.h"

#include <cmath>
#include <algorithm>
#include <limits>
#include <vector>

#include "backend/cpu/adamw_kernels.h"
#include "backend/cpu/cpu_features.h"
#include "core/bf16.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

namespace {

// The AVX-512 element kernels, or the portable ones (AVX2-only CPUs run the portable loop, which the compiler
// vectorises with SSE: the step is bound by memory bandwidth there too).
bool use_avx512(SimdIsa isa) { return simd_isa_choose(isa, false, "adamw") == SimdIsa::Avx512; }

}  // namespace

double global_grad_norm(const std::vector<AdamWTensor>& tensors, int64_t* bad_tensor, SimdIsa isa) {
  double total = 0;
  if (bad_tensor) *bad_tensor = -1;
  const int nt = num_threads();
  const bool avx512 = use_avx512(isa);
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const AdamWTensor& t = tensors[ti];
    std::vector<double> part(size_t(nt), 0.0);  // per-thread partial sums, added in thread order (deterministic)
    parallel_for(
        t.size,
        [&](int64_t i0, int64_t i1, int tid) {
          part[size_t(tid)] = avx512 ? sum_squares_avx512(t.grad, i0, i1) : sum_squares_portable(t.grad, i0, i1);
        },
        1 << 14);
    double s = 0;
    for (int k = 0; k < nt; ++k) s += part[size_t(k)];
    // A finite float squared never overflows a double, so the sum is finite exactly when every element is.
    if (!std::isfinite(s) && bad_tensor && *bad_tensor < 0) *bad_tensor = int64_t(ti);
    total += s;
  }
  if (bad_tensor && *bad_tensor >= 0) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(total);
}

void check_adamw_args(const AdamWConfig& cfg, int64_t step) {
  LFM2_CHECK(step >= 1, "adamw_step: step must be >= 1 (1-based), got ", step);
  LFM2_CHECK(std::isfinite(cfg.lr) && cfg.lr >= 0, "adamw_step: lr must be finite and >= 0, got ", cfg.lr);
  LFM2_CHECK(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1,
             "adamw_step: betas must be in [0, 1), got ", cfg.beta1, ", ", cfg.beta2);
  LFM2_CHECK(cfg.eps > 0, "adamw_step: eps must be > 0");
  LFM2_CHECK(cfg.weight_decay >= 0, "adamw_step: weight_decay must be >= 0");
}

AdamWResult adamw_step(const std::vector<AdamWTensor>& tensors, const AdamWConfig& cfg, int64_t step) {
  check_adamw_args(cfg, step);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const AdamWTensor& t = tensors[i];
    LFM2_CHECK(t.size >= 0 && t.weight && t.grad && t.exp_avg && t.exp_avg_sq, "adamw_step: tensor ", i,
               " is missing a buffer");
  }
  AdamWResult res;
  const bool avx512 = use_avx512(cfg.isa);
  res.grad_norm = global_grad_norm(tensors, &res.bad_tensor, cfg.isa);
  if (res.bad_tensor >= 0) {
    res.skipped = true;
    res.clip_coef = 0;
    return res;
  }
  if (cfg.max_grad_norm > 0) res.clip_coef = std::min(1.0, cfg.max_grad_norm / (res.grad_norm + 1e-6));
  const double bc1 = 1.0 - std::pow(cfg.beta1, double(step));
  const double bc2 = 1.0 - std::pow(cfg.beta2, double(step));
  AdamWStepConsts k;
  k.coef = float(res.clip_coef);
  k.b1 = float(cfg.beta1);
  k.b2 = float(cfg.beta2);
  k.one_minus_b1 = float(1.0 - cfg.beta1);
  k.one_minus_b2 = float(1.0 - cfg.beta2);
  k.step_size = float(cfg.lr / bc1);
  k.inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  k.eps = float(cfg.eps);
  for (const AdamWTensor& t : tensors) {
    AdamWStepConsts kt = k;
    kt.decay = t.decay ? float(1.0 - cfg.lr * cfg.weight_decay) : 1.f;
    parallel_for(
        t.size,
        [&](int64_t i0, int64_t i1, int) {
          if (avx512)
            adamw_update_avx512(kt, t.weight, t.grad, t.exp_avg, t.exp_avg_sq, t.bf16_copy, i0, i1);
          else
            adamw_update_portable(kt, t.weight, t.grad, t.exp_avg, t.exp_avg_sq, t.bf16_copy, i0, i1);
        },
        1 << 14);
  }
  return res;
}

}  // namespace lfm2
