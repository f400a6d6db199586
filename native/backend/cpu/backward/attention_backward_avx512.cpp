// The attention tile loops compiled with AVX-512 flags; called only after a run-time CPU check in
// attention_backward.cpp. The tile products and the softmax steps are the kernels below (accumulators stay in zmm
// registers over the whole inner loop; each output row is loaded and stored once per tile); the rest of the loops
// are the plain ones of attention_tiles.inc, which the compiler vectorises 16 wide.
// GCC 12's _mm512_undefined_ps inside avx512fintrin.h (max/min/roundscale) trips -Wmaybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include <cstdint>

#include "backend/cpu/backward/attention_backward.h"
#include "backend/cpu/exp_avx512.h"

namespace lfm2::cpu::avx512 {

constexpr int64_t kTile = 64;  // = kBr = kBc of attention_tiles.inc (static_assert there)

// Lanes c0..c0+15 below `lim`.
static inline __mmask16 lanes_below(int64_t lim, int64_t c0) {
  const int64_t n = lim - c0;
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// out[r, 0..64) = Σ_d rows_r[d] · tT[d, 0..64) times mul, for R rows at stride ld; the 4R accumulators stay in
// registers. kPre: mul scales each rows_r[d] first (the plain loop's rounding, kept for the forward), else the sums.
template <int R, bool kPre>
static inline void scores_rows(const float* rows, int64_t ld, int64_t D, const float* tT, float mul, float* out) {
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    const float* t = tT + d * kTile;
    const __m512 t0 = _mm512_loadu_ps(t), t1 = _mm512_loadu_ps(t + 16), t2 = _mm512_loadu_ps(t + 32),
                 t3 = _mm512_loadu_ps(t + 48);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(kPre ? rows[r * ld + d] * mul : rows[r * ld + d]);
      acc[r][0] = _mm512_fmadd_ps(a, t0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, t1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a, t2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(a, t3, acc[r][3]);
    }
  }
  const __m512 m = _mm512_set1_ps(mul);
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < 4; ++c)
      _mm512_storeu_ps(out + r * kTile + 16 * c, kPre || mul == 1.f ? acc[r][c] : _mm512_mul_ps(acc[r][c], m));
}

template <bool kPre>
static void scores(const float* rows, int64_t ld, int64_t nr, int64_t D, const float* tT, float mul, float* out) {
  int64_t i = 0;
  for (; i + 4 <= nr; i += 4) scores_rows<4, kPre>(rows + i * ld, ld, D, tT, mul, out + i * kTile);
  switch (nr - i) {
    case 3: scores_rows<3, kPre>(rows + i * ld, ld, D, tT, mul, out + i * kTile); break;
    case 2: scores_rows<2, kPre>(rows + i * ld, ld, D, tT, mul, out + i * kTile); break;
    case 1: scores_rows<1, kPre>(rows + i * ld, ld, D, tT, mul, out + i * kTile); break;
    default: break;
  }
}

// out [nr, 64] = mul · rows [nr, D] (stride ld) · tT [D, 64]; `pre` as kPre above.
static void simd_scores(const float* rows, int64_t ld, int64_t nr, int64_t D, const float* tT, float mul, bool pre,
                        float* out) {
  if (pre) scores<true>(rows, ld, nr, D, tT, mul, out);
  else scores<false>(rows, ld, nr, D, tT, mul, out);
}

// S → P = exp(S − lse_i), dP → scale·P·(dP − D_i), masked lanes (causal or padding) 0; see tile_p_ds.
static void simd_p_ds(float* S, float* dP, int64_t nr, int64_t diag, int64_t nc, const float* lse, const float* Dt,
                      float scale) {
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < nr; ++i) {
    const int64_t c = diag + i + 1, jlim = c < nc ? c : nc;
    const __m512 li = _mm512_set1_ps(lse[i]), Di = _mm512_set1_ps(Dt[i]);
    for (int64_t c0 = 0; c0 < kTile; c0 += 16) {
      float* s = S + i * kTile + c0;
      float* dp = dP + i * kTile + c0;
      const __mmask16 m = lanes_below(jlim, c0);
      if (!m) {  // fully masked: skip the exp
        _mm512_storeu_ps(s, _mm512_setzero_ps());
        _mm512_storeu_ps(dp, _mm512_setzero_ps());
        continue;
      }
      const __m512 p = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_loadu_ps(s), li)));
      _mm512_storeu_ps(s, p);
      _mm512_storeu_ps(dp, _mm512_mul_ps(sc, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dp), Di))));
    }
  }
}

// One online-softmax step of the forward over S [nr, 64] (see tile_softmax_step): lane-wise masked max and sum, one
// horizontal max per row; fully masked 16-key chunks skip the exp.
static void simd_softmax_step(float* S, int64_t nr, int64_t diag, int64_t nc, float* m, float* l, float* acc,
                              int64_t D) {
  for (int64_t i = 0; i < nr; ++i) {
    float* s = S + i * kTile;
    const int64_t c = diag + i + 1, jlim = c < nc ? c : nc;
    __mmask16 mk[4];
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int q = 0; q < 4; ++q) {
      mk[q] = lanes_below(jlim, 16 * q);
      mx = _mm512_mask_max_ps(mx, mk[q], mx, _mm512_loadu_ps(s + 16 * q));
    }
    const float rm = _mm512_reduce_max_ps(mx), mt = rm > m[i] ? rm : m[i];
    const __m512 mv = _mm512_set1_ps(mt);
    // corr = exp(m_old − mt) in lane 0 (m_old = −inf on the first tile: clamped, ≈ 0, times acc = l = 0).
    const float corr = _mm512_cvtss_f32(exp16(_mm512_set1_ps(m[i] - mt)));
    __m512 sum = _mm512_setzero_ps();
    for (int q = 0; q < 4; ++q) {
      if (!mk[q]) {
        _mm512_storeu_ps(s + 16 * q, _mm512_setzero_ps());
        continue;
      }
      const __m512 p = _mm512_maskz_mov_ps(mk[q], exp16(_mm512_sub_ps(_mm512_loadu_ps(s + 16 * q), mv)));
      _mm512_storeu_ps(s + 16 * q, p);
      sum = _mm512_add_ps(sum, p);
    }
    l[i] = l[i] * corr + _mm512_reduce_add_ps(sum);
    m[i] = mt;
    const __m512 cv = _mm512_set1_ps(corr);
    float* a = acc + i * D;
    for (int64_t d = 0; d < D; d += 16) {
      const __mmask16 md = lanes_below(D, d);
      _mm512_mask_storeu_ps(a + d, md, _mm512_mul_ps(cv, _mm512_maskz_loadu_ps(md, a + d)));
    }
  }
}

// C[j0..j0+JB, D] += Aᵀ·B over rows i0..nr of A [nr, 64] and B (stride ldb); JB·NV accumulators in registers.
template <int NV, int JB>
static inline void acc_t_block(const float* A, int64_t i0, int64_t nr, int64_t j0, const float* B, int64_t ldb,
                               float* C) {
  constexpr int64_t D = 16 * NV;
  __m512 acc[JB][NV];
  for (int j = 0; j < JB; ++j)
    for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_loadu_ps(C + (j0 + j) * D + 16 * v);
  for (int64_t i = i0; i < nr; ++i) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(B + i * ldb + 16 * v);
    const float* a = A + i * kTile + j0;
    for (int j = 0; j < JB; ++j) {
      const __m512 aj = _mm512_set1_ps(a[j]);
      for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(aj, b[v], acc[j][v]);
    }
  }
  for (int j = 0; j < JB; ++j)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + (j0 + j) * D + 16 * v, acc[j][v]);
}

// C [64, D] += Aᵀ [64, nr] · B [nr, D]. Key blocks run to the next multiple of JB below 64: A's columns past nc are
// 0 and C has 64 rows, so the padding adds zeros to rows nobody reads.
template <int NV, int JB>
static void acc_t(const float* A, int64_t nr, int64_t diag, int64_t nc, const float* B, int64_t ldb, float* C) {
  for (int64_t j0 = 0; j0 < nc; j0 += JB) {
    const int64_t i0 = j0 > diag ? j0 - diag : 0;  // rows above see none of keys j0.. (causal)
    acc_t_block<NV, JB>(A, i0, nr, j0, B, ldb, C);
  }
}

static bool simd_acc_t(const float* A, int64_t nr, int64_t diag, int64_t nc, const float* B, int64_t ldb, int64_t D,
                       float* C) {
  switch (D) {
    case 16: acc_t<1, 8>(A, nr, diag, nc, B, ldb, C); return true;
    case 32: acc_t<2, 8>(A, nr, diag, nc, B, ldb, C); return true;
    case 48: acc_t<3, 4>(A, nr, diag, nc, B, ldb, C); return true;
    case 64: acc_t<4, 4>(A, nr, diag, nc, B, ldb, C); return true;
    default: return false;
  }
}

// C rows i0..i0+IB (stride ldc; only rows < nr are loaded and stored) += A rows · B rows 0..jend (stride ldb).
template <int NV, int IB>
static inline void acc_rows_block(const float* A, int64_t i0, int64_t nr, int64_t jend, const float* B, int64_t ldb,
                                  float* C, int64_t ldc) {
  __m512 acc[IB][NV];
  for (int i = 0; i < IB; ++i)
    for (int v = 0; v < NV; ++v)
      acc[i][v] = i0 + i < nr ? _mm512_loadu_ps(C + (i0 + i) * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t j = 0; j < jend; ++j) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(B + j * ldb + 16 * v);
    for (int i = 0; i < IB; ++i) {
      const __m512 a = _mm512_set1_ps(A[(i0 + i) * kTile + j]);  // rows ≥ nr hold stale finite values, unused
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
  }
  for (int i = 0; i < IB; ++i)
    if (i0 + i < nr)
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(C + (i0 + i) * ldc + 16 * v, acc[i][v]);
}

// C [nr, D] (stride ldc) += A [nr, 64] · B [nc, D] (stride ldb), each row block only up to its last visible key.
template <int NV, int IB>
static void acc_rows(const float* A, int64_t nr, int64_t diag, int64_t nc, const float* B, int64_t ldb, float* C,
                     int64_t ldc) {
  for (int64_t i0 = 0; i0 < nr; i0 += IB) {
    const int64_t last = (i0 + IB < nr ? i0 + IB : nr) - 1;
    const int64_t c = diag + last + 1, jend = c < nc ? c : nc;
    acc_rows_block<NV, IB>(A, i0, nr, jend, B, ldb, C, ldc);
  }
}

static bool simd_acc_rows(const float* A, int64_t nr, int64_t diag, int64_t nc, const float* B, int64_t ldb,
                          int64_t D, float* C, int64_t ldc) {
  switch (D) {
    case 16: acc_rows<1, 8>(A, nr, diag, nc, B, ldb, C, ldc); return true;
    case 32: acc_rows<2, 8>(A, nr, diag, nc, B, ldb, C, ldc); return true;
    case 48: acc_rows<3, 4>(A, nr, diag, nc, B, ldb, C, ldc); return true;
    case 64: acc_rows<4, 4>(A, nr, diag, nc, B, ldb, C, ldc); return true;
    default: return false;
  }
}

}  // namespace lfm2::cpu::avx512

#define LFM2_ATTN_NS avx512
#define LFM2_ATTN_SIMD 1
#define LFM2_ATTN_VBYTES 32  // plain blocked loops (head_dim the kernels above do not take): 8 wide
#include "backend/cpu/backward/attention_tiles.inc"
