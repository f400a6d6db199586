// AVX-512 AdamW element kernels (compiled with the AVX-512 flags; called only when cpu_features().has_avx512()).
// A step reads w, g, m, v and writes w, m, v and the BF16 copy: ~30 bytes per parameter, so it is bound by memory
// bandwidth; 16 lanes per instruction keep the arithmetic (a square root and a division per element) off the
// critical path. Contraction into FMAs is disabled so that every lane rounds exactly as the portable loop does.
#pragma GCC optimize("fp-contract=off")
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own _mm512_undefined_* placeholders (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/adamw_kernels.h"
#include "backend/cpu/bf16_avx512.h"

namespace lfm2 {

void adamw_update_avx512(const AdamWStepConsts& k, float* w, const float* g, float* m, float* v, uint16_t* bf16,
                         int64_t i0, int64_t i1) {
  const __m512 coef = _mm512_set1_ps(k.coef), decay = _mm512_set1_ps(k.decay), b1 = _mm512_set1_ps(k.b1),
               omb1 = _mm512_set1_ps(k.one_minus_b1), b2 = _mm512_set1_ps(k.b2),
               omb2 = _mm512_set1_ps(k.one_minus_b2), step = _mm512_set1_ps(k.step_size),
               inv = _mm512_set1_ps(k.inv_sqrt_bc2), eps = _mm512_set1_ps(k.eps);
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    const __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), coef);
    __m512 wi = _mm512_mul_ps(_mm512_loadu_ps(w + i), decay);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(omb1, gi));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(omb2, gi), gi));
    const __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), inv), eps);
    wi = _mm512_sub_ps(wi, _mm512_div_ps(_mm512_mul_ps(step, mi), den));
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    _mm512_storeu_ps(w + i, wi);
    if (bf16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(bf16 + i), round16_bf16(wi));
  }
  adamw_update_portable(k, w, g, m, v, bf16, i, i1);
}

double sum_squares_avx512(const float* g, int64_t i0, int64_t i1) {
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  int64_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    const __m512 x = _mm512_loadu_ps(g + i);
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    a0 = _mm512_add_pd(a0, _mm512_mul_pd(lo, lo));
    a1 = _mm512_add_pd(a1, _mm512_mul_pd(hi, hi));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1)) + sum_squares_portable(g, i, i1);
}

}  // namespace lfm2
