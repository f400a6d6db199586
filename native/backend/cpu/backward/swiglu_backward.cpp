#include "backend/cpu/backward/swiglu_backward.h"

#include <cmath>

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {

void swiglu_backward(int64_t rows, int64_t F, const float* a, const float* b, int64_t ld_ab, const float* dh,
                     int64_t ld_dh, float* da, float* db) {
  LFM2_CHECK(rows >= 0 && F > 0 && ld_ab >= F && ld_dh >= F, "swiglu_backward: bad shape rows=", rows, " F=", F,
             " ld_ab=", ld_ab, " ld_dh=", ld_dh);
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* ar = a + r * ld_ab;
          const float* br = b + r * ld_ab;
          const float* gr = dh + r * ld_dh;
          float* dar = da + r * ld_ab;
          float* dbr = db + r * ld_ab;
          for (int64_t j = 0; j < F; ++j) {
            const float x = ar[j], y = br[j], g = gr[j];
            const float sg = 1.f / (1.f + std::exp(-x));
            const float silu = x * sg;
            dar[j] = g * y * sg * (1.f + x * (1.f - sg));
            dbr[j] = g * silu;
          }
        }
      },
      8);
}

}  // namespace lfm2::cpu
