#include "backend/cpu/swiglu.h"

#include <cmath>

#include "backend/cpu/swiglu_kernels.h"
#include "core/threadpool.h"

namespace lfm2 {

namespace cpu {

void swiglu_forward_portable(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = a[i];
    out[i] = x / (1.0f + std::exp(-x)) * b[i];
  }
}

bool swiglu_use_avx512(SimdIsa isa) { return simd_isa_choose(isa, false, "swiglu") == SimdIsa::Avx512; }

}  // namespace cpu

void swiglu_forward(const float* a, const float* b, float* out, int64_t n, SimdIsa isa) {
  const bool avx512 = cpu::swiglu_use_avx512(isa);
  parallel_for(n, [&](int64_t i0, int64_t i1, int) {
    if (avx512)
      cpu::swiglu_forward_avx512(a + i0, b + i0, out + i0, i1 - i0);
    else
      cpu::swiglu_forward_portable(a + i0, b + i0, out + i0, i1 - i0);
  }, 4096);
}

}  // namespace lfm2
