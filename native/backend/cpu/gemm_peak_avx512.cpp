// AVX-512 peak probes (see gemm_kernels.h); called only when cpu_features().has_avx512() (and _bf16 for the dot).
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own _mm512_undefined_* placeholders
// (GCC bug 105593); the reductions below avoid the one expansion the pragma does not cover.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/gemm_kernels.h"

namespace lfm2::gemm_kernels {
namespace {

// Horizontal sum without _mm512_reduce_add_ps (see the GCC 12 note at the top).
inline float hsum16(__m512 v) {
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));  // + other 256-bit half
  v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));  // + neighbouring 128-bit lane
  __m128 s = _mm512_castps512_ps128(v);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 12 independent chains (named variables so they stay in zmm registers) of op(acc, x, y).
template <class Op>
double stream_rate(double seconds, double flop_per_op, Op op) {
  __m512 c0 = _mm512_set1_ps(0.f), c1 = _mm512_set1_ps(1e-3f), c2 = _mm512_set1_ps(2e-3f), c3 = _mm512_set1_ps(3e-3f);
  __m512 c4 = _mm512_set1_ps(4e-3f), c5 = _mm512_set1_ps(5e-3f), c6 = _mm512_set1_ps(6e-3f), c7 = _mm512_set1_ps(7e-3f);
  __m512 c8 = _mm512_set1_ps(8e-3f), c9 = _mm512_set1_ps(9e-3f), c10 = _mm512_set1_ps(1e-2f), c11 = _mm512_set1_ps(1.1e-2f);
  constexpr int64_t kInner = 1 << 16;
  int64_t iters = 0;
  const double t0 = thread_cpu_seconds();
  double elapsed = 0;
  do {
    for (int64_t it = 0; it < kInner; ++it) {
      c0 = op(c0), c1 = op(c1), c2 = op(c2), c3 = op(c3), c4 = op(c4), c5 = op(c5);
      c6 = op(c6), c7 = op(c7), c8 = op(c8), c9 = op(c9), c10 = op(c10), c11 = op(c11);
      __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7), "+v"(c8),
                       "+v"(c9), "+v"(c10), "+v"(c11));
    }
    iters += kInner;
    elapsed = thread_cpu_seconds() - t0;
  } while (elapsed < seconds);
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                           _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
  volatile float sink = hsum16(s);
  (void)sink;
  return double(iters) * 12 * 16 * flop_per_op / elapsed;
}

}  // namespace

double fma_peak_avx512(double seconds) {
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  return stream_rate(seconds, 2.0, [&](__m512 c) { return _mm512_fmadd_ps(c, x, y); });
}

double dot_bf16_peak_avx512(double seconds) {
  // Each FP32 lane gets a[2i]*b[2i] + a[2i+1]*b[2i+1]: 2 multiplies + 2 adds = 4 FLOP.
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(-1e-3f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  return stream_rate(seconds, 4.0, [&](__m512 c) { return _mm512_dpbf16_ps(c, x, y); });
}

}  // namespace lfm2::gemm_kernels
