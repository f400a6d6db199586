#include "backend/cpu/backward/swiglu_backward.h"

#include <cmath>

#include "backend/cpu/swiglu_kernels.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {

void swiglu_backward_portable(const float* a, const float* b, const float* dh, float* da, float* db, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const float x = a[j], y = b[j], g = dh[j];
    const float sg = 1.f / (1.f + std::exp(-x));
    const float silu = x * sg;
    da[j] = g * y * sg * (1.f + x * (1.f - sg));
    db[j] = g * silu;
  }
}

void swiglu_backward(int64_t rows, int64_t F, const float* a, const float* b, int64_t ld_ab, const float* dh,
                     int64_t ld_dh, float* da, float* db, SimdIsa isa) {
  LFM2_CHECK(rows >= 0 && F > 0 && ld_ab >= F && ld_dh >= F, "swiglu_backward: bad shape rows=", rows, " F=", F,
             " ld_ab=", ld_ab, " ld_dh=", ld_dh);
  const bool avx512 = swiglu_use_avx512(isa);
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
          if (avx512)
            swiglu_backward_avx512(a + r * ld_ab, b + r * ld_ab, dh + r * ld_dh, da + r * ld_ab, db + r * ld_ab, F);
          else
            swiglu_backward_portable(a + r * ld_ab, b + r * ld_ab, dh + r * ld_dh, da + r * ld_ab, db + r * ld_ab, F);
        }
      },
      8);
}

}  // namespace lfm2::cpu
