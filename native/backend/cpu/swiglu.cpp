#include "backend/cpu/swiglu.h"

#include <cmath>

#include "core/threadpool.h"

namespace lfm2 {

void swiglu_forward(const float* a, const float* b, float* out, int64_t n) {
  parallel_for(n, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      float x = a[i];
      out[i] = x / (1.0f + std::exp(-x)) * b[i];
    }
  }, 4096);
}

}  // namespace lfm2
