// AVX-512 kernels (compiled with -mavx512f/bw/vl/dq/bf16; called only when cpu_features().has_avx512(), and the
// vdpbf16ps path only when has_avx512_bf16()).
//
// Roofline: the same shapes and regimes as gemm_avx2.cpp (compute-bound prefill/training, bandwidth-bound decode).
// Zen 4 executes a 512-bit FMA on its two 256-bit pipes (32 FP32 FLOP/cycle/core, as AVX2); cores with two
// 512-bit FMA units reach 64. vdpbf16ps does 2 multiply-adds per FP32 lane per instruction, doubling the FLOP rate
// and halving the bytes per operand: that is the fast path (activations rounded to bf16, FP32 accumulation).
//   exact: 12x32 register tile (24 zmm accumulators), f32 panels, bf16 weights upcast exactly while packing
//   fast : 12x32 tile of vdpbf16ps over bf16 pair panels (depth step 2)
//   small M (<= kGemvMaxRows) gemm_nt: weights streamed once per call, as in gemm_avx2.cpp
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own _mm512_undefined_* placeholders
// (GCC bug 105593); the reductions below avoid the one expansion the pragma does not cover.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_driver.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/gemm_pack.h"
#include "core/threadpool.h"

namespace lfm2 {
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

inline __mmask16 first_lanes(int n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << std::max(n, 0)) - 1u); }

// C[mr, nr] = acc + beta*C for a 12x32 accumulator tile; masked stores never touch columns past nr.
inline void store_tile(__m512 (&c)[12][2], float* C, int64_t ldc, float beta, int mr, int nr) {
  const __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int r = 0; r < 12; ++r) {
    if (r >= mr) break;
    float* cr = C + r * ldc;
    __m512 v0 = c[r][0], v1 = c[r][1];
    if (beta != 0.f) {
      v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
      v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
}

struct Kern12x32 {
  using PackT = float;
  static constexpr int MR = 12, NR = 32;
  static constexpr int64_t MC = 144, KC = 256, NC = 2048;
  static int64_t kpad(int64_t kc) { return kc; }

  // a: [kc][12], b: [kc][32] floats.
  static void micro(int64_t kc, const float* a, const float* b, float* C, int64_t ldc, float beta, int mr, int nr) {
    __m512 c[12][2];
#pragma GCC unroll 12
    for (int r = 0; r < 12; ++r) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
      for (int r = 0; r < 12; ++r) {
        const __m512 ar = _mm512_set1_ps(a[r]);
        c[r][0] = _mm512_fmadd_ps(ar, b0, c[r][0]);
        c[r][1] = _mm512_fmadd_ps(ar, b1, c[r][1]);
      }
      a += 12;
      b += 32;
    }
    store_tile(c, C, ldc, beta, mr, nr);
  }
};

struct KernBf16Pairs12x32 {
  using PackT = uint32_t;
  static constexpr int MR = 12, NR = 32;
  // B micro-panel: 32 columns x KC/2 pairs x 4 bytes = 24 KiB, inside a 32 KiB L1.
  static constexpr int64_t MC = 144, KC = 384, NC = 2048;
  static int64_t kpad(int64_t kc) { return (kc + 1) / 2; }

  // a: [kc/2][12] pairs, b: [kc/2][32] pairs.
  static void micro(int64_t kc, const uint32_t* a, const uint32_t* b, float* C, int64_t ldc, float beta, int mr,
                    int nr) {
    __m512 c[12][2];
#pragma GCC unroll 12
    for (int r = 0; r < 12; ++r) c[r][0] = c[r][1] = _mm512_setzero_ps();
    const int64_t kp = kpad(kc);
    for (int64_t k = 0; k < kp; ++k) {
      const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 12
      for (int r = 0; r < 12; ++r) {
        const __m512bh ar = (__m512bh)_mm512_set1_epi32(int(a[r]));
        c[r][0] = _mm512_dpbf16_ps(c[r][0], ar, b0);
        c[r][1] = _mm512_dpbf16_ps(c[r][1], ar, b1);
      }
      a += 12;
      b += 32;
    }
    store_tile(c, C, ldc, beta, mr, nr);
  }
};

// ---- small-M gemm_nt (decode): each weight row is read once and dotted with every row of A ------------------

inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load16(const uint16_t* p, __mmask16 m) {  // bf16 -> f32, exact
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// As dot_tile in gemm_avx2.cpp: `ahead` (elements) is the prefetch distance past each weight row.
template <int MB, int NB, class T>
void dot_tile(int64_t K, const float* A, int64_t lda, const T* W, int64_t ldw, int nb, float* C, int64_t ldc,
              float beta, int64_t ahead) {
  constexpr int64_t kLine = 64 / sizeof(T);  // elements per cache line
  const float* a[MB];
  const T* w[NB];
  for (int m = 0; m < MB; ++m) a[m] = A + m * lda;
  for (int n = 0; n < NB; ++n) w[n] = W + std::min(n, nb - 1) * ldw;  // rows past nb repeat the last (unused)
  __m512 acc[MB][NB];
  for (int m = 0; m < MB; ++m)
    for (int n = 0; n < NB; ++n) acc[m][n] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 mk = first_lanes(int(std::min<int64_t>(16, K - k)));  // masked tail: no scalar remainder
    if (ahead > 0 && k % kLine == 0)
      for (int n = 0; n < NB; ++n) _mm_prefetch(reinterpret_cast<const char*>(w[n] + k + ahead), _MM_HINT_T0);
    for (int n = 0; n < NB; ++n) {
      const __m512 wv = load16(w[n] + k, mk);  // converted once, used for all MB rows of A
      for (int m = 0; m < MB; ++m) acc[m][n] = _mm512_fmadd_ps(load16(a[m] + k, mk), wv, acc[m][n]);
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int n = 0; n < nb; ++n) {
      const float s = hsum16(acc[m][n]);
      float& c = C[m * ldc + n];
      c = beta == 0.f ? s : s + beta * c;
    }
}

template <class T>
void gemv_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const T* W, int64_t ldw, float* C,
             int64_t ldc, float beta) {
  constexpr int NB = 6;  // weight rows per tile; register tiles of 4x3, 2x6 or 1x6 (A rows x W rows)
  const int64_t tiles = (N + NB - 1) / NB;
  const int64_t grain = M * N * K < (int64_t(1) << 18) ? tiles : 1;
  parallel_for(
      tiles,
      [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n = t * NB;
          const int nb = int(std::min<int64_t>(NB, N - n));
          const T* w = W + n * ldw;
          float* c = C + n;
          const int64_t ahead = 3 * ldw;  // prefetch half a tile ahead while the first block of A's rows streams it
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
      },
      grain);
}

template <class T>
void nt_packed(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const T* W, int64_t ldb, float* C,
               int64_t ldc, float beta, bool fast) {
  if (fast) {
    auto pack_a = [&](uint32_t* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
      pack_rows_pairs<12>(d, A, lda, i0, mc, p0, kc);
    };
    auto pack_b = [&](uint32_t* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_rows_pairs<32>(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<KernBf16Pairs12x32>(M, N, K, pack_a, pack_b, C, ldc, beta);
  } else {
    auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
      pack_rows_f32<12>(d, A, lda, i0, mc, p0, kc);
    };
    auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      pack_rows_f32<32>(d, W, ldb, j0, nc, p0, kc);
    };
    blocked_gemm<Kern12x32>(M, N, K, pack_a, pack_b, C, ldc, beta);
  }
}

template <class T>
void nn_packed(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const T* B, int64_t ldb, float* C,
               int64_t ldc, float beta) {
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_rows_f32<12>(d, A, lda, i0, mc, p0, kc);
  };
  auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
    pack_cols_f32<32>(d, B, ldb, j0, nc, p0, kc);
  };
  blocked_gemm<Kern12x32>(M, N, K, pack_a, pack_b, C, ldc, beta);
}

}  // namespace

namespace gemm_kernels {

void nt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
               float* C, int64_t ldc, float beta, bool fast) {
  if (M <= 0 || N <= 0) return;
  const bool bf16 = btype == DType::BF16;
  if (M <= kGemvMaxRows && K > 0) {  // bandwidth-bound: the exact kernel already streams at memory speed
    if (bf16)
      gemv_nt(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, beta);
    else
      gemv_nt(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta);
    return;
  }
  if (bf16)
    nt_packed(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, beta, fast);
  else
    nt_packed(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta, fast);
}

void nn_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
               float* C, int64_t ldc, float beta) {
  if (btype == DType::BF16)
    nn_packed(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, beta);
  else
    nn_packed(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta);
}

void tn_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc, float beta) {
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    pack_cols_f32<12>(d, A, lda, i0, mc, p0, kc);
  };
  auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
    pack_cols_f32<32>(d, B, ldb, j0, nc, p0, kc);
  };
  blocked_gemm<Kern12x32>(M, N, K, pack_a, pack_b, C, ldc, beta);
}

}  // namespace gemm_kernels
}  // namespace lfm2
