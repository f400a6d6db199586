// AVX-512F row kernels for the vocabulary softmax (see softmax_rows.h). Compiled with AVX-512 flags; only called
// after a run-time CPU check.
// GCC 12's own _mm512_reduce_* helpers trip -Wuninitialized / -Wmaybe-uninitialized inside avx512fintrin.h.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/backward/softmax_rows.h"
#include "backend/cpu/exp_avx512.h"

namespace lfm2::cpu {
namespace {

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1u); }

// Adds the 16 floats of a into two 8-double accumulators.
inline void add_pd(__m512d& lo, __m512d& hi, __m512 a) {
  lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(a)));
  hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
}

}  // namespace

float row_scale_max_avx512(float* z, int64_t V, float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int64_t v = 0; v < V; v += 16) {
    const __mmask16 k = tail_mask(V - v);
    const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, z + v), s);
    _mm512_mask_storeu_ps(z + v, k, x);
    m = _mm512_mask_max_ps(m, k, m, x);
  }
  return _mm512_reduce_max_ps(m);
}

void row_exp_stats_avx512(float* z, int64_t V, float shift, double* sum, double* sum_ez) {
  const __m512 sh = _mm512_set1_ps(shift);
  __m512d s_lo = _mm512_setzero_pd(), s_hi = _mm512_setzero_pd();
  __m512d sz_lo = _mm512_setzero_pd(), sz_hi = _mm512_setzero_pd();
  for (int64_t v = 0; v < V; v += 16) {
    const __mmask16 k = tail_mask(V - v);
    const __m512 x = _mm512_maskz_loadu_ps(k, z + v);
    const __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(x, sh)));
    _mm512_mask_storeu_ps(z + v, k, e);
    add_pd(s_lo, s_hi, e);
    add_pd(sz_lo, sz_hi, _mm512_mul_ps(e, x));
  }
  *sum = _mm512_reduce_add_pd(_mm512_add_pd(s_lo, s_hi));
  *sum_ez = _mm512_reduce_add_pd(_mm512_add_pd(sz_lo, sz_hi));
}

void row_exp_scaled_avx512(const float* src, float* dst, int64_t V, float shift, float kf) {
  const __m512 sh = _mm512_set1_ps(shift), kk = _mm512_set1_ps(kf);
  for (int64_t v = 0; v < V; v += 16) {
    const __mmask16 k = tail_mask(V - v);
    const __m512 x = _mm512_maskz_loadu_ps(k, src + v);
    _mm512_mask_storeu_ps(dst + v, k, _mm512_mul_ps(kk, exp16(_mm512_sub_ps(x, sh))));
  }
}

}  // namespace lfm2::cpu
