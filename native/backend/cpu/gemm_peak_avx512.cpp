// AVX-512 peak probes (see gemm_kernels.h); called only when cpu_features().has_avx512() (and _bf16 for the dot).
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own _mm512_undefined_* placeholders
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "backend/cpu/gemm_kernels.h"

namespace lfm2::gemm_kernels {
namespace {

// The probes run a GEMM-shaped loop: an 8x3 block of accumulators (24 zmm) fed each step by 8 + 3 vector loads from
// panels that stay in L1, i.e. the register tile of the small-M kernels with the memory taken out. A stream of
// register-only dependency chains (acc = op(acc, x, y)) measured about half of this on Zen 4 (43 vs 93 GFLOP/s per
// core for FP32 FMA, 85 vs 225 for vdpbf16ps), below what the GEMM kernels themselves reach, so it was no ceiling.
constexpr int kRows = 8, kCols = 3, kDepth = 32;  // panels of (8 + 3) x 32 vectors = 22 KiB, inside a 32 KiB L1

// Passes of `pass` (one sweep of the panels) per CPU second, run for about `seconds`; then the accumulators are summed
// into a volatile so that no pass can be dropped.
template <int N, class Pass>
double passes_per_second(double seconds, __m512 (&acc)[N], Pass pass) {
  for (int i = 0; i < N; ++i) acc[i] = _mm512_setzero_ps();
  int64_t passes = 0;
  const double t0 = thread_cpu_seconds();
  double elapsed = 0;
  do {
    for (int64_t p = 0; p < 64; ++p) {
      pass();
      __asm__ volatile("" ::: "memory");  // keeps every pass
    }
    passes += 64;
    elapsed = thread_cpu_seconds() - t0;
  } while (elapsed < seconds);
  alignas(64) float sink[16];
  __m512 s = _mm512_setzero_ps();
  for (int i = 0; i < N; ++i) s = _mm512_add_ps(s, acc[i]);
  _mm512_store_ps(sink, s);
  volatile float keep = sink[0];
  (void)keep;
  return double(passes) / elapsed;
}

template <class Vec, class Op>
double block_rate(double seconds, double flop_per_op, const Vec* a, const Vec* w, Op op) {
  __m512 acc[kRows * kCols];
  const double rate = passes_per_second(seconds, acc, [&] {
    for (int k = 0; k < kDepth; ++k) {
      const Vec w0 = w[k], w1 = w[kDepth + k], w2 = w[2 * kDepth + k];
#pragma GCC unroll 8
      for (int r = 0; r < kRows; ++r) {
        const Vec x = a[r * kDepth + k];
        acc[3 * r] = op(acc[3 * r], x, w0);
        acc[3 * r + 1] = op(acc[3 * r + 1], x, w1);
        acc[3 * r + 2] = op(acc[3 * r + 2], x, w2);
      }
    }
  });
  return rate * kDepth * kRows * kCols * 16 * flop_per_op;
}

// The packed kernels' shape: a 12x2 block of accumulators fed each step by 12 broadcasts of A and 2 loads of B (on a
// Xeon core with two 512-bit FMA units this sustained ~20 % more than the 8x3 block above, which stayed below what
// the prefill kernels reach there). The probes report the faster of the two shapes.
template <class Op>
double broadcast_rate(double seconds, double flop_per_op, const float* a, const __m512* w, Op op) {
  __m512 acc[24];
  const double rate = passes_per_second(seconds, acc, [&] {
    for (int k = 0; k < kDepth; ++k) {
      const __m512 w0 = w[2 * k], w1 = w[2 * k + 1];
#pragma GCC unroll 12
      for (int r = 0; r < 12; ++r) {
        const __m512 x = _mm512_set1_ps(a[12 * k + r]);
        acc[2 * r] = op(acc[2 * r], x, w0);
        acc[2 * r + 1] = op(acc[2 * r + 1], x, w1);
      }
    }
  });
  return rate * kDepth * 12 * 2 * 16 * flop_per_op;
}

// Panels of small normal values (accumulators grow slowly and never reach denormals, NaN or Inf).
struct alignas(64) Panels {
  __m512 a[kRows * kDepth], w[kCols * kDepth];
  float b[12 * kDepth];  // broadcast operand of the 12x2 shape (its B is w's first 2 * kDepth vectors)
};

}  // namespace

double fma_peak_avx512(double seconds) {
  static thread_local Panels p;
  for (int i = 0; i < kRows * kDepth; ++i) p.a[i] = _mm512_set1_ps(1e-3f * float(1 + i % 7));
  for (int i = 0; i < kCols * kDepth; ++i) p.w[i] = _mm512_set1_ps(1e-3f * float(1 + i % 5));
  for (int i = 0; i < 12 * kDepth; ++i) p.b[i] = 1e-3f * float(1 + i % 7);
  const auto fma = [](__m512 c, __m512 x, __m512 y) { return _mm512_fmadd_ps(x, y, c); };
  const double block = block_rate(seconds / 2, 2.0, p.a, p.w, fma);
  return std::max(block, broadcast_rate(seconds / 2, 2.0, p.b, p.w, fma));
}

double dot_bf16_peak_avx512(double seconds) {
  // Each FP32 lane gets a[2i]*b[2i] + a[2i+1]*b[2i+1]: 2 multiplies + 2 adds = 4 FLOP.
  static thread_local Panels p;
  for (int i = 0; i < kRows * kDepth; ++i)
    p.a[i] = (__m512)_mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f * float(1 + i % 7)), _mm512_set1_ps(-1e-3f));
  for (int i = 0; i < kCols * kDepth; ++i)
    p.w[i] = (__m512)_mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f * float(1 + i % 5)));
  for (int i = 0; i < 12 * kDepth; ++i) {  // a bf16 pair as the bits of one float
    const uint32_t lo = 0x3a83u + uint32_t(i % 7), hi = 0xba83u;
    const uint32_t bits = lo | (hi << 16);
    std::memcpy(&p.b[i], &bits, 4);
  }
  const auto dot = [](__m512 c, __m512 x, __m512 y) { return _mm512_dpbf16_ps(c, (__m512bh)x, (__m512bh)y); };
  const double block = block_rate(seconds / 2, 4.0, p.a, p.w, dot);
  return std::max(block, broadcast_rate(seconds / 2, 4.0, p.b, p.w, dot));
}

}  // namespace lfm2::gemm_kernels
