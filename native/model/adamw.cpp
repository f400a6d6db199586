#include "model/adamw.h"

#include <cmath>
#include <algorithm>
#include <limits>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

double global_grad_norm(const std::vector<AdamWTensor>& tensors, int64_t* bad_tensor) {
  double total = 0;
  if (bad_tensor) *bad_tensor = -1;
  const int nt = num_threads();
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const AdamWTensor& t = tensors[ti];
    std::vector<double> part(size_t(nt), 0.0);  // per-thread partial sums, added in thread order (deterministic)
    std::vector<char> bad(size_t(nt), 0);
    parallel_for(
        t.size,
        [&](int64_t i0, int64_t i1, int tid) {
          double s = 0;
          bool b = false;
          for (int64_t i = i0; i < i1; ++i) {
            const float g = t.grad[i];
            if (!std::isfinite(g)) b = true;
            s += double(g) * g;
          }
          part[size_t(tid)] = s;
          bad[size_t(tid)] = b;
        },
        4096);
    for (int k = 0; k < nt; ++k) {
      total += part[size_t(k)];
      if (bad[size_t(k)] && bad_tensor && *bad_tensor < 0) *bad_tensor = int64_t(ti);
    }
  }
  if (bad_tensor && *bad_tensor >= 0) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(total);
}

AdamWResult adamw_step(const std::vector<AdamWTensor>& tensors, const AdamWConfig& cfg, int64_t step) {
  LFM2_CHECK(step >= 1, "adamw_step: step must be >= 1 (1-based), got ", step);
  LFM2_CHECK(std::isfinite(cfg.lr) && cfg.lr >= 0, "adamw_step: lr must be finite and >= 0, got ", cfg.lr);
  LFM2_CHECK(cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1,
             "adamw_step: betas must be in [0, 1), got ", cfg.beta1, ", ", cfg.beta2);
  LFM2_CHECK(cfg.eps > 0, "adamw_step: eps must be > 0");
  LFM2_CHECK(cfg.weight_decay >= 0, "adamw_step: weight_decay must be >= 0");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const AdamWTensor& t = tensors[i];
    LFM2_CHECK(t.size >= 0 && t.weight && t.grad && t.exp_avg && t.exp_avg_sq, "adamw_step: tensor ", i,
               " is missing a buffer");
  }
  AdamWResult res;
  res.grad_norm = global_grad_norm(tensors, &res.bad_tensor);
  if (res.bad_tensor >= 0) {
    res.skipped = true;
    res.clip_coef = 0;
    return res;
  }
  if (cfg.max_grad_norm > 0) res.clip_coef = std::min(1.0, cfg.max_grad_norm / (res.grad_norm + 1e-6));
  const double bc1 = 1.0 - std::pow(cfg.beta1, double(step));
  const double bc2 = 1.0 - std::pow(cfg.beta2, double(step));
  const float step_size = float(cfg.lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  const float b1 = float(cfg.beta1), b2 = float(cfg.beta2), eps = float(cfg.eps), coef = float(res.clip_coef);
  const float one_minus_b1 = float(1.0 - cfg.beta1), one_minus_b2 = float(1.0 - cfg.beta2);
  for (const AdamWTensor& t : tensors) {
    const float decay = t.decay ? float(1.0 - cfg.lr * cfg.weight_decay) : 1.f;
    parallel_for(
        t.size,
        [&](int64_t i0, int64_t i1, int) {
          for (int64_t i = i0; i < i1; ++i) {
            const float g = t.grad[i] * coef;
            float w = t.weight[i] * decay;
            const float m = b1 * t.exp_avg[i] + one_minus_b1 * g;
            const float v = b2 * t.exp_avg_sq[i] + one_minus_b2 * g * g;
            w -= step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + eps);
            t.exp_avg[i] = m;
            t.exp_avg_sq[i] = v;
            t.weight[i] = w;
            if (t.bf16_copy) t.bf16_copy[i] = f32_to_bf16(w);
          }
        },
        4096);
  }
  return res;
}

}  // namespace lfm2
