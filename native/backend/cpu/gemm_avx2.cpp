// AVX2 + FMA kernels (compiled with -mavx2 -mfma -mf16c; called only when cpu_features().has_avx2_fma()).
//
// Roofline (per core: 2 x 256-bit FMA pipes = 32 FP32 FLOP/cycle; measured peaks and bandwidth in
// bench/RESULTS.md). LFM2-350M shapes, FLOPs = 2*M*N*K, bytes = A (f32) + W (bf16) + C (f32):
//   prefill M=512, K=1024, N=3072|4608|1024 : 3.2|4.8|1.1 GFLOP over 14|19|5 MB    -> ~230 FLOP/B, compute-bound
//   prefill M=512, K=4608, N=1024 (w2)      : 4.8 GFLOP over 20 MB                  -> ~240 FLOP/B, compute-bound
//   LM head M=256, K=1024, N=65536          : 34 GFLOP over 201 MB                  -> ~170 FLOP/B, compute-bound
//   decode M (1..32), bf16 weights          : 2*M FLOP per 2-byte weight            -> ~M FLOP/B, bandwidth-bound
//                                             until M ~ peak / bandwidth (~10-20 on this class of machine).
// So: large M uses a packed, register-blocked 6x16 micro-kernel (12 accumulators, BLIS blocking: A block in L2,
// B micro-panel in L1, B block in L3); small-M gemm_nt streams each weight row once and dots it with every row
// of A, converting bf16 -> f32 in registers, so decode reads 2 bytes per weight and nothing else.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_driver.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/gemm_pack.h"
#include "backend/cpu/gemm_small.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// ---- packed 6x16 micro-kernel ----------------------------------------------------------------------------------

struct Kern6x16 {
  using PackT = float;
  static constexpr int MR = 6, NR = 16;
  static constexpr int64_t MC = 144, KC = 256, NC = 1024;
  static int64_t kpad(int64_t kc) { return kc; }

  // a: [kc][6], b: [kc][16]; C tile [mr, nr] with row stride ldc.
  static void micro(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, float beta, int mr, int nr) {
    __m256 c[6][2];
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) c[r][0] = c[r][1] = _mm256_setzero_ps();
    for (int r = 0; r < 6; ++r) _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int64_t k = 0; k < kc; ++k) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
      for (int r = 0; r < 6; ++r) {
        const __m256 ar = _mm256_broadcast_ss(a + r);
        c[r][0] = _mm256_fmadd_ps(ar, b0, c[r][0]);
        c[r][1] = _mm256_fmadd_ps(ar, b1, c[r][1]);
      }
      a += 6;
      b += 16;
    }
    if (mr == 6 && nr == 16) {
      const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
      for (int r = 0; r < 6; ++r) {
        float* cr = C + r * ldc;
        if (beta == 0.f) {
          _mm256_storeu_ps(cr, c[r][0]);
          _mm256_storeu_ps(cr + 8, c[r][1]);
        } else {
          _mm256_storeu_ps(cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), c[r][0]));
          _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), c[r][1]));
        }
      }
      return;
    }
    alignas(32) float tile[6][16];
    for (int r = 0; r < 6; ++r) {
      _mm256_store_ps(tile[r], c[r][0]);
      _mm256_store_ps(tile[r] + 8, c[r][1]);
    }
    for (int r = 0; r < mr; ++r)
      for (int j = 0; j < nr; ++j) C[r * ldc + j] = beta == 0.f ? tile[r][j] : tile[r][j] + beta * C[r * ldc + j];
  }
};

// ---- small-M gemm_nt: stream weight rows once, dot with every row of A ----------------------------------------

// C[m, n] for MB rows of A and NB rows of W over the full depth K. Lanes accumulate strided partial sums and are
// reduced once at the end. `ahead` (elements) is how far past each weight row to prefetch: the rows are short
// streams (2 KiB at K = 1024) that the hardware prefetcher barely ramps up on, so the next tile is requested early,
// into L2 (into L1 it evicts the tile and A before their reuse: on Zen 4, M = 8 streams ~1.3x the FLOPs this way).
template <int MB, int NB, class T>
void dot_tile(int64_t K, const float* A, int64_t lda, const T* W, int64_t ldw, int nb, float* C, int64_t ldc,
              float beta, int64_t ahead) {
  constexpr int64_t kLine = 64 / sizeof(T);  // elements per cache line
  const float* a[MB];
  const T* w[NB];
  for (int m = 0; m < MB; ++m) a[m] = A + m * lda;
  for (int n = 0; n < NB; ++n) w[n] = W + std::min(n, nb - 1) * ldw;  // rows past nb repeat the last (unused)
  __m256 acc[MB][NB];
  for (int m = 0; m < MB; ++m)
    for (int n = 0; n < NB; ++n) acc[m][n] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    if (ahead > 0 && k % kLine == 0)
      for (int n = 0; n < NB; ++n) _mm_prefetch(reinterpret_cast<const char*>(w[n] + k + ahead), _MM_HINT_T1);
    for (int n = 0; n < NB; ++n) {
      const __m256 wv = load8(w[n] + k);  // each weight vector is converted once and used for all MB rows of A
      for (int m = 0; m < MB; ++m) acc[m][n] = _mm256_fmadd_ps(_mm256_loadu_ps(a[m] + k), wv, acc[m][n]);
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int n = 0; n < nb; ++n) {
      float s = hsum(acc[m][n]);
      for (int64_t kk = k; kk < K; ++kk) s += a[m][kk] * to_f32(w[n][kk]);
      float& c = C[m * ldc + n];
      c = beta == 0.f ? s : s + beta * c;
    }
}

// Weight rows [n, n + nb) of one part against every row of A (nb ≤ 6).
template <class T>
void gemv_tile(int64_t M, int64_t K, const float* A, int64_t lda, const GemmNtPart& p, int64_t n, int nb) {
  constexpr int NB = 6;  // register tiles of 4x3, 2x6 or 1x6 (A rows x W rows) accumulators
  const int64_t ldw = p.ldb, ldc = p.ldc;
  const float beta = p.beta;
  const T* w = static_cast<const T*>(p.B) + n * ldw;
  float* c = p.C + n;
  // The first block of A's rows streams the weight tile from memory (prefetching the next tile half a tile
  // ahead); the following blocks find it in L1/L2.
  const int64_t ahead = 3 * ldw;
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    const int64_t pf = m == 0 ? ahead : 0;
    dot_tile<4, 3>(K, A + m * lda, lda, w, ldw, std::min(nb, 3), c + m * ldc, ldc, beta, pf);
    if (nb > 3) dot_tile<4, 3>(K, A + m * lda, lda, w + 3 * ldw, ldw, nb - 3, c + m * ldc + 3, ldc, beta, pf);
  }
  for (; m + 2 <= M; m += 2)
    dot_tile<2, NB>(K, A + m * lda, lda, w, ldw, nb, c + m * ldc, ldc, beta, m == 0 ? ahead : 0);
  if (m < M) dot_tile<1, NB>(K, A + m * lda, lda, w, ldw, nb, c + m * ldc, ldc, beta, m == 0 ? ahead : 0);
}

}  // namespace

namespace gemm_kernels {

void nt_small_avx2(int64_t M, int64_t K, const float* A, int64_t lda, DType btype, const GemmNtPart* parts,
                   int n_parts) {
  if (btype == DType::BF16)
    run_part_tiles<6>(M, K, parts, n_parts, [&](const GemmNtPart& p, int64_t n, int nb) {
      gemv_tile<uint16_t>(M, K, A, lda, p, n, nb);
    });
  else
    run_part_tiles<6>(M, K, parts, n_parts, [&](const GemmNtPart& p, int64_t n, int nb) {
      gemv_tile<float>(M, K, A, lda, p, n, nb);
    });
}

void nt_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta) {
  if (M <= 0 || N <= 0) return;
  if (M <= kGemvMaxRows && K > 0) {
    const GemmNtPart part{B, N, ldb, C, ldc, beta};
    return nt_small_avx2(M, K, A, lda, btype, &part, 1);
  }
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_rows_f32<6>(d, A, lda, i0, mc, p0, kc);
  };
  if (btype == DType::BF16) {
    const auto* W = static_cast<const uint16_t*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_rows_f32<16>(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  } else {
    const auto* W = static_cast<const float*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_rows_f32<16>(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  }
}

void nn_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta) {
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_rows_f32<6>(d, A, lda, i0, mc, p0, kc);
  };
  if (btype == DType::BF16) {
    const auto* W = static_cast<const uint16_t*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_cols_f32<16>(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  } else {
    const auto* W = static_cast<const float*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_cols_f32<16>(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  }
}

void tn_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta) {
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_cols_f32<6>(d, A, lda, i0, mc, p0, kc);
  };
  auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
    pack_cols_f32<16>(d, B, ldb, j0, nc, p0, kc);
  };
  blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
}

}  // namespace gemm_kernels
}  // namespace lfm2
