// Portable AdamW element kernels (the reference order of operations the SIMD versions reproduce).
#include <cmath>

#include "backend/cpu/adamw_kernels.h"
#include "core/bf16.h"

namespace lfm2 {

void adamw_update_portable(const AdamWStepConsts& k, float* w, const float* g, float* m, float* v, uint16_t* bf16,
                           int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    const float gi = g[i] * k.coef;
    float wi = w[i] * k.decay;
    const float mi = k.b1 * m[i] + k.one_minus_b1 * gi;
    const float vi = k.b2 * v[i] + k.one_minus_b2 * gi * gi;
    wi -= k.step_size * mi / (std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps);
    m[i] = mi;
    v[i] = vi;
    w[i] = wi;
    if (bf16) bf16[i] = f32_to_bf16(wi);
  }
}

double sum_squares_portable(const float* g, int64_t i0, int64_t i1) {
  double s = 0;
  for (int64_t i = i0; i < i1; ++i) s += double(g[i]) * g[i];
  return s;
}

}  // namespace lfm2
