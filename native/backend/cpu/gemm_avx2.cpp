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
#include "core/bf16.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

// ---- small helpers -------------------------------------------------------------------------------------------

inline __m256 load8_bf16(const uint16_t* p) {  // 8 bf16 -> 8 f32, exact
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return load8_bf16(p); }
inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t x) { return bf16_to_f32(x); }

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// In-register 8x8 transpose: r[i][j] -> r[j][i].
inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

inline __m256i lane_mask(int n) {  // first n of 8 lanes set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- packed 6x16 micro-kernel ----------------------------------------------------------------------------------

struct Kern6x16 {
  using PackT = float;
  static constexpr int MR = 6, NR = 16;
  static constexpr int64_t MC = 144, KC = 256, NC = 2048;
  static int64_t kpad(int64_t kc) { return kc; }

  // a: [kc][6], b: [kc][16]; C tile [mr, nr] with row stride ldc.
  static void micro(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, float beta, int mr, int nr) {
    __m256 c[6][2];
#pragma GCC unroll 6
    for (int r = 0; r < 6; ++r) c[r][0] = c[r][1] = _mm256_setzero_ps();
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

// ---- packers ---------------------------------------------------------------------------------------------------

// Rows i0..i0+mc of a K-contiguous matrix X (row stride ld) -> panels [kc][MR] (MR <= 8). Used for A of
// gemm_nt / gemm_nn (MR = 6). 8x8 transposes; each transposed row is stored as 8 floats at stride MR, so the
// stores overlap by 8-MR and a later store overwrites the spill (within kPackSlack past the last panel).
template <int MR, class T>
void pack_rows_kmajor(float* dst, const T* X, int64_t ld, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
  for (int64_t i = 0; i < mc; i += MR, dst += MR * kc) {
    const int rows = int(std::min<int64_t>(MR, mc - i));
    const T* src[8];
    for (int r = 0; r < 8; ++r) src[r] = X + (i0 + i + std::min(r, rows - 1)) * ld + p0;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 v[8];
      for (int r = 0; r < 8; ++r) v[r] = r < rows ? load8(src[r] + k) : _mm256_setzero_ps();
      transpose8(v);
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (k + j) * MR, v[j]);
    }
    for (; k < kc; ++k)
      for (int r = 0; r < MR; ++r) dst[k * MR + r] = r < rows ? to_f32(src[r][k]) : 0.f;
  }
}

// Rows j0..j0+nc of a K-contiguous matrix W [N, K] -> panels [kc][16] (B of gemm_nt), bf16 upcast exactly.
template <class T>
void pack_rows_kmajor16(float* dst, const T* W, int64_t ld, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
  for (int64_t j = 0; j < nc; j += 16, dst += 16 * kc) {
    for (int g = 0; g < 2; ++g) {
      const int rows = int(std::max<int64_t>(0, std::min<int64_t>(8, nc - j - 8 * g)));
      if (rows == 0) {  // second half of a narrow edge panel: all padding
        for (int64_t k = 0; k < kc; ++k) _mm256_storeu_ps(dst + k * 16 + 8, _mm256_setzero_ps());
        continue;
      }
      const T* src[8];
      for (int r = 0; r < 8; ++r) src[r] = W + (j0 + j + 8 * g + std::min(r, rows - 1)) * ld + p0;
      int64_t k = 0;
      for (; k + 8 <= kc; k += 8) {
        __m256 v[8];
        for (int r = 0; r < 8; ++r) v[r] = r < rows ? load8(src[r] + k) : _mm256_setzero_ps();
        transpose8(v);
        for (int t = 0; t < 8; ++t) _mm256_storeu_ps(dst + (k + t) * 16 + 8 * g, v[t]);
      }
      for (; k < kc; ++k)
        for (int r = 0; r < 8; ++r) dst[k * 16 + 8 * g + r] = r < rows ? to_f32(src[r][k]) : 0.f;
    }
  }
}

// Columns j0..j0+nc of a row-major [K, N] matrix (N contiguous) -> panels [kc][16] (B of gemm_nn and gemm_tn).
template <class T>
void pack_cols16(float* dst, const T* B, int64_t ld, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
  for (int64_t j = 0; j < nc; j += 16, dst += 16 * kc) {
    const int cols = int(std::min<int64_t>(16, nc - j));
    const T* src = B + p0 * ld + j0 + j;
    if (cols == 16) {
      for (int64_t k = 0; k < kc; ++k) {
        _mm256_storeu_ps(dst + k * 16, load8(src + k * ld));
        _mm256_storeu_ps(dst + k * 16 + 8, load8(src + k * ld + 8));
      }
    } else {
      for (int64_t k = 0; k < kc; ++k)
        for (int c = 0; c < 16; ++c) dst[k * 16 + c] = c < cols ? to_f32(src[k * ld + c]) : 0.f;
    }
  }
}

// Columns i0..i0+mc of a row-major [K, M] matrix -> panels [kc][6] (A of gemm_tn, which is stored transposed).
void pack_cols6(float* dst, const float* A, int64_t ld, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
  for (int64_t i = 0; i < mc; i += 6, dst += 6 * kc) {
    const int cols = int(std::min<int64_t>(6, mc - i));
    const __m256i m = lane_mask(cols);  // masked loads never touch memory past the row's valid columns
    const float* src = A + p0 * ld + i0 + i;
    for (int64_t k = 0; k < kc; ++k) _mm256_storeu_ps(dst + k * 6, _mm256_maskload_ps(src + k * ld, m));
  }
}

// ---- small-M gemm_nt: stream weight rows once, dot with every row of A ----------------------------------------

// C[m, n] for MB rows of A and NB rows of W over the full depth K. Lanes accumulate strided partial sums and are
// reduced once at the end.
template <int MB, int NB, class T>
void dot_tile(int64_t K, const float* A, int64_t lda, const T* W, int64_t ldw, int nb, float* C, int64_t ldc,
              float beta) {
  const float* a[MB];
  const T* w[NB];
  for (int m = 0; m < MB; ++m) a[m] = A + m * lda;
  for (int n = 0; n < NB; ++n) w[n] = W + std::min(n, nb - 1) * ldw;  // rows past nb repeat the last (unused)
  __m256 acc[MB][NB];
  for (int m = 0; m < MB; ++m)
    for (int n = 0; n < NB; ++n) acc[m][n] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 av[MB];
    for (int m = 0; m < MB; ++m) av[m] = _mm256_loadu_ps(a[m] + k);
    for (int n = 0; n < NB; ++n) {
      const __m256 wv = load8(w[n] + k);
      for (int m = 0; m < MB; ++m) acc[m][n] = _mm256_fmadd_ps(av[m], wv, acc[m][n]);
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

template <class T>
void gemv_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const T* W, int64_t ldw, float* C,
             int64_t ldc, float beta) {
  constexpr int NB = 6;  // weight rows per tile: 2 A rows x 6 W rows = 12 accumulators
  const int64_t tiles = (N + NB - 1) / NB;
  const int64_t grain = M * N * K < (int64_t(1) << 18) ? tiles : 1;
  parallel_for(
      tiles,
      [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n = t * NB;
          const int nb = int(std::min<int64_t>(NB, N - n));
          int64_t m = 0;
          // A's rows are re-read per weight tile from L1/L2; the weight tile (NB rows) stays in L1/L2 across them.
          for (; m + 2 <= M; m += 2)
            dot_tile<2, NB>(K, A + m * lda, lda, W + n * ldw, ldw, nb, C + m * ldc + n, ldc, beta);
          if (m < M) dot_tile<1, NB>(K, A + m * lda, lda, W + n * ldw, ldw, nb, C + m * ldc + n, ldc, beta);
        }
      },
      grain);
}

}  // namespace

namespace gemm_kernels {

void nt_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta) {
  if (M <= 0 || N <= 0) return;
  if (M <= kGemvMaxRows && K > 0) {
    if (btype == DType::BF16)
      gemv_nt(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, beta);
    else
      gemv_nt(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta);
    return;
  }
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_rows_kmajor<6>(d, A, lda, i0, mc, p0, kc);
  };
  if (btype == DType::BF16) {
    const auto* W = static_cast<const uint16_t*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_rows_kmajor16(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  } else {
    const auto* W = static_cast<const float*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_rows_kmajor16(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  }
}

void nn_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta) {
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_rows_kmajor<6>(d, A, lda, i0, mc, p0, kc);
  };
  if (btype == DType::BF16) {
    const auto* W = static_cast<const uint16_t*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_cols16(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  } else {
    const auto* W = static_cast<const float*>(B);
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_cols16(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
  }
}

void tn_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta) {
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_cols6(d, A, lda, i0, mc, p0, kc);
  };
  auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
    pack_cols16(d, B, ldb, j0, nc, p0, kc);
  };
  blocked_gemm<Kern6x16>(M, N, K, pack_a, pack_b, C, ldc, beta);
}

}  // namespace gemm_kernels
}  // namespace lfm2
