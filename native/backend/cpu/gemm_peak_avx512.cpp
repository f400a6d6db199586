// AVX-512 peak probes (see gemm_kernels.h); called only when cpu_features().has_avx512() (and _bf16 for the dot).
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own _mm512_undefined_* placeholders
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backend/cpu/gemm_kernels.h"

namespace lfm2::gemm_kernels {
namespace {

// The probes run a GEMM-shaped loop: an 8x3 block of accumulators (24 zmm) fed each step by 8 + 3 vector loads from
// panels that stay in L1, i.e. the register tile of the small-M kernels with the memory taken out. A stream of
// register-only dependency chains (acc = op(acc, x, y)) measured about half of this on Zen 4 (43 vs 93 GFLOP/s per
// core for FP32 FMA, 85 vs 225 for vdpbf16ps), below what the GEMM kernels themselves reach, so it was no ceiling.
constexpr int kRows = 8, kCols = 3, kDepth = 32;  // panels of (8 + 3) x 32 vectors = 22 KiB, inside a 32 KiB L1

template <class Vec, class Op>
double block_rate(double seconds, double flop_per_op, const Vec* a, const Vec* w, Op op) {
  __m512 acc[kRows][kCols];
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kCols; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t passes = 0;
  const double t0 = thread_cpu_seconds();
  double elapsed = 0;
  do {
    for (int64_t p = 0; p < 64; ++p) {
      for (int k = 0; k < kDepth; ++k) {
        const Vec w0 = w[k], w1 = w[kDepth + k], w2 = w[2 * kDepth + k];
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r) {
          const Vec x = a[r * kDepth + k];
          acc[r][0] = op(acc[r][0], x, w0);
          acc[r][1] = op(acc[r][1], x, w1);
          acc[r][2] = op(acc[r][2], x, w2);
        }
      }
      __asm__ volatile("" ::: "memory");  // keeps every pass
    }
    passes += 64;
    elapsed = thread_cpu_seconds() - t0;
  } while (elapsed < seconds);
  alignas(64) float sink[16];
  __m512 s = _mm512_setzero_ps();
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kCols; ++c) s = _mm512_add_ps(s, acc[r][c]);
  _mm512_store_ps(sink, s);
  volatile float keep = sink[0];
  (void)keep;
  return double(passes) * kDepth * kRows * kCols * 16 * flop_per_op / elapsed;
}

// Panels of small normal values (accumulators grow slowly and never reach denormals, NaN or Inf).
struct alignas(64) Panels {
  __m512 a[kRows * kDepth], w[kCols * kDepth];
};

}  // namespace

double fma_peak_avx512(double seconds) {
  static thread_local Panels p;
  for (int i = 0; i < kRows * kDepth; ++i) p.a[i] = _mm512_set1_ps(1e-3f * float(1 + i % 7));
  for (int i = 0; i < kCols * kDepth; ++i) p.w[i] = _mm512_set1_ps(1e-3f * float(1 + i % 5));
  return block_rate(seconds, 2.0, p.a, p.w, [](__m512 c, __m512 x, __m512 y) { return _mm512_fmadd_ps(x, y, c); });
}

double dot_bf16_peak_avx512(double seconds) {
  // Each FP32 lane gets a[2i]*b[2i] + a[2i+1]*b[2i+1]: 2 multiplies + 2 adds = 4 FLOP.
  static thread_local Panels p;
  for (int i = 0; i < kRows * kDepth; ++i)
    p.a[i] = (__m512)_mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f * float(1 + i % 7)), _mm512_set1_ps(-1e-3f));
  for (int i = 0; i < kCols * kDepth; ++i)
    p.w[i] = (__m512)_mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f * float(1 + i % 5)));
  return block_rate(seconds, 4.0, p.a, p.w,
                    [](__m512 c, __m512 x, __m512 y) { return _mm512_dpbf16_ps(c, (__m512bh)x, (__m512bh)y); });
}

}  // namespace lfm2::gemm_kernels
