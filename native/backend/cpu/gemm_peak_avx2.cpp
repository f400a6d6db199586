// FP32 FMA peak probe for AVX2 (see gemm_kernels.h). 12 independent accumulator chains cover the FMA latency
// (4 cycles) times the 2 FMA pipes of current x86 cores, so the loop runs at the issue limit.
#include <immintrin.h>

#include "backend/cpu/gemm_kernels.h"

namespace lfm2::gemm_kernels {

double fma_peak_avx2(double seconds) {
  // Named variables (not an array) so that the chains live in registers.
  __m256 c0 = _mm256_set1_ps(0.f), c1 = _mm256_set1_ps(1e-3f), c2 = _mm256_set1_ps(2e-3f), c3 = _mm256_set1_ps(3e-3f);
  __m256 c4 = _mm256_set1_ps(4e-3f), c5 = _mm256_set1_ps(5e-3f), c6 = _mm256_set1_ps(6e-3f), c7 = _mm256_set1_ps(7e-3f);
  __m256 c8 = _mm256_set1_ps(8e-3f), c9 = _mm256_set1_ps(9e-3f), c10 = _mm256_set1_ps(1e-2f), c11 = _mm256_set1_ps(1.1e-2f);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  constexpr int64_t kInner = 1 << 16;
  int64_t iters = 0;
  const double t0 = thread_cpu_seconds();
  double elapsed = 0;
  do {
    for (int64_t it = 0; it < kInner; ++it) {
      c0 = _mm256_fmadd_ps(c0, x, y), c1 = _mm256_fmadd_ps(c1, x, y), c2 = _mm256_fmadd_ps(c2, x, y);
      c3 = _mm256_fmadd_ps(c3, x, y), c4 = _mm256_fmadd_ps(c4, x, y), c5 = _mm256_fmadd_ps(c5, x, y);
      c6 = _mm256_fmadd_ps(c6, x, y), c7 = _mm256_fmadd_ps(c7, x, y), c8 = _mm256_fmadd_ps(c8, x, y);
      c9 = _mm256_fmadd_ps(c9, x, y), c10 = _mm256_fmadd_ps(c10, x, y), c11 = _mm256_fmadd_ps(c11, x, y);
      // Stops the compiler from collapsing or vectorising the loop away.
      __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7), "+x"(c8),
                       "+x"(c9), "+x"(c10), "+x"(c11));
    }
    iters += kInner;
    elapsed = thread_cpu_seconds() - t0;
  } while (elapsed < seconds);
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                           _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  volatile float sink = _mm256_cvtss_f32(s);
  (void)sink;
  return double(iters) * 12 * 8 * 2 / elapsed;  // 12 FMAs x 8 lanes x 2 FLOP
}

uint64_t read_stream_avx2(const void* buf, int64_t bytes) {
  // Eight interleaved streams, each prefetched into L2 1 KiB ahead: a single sequential stream leaves a core with too
  // few misses in flight (one Xeon core read 25 GB/s so, while the decode kernels, which stream 6-32 weight rows at
  // once with L2 prefetches, reached 30-49 GB/s), and a ceiling below what the kernels do is no ceiling.
  constexpr int kStreams = 8;
  const auto* base = static_cast<const unsigned char*>(buf);
  const int64_t part = bytes / kStreams / 64 * 64;  // bytes per stream, whole lines
  __m256i x[kStreams];
  for (int s = 0; s < kStreams; ++s) x[s] = _mm256_setzero_si256();
  for (int64_t i = 0; i < part; i += 64)
    for (int s = 0; s < kStreams; ++s) {
      const unsigned char* q = base + s * part + i;
      _mm_prefetch(reinterpret_cast<const char*>(q + 1024), _MM_HINT_T1);
      x[s] = _mm256_xor_si256(x[s], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
      x[s] = _mm256_xor_si256(x[s], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32)));
    }
  __m256i r = _mm256_setzero_si256();
  for (int s = 0; s < kStreams; ++s) r = _mm256_xor_si256(r, x[s]);
  const auto* p = reinterpret_cast<const __m256i*>(base);  // the remainder, one stream
  for (int64_t i = kStreams * part / 32; i < bytes / 32; ++i) r = _mm256_xor_si256(r, _mm256_loadu_si256(p + i));
  return uint64_t(_mm256_extract_epi64(r, 0) ^ _mm256_extract_epi64(r, 1) ^ _mm256_extract_epi64(r, 2) ^
                  _mm256_extract_epi64(r, 3));
}

}  // namespace lfm2::gemm_kernels
