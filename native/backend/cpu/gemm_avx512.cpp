// AVX-512 kernels (compiled with -mavx512f/bw/vl/dq/bf16; called only when cpu_features().has_avx512(), and the
// vdpbf16ps path only when has_avx512_bf16()).
//
// Roofline: the same shapes and regimes as gemm_avx2.cpp (compute-bound prefill/training, bandwidth-bound decode).
// Zen 4 executes a 512-bit FMA on its two 256-bit pipes (32 FP32 FLOP/cycle/core, as AVX2); cores with two
// 512-bit FMA units reach 64. vdpbf16ps does 2 multiply-adds per FP32 lane per instruction, doubling the FLOP rate
// and halving the bytes per operand: that is the fast path (activations rounded to bf16, FP32 accumulation).
//   exact: 12x32 register tile (24 zmm accumulators), f32 panels, bf16 weights upcast exactly while packing
//   fast : 12x32 tile of vdpbf16ps over bf16 pair panels (depth step 2), for gemm_nt, gemm_nn (training's input
//          gradients) and gemm_tn (weight gradients): both operands rounded to bf16, FP32 accumulation
//   small M (<= kGemvMaxRows) gemm_nt: weights streamed once per call, by the AVX2 kernel of gemm_avx2.cpp
//          (exact) or with vdpbf16ps on BF16 weights (fast; gemm_small_bf16_avx512.cpp)
// GCC 12's AVX-512 headers trip -W(maybe-)uninitialized on their own _mm512_undefined_* placeholders
// (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_driver.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/gemm_pack.h"

namespace lfm2 {
namespace {

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

// C[M, N] = beta*C + A·B over packed panels of A (12 rows) and B (32 columns): f32 panels (exact) or bf16 pair
// panels for vdpbf16ps (fast), whatever the operands' layouts.
template <Layout LA, Layout LB, class TB>
void packed_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const TB* B, int64_t ldb, float* C,
                 int64_t ldc, float beta, bool fast) {
  if (fast) {
    auto pack_a = [&](uint32_t* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
      if constexpr (LA == Layout::Rows) pack_rows_pairs<12>(d, A, lda, i0, mc, p0, kc);
      else pack_cols_pairs<12>(d, A, lda, i0, mc, p0, kc);
    };
    auto pack_b = [&](uint32_t* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
      if constexpr (LB == Layout::Rows) pack_rows_pairs<32>(d, B, ldb, j0, nc, p0, kc);
      else pack_cols_pairs<32>(d, B, ldb, j0, nc, p0, kc);
    };
    return blocked_gemm<KernBf16Pairs12x32>(M, N, K, pack_a, pack_b, C, ldc, beta);
  }
  auto pack_a = [&](float* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    if constexpr (LA == Layout::Rows) pack_rows_f32<12>(d, A, lda, i0, mc, p0, kc);
    else pack_cols_f32<12>(d, A, lda, i0, mc, p0, kc);
  };
  auto pack_b = [&](float* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
    if constexpr (LB == Layout::Rows) pack_rows_f32<32>(d, B, ldb, j0, nc, p0, kc);
    else pack_cols_f32<32>(d, B, ldb, j0, nc, p0, kc);
  };
  blocked_gemm<Kern12x32>(M, N, K, pack_a, pack_b, C, ldc, beta);
}

// B of nt / nn is F32 or BF16 weights.
template <Layout LB>
void packed_gemm_w(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                   int64_t ldb, float* C, int64_t ldc, float beta, bool fast) {
  if (btype == DType::BF16)
    packed_gemm<Layout::Rows, LB>(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, beta, fast);
  else
    packed_gemm<Layout::Rows, LB>(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta, fast);
}

}  // namespace

namespace gemm_kernels {

void nt_small_avx512(int64_t M, int64_t K, const float* A, int64_t lda, DType btype, const GemmNtPart* parts,
                     int n_parts, bool fast) {
  if (btype == DType::BF16 && fast) return nt_small_bf16_avx512(M, K, A, lda, parts, n_parts);
  // Exact: the AVX2 kernel (every AVX-512 CPU here has AVX2+FMA). On Zen 4 its ymm tiles run the small-M shapes at
  // 1.0-2.2x the rate of zmm tiles of the same blocking (M = 1: 50 vs 43 GB/s from L2 per core; M = 8..32: 76-88
  // vs 26-43 GFLOP/s per core with the weights in cache), whose bf16 widening (vpmovzxwd zmm) and FMA chains did
  // not keep the pipes fed.
  return nt_small_avx2(M, K, A, lda, btype, parts, n_parts);
}

void nt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
               float* C, int64_t ldc, float beta, bool fast) {
  if (M <= 0 || N <= 0) return;
  if (M <= kGemvMaxRows && K > 0) {
    const GemmNtPart part{B, N, ldb, C, ldc, beta};
    return nt_small_avx512(M, K, A, lda, btype, &part, 1, fast);
  }
  packed_gemm_w<Layout::Rows>(M, N, K, A, lda, B, btype, ldb, C, ldc, beta, fast);
}

void nn_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
               float* C, int64_t ldc, float beta, bool fast) {
  packed_gemm_w<Layout::Cols>(M, N, K, A, lda, B, btype, ldb, C, ldc, beta, fast);
}

void tn_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc, float beta, bool fast) {
  packed_gemm<Layout::Cols, Layout::Cols>(M, N, K, A, lda, B, ldb, C, ldc, beta, fast);
}

}  // namespace gemm_kernels
}  // namespace lfm2
