// AMX kernels for fast precision (compiled with the AVX-512 family's flags, AMX-TILE and AMX-BF16 included; called
// only when cpu_features().has_amx_bf16(), which also means the OS granted this process the tile state).
//
// Roofline: one TDPBF16PS multiplies a 16x32 BF16 tile of A by a 32x16 tile of B into a 16x16 FP32 tile (16,384
// FLOP) and issues every 16 cycles: 1,024 FLOP/cycle/core, 8-16x what vdpbf16ps gives on the same core. The large
// products (prefill, the training forward and both backward products) then stop being bound by the multiply-adds and
// become bound by feeding the tiles: 2 KiB of A and B per 4 TDPBF16PS of a 32x32 block of C, from L1/L2.
//
//   register tiles: C 32x32 = 4 tiles (tmm0-3), A 32 rows = 2 tiles (tmm4-5), B 32 columns = 2 tiles (tmm6-7)
//   A panel: [32 rows][kpad pairs]  row-major, each row's BF16 depth pairs contiguous (the layout of an A tile)
//   B panel: [kpad pairs][32 cols]  the vdpbf16ps kernel's pair panel (the VNNI layout of a B tile)
// Depth is padded with zeros to a multiple of 32 (16 pairs, one tile depth). Both operands are rounded to BF16 to
// nearest even, exactly as the vdpbf16ps kernel rounds them; FP32 accumulation. Like vdpbf16ps, TDPBF16PS treats
// BF16 denormal inputs as zero and flushes denormal results.
//
// Small-M gemm_nt (decode) has its own AMX kernel (gemm_small_amx_avx512.cpp; below 5 rows the vdpbf16ps one);
// exact precision stays on the AVX-512 FP32 kernels.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_amx_tiles.h"
#include "backend/cpu/gemm_driver.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/bf16_avx512.h"
#include "backend/cpu/gemm_pack.h"
#include "backend/cpu/transpose_avx512.h"

namespace lfm2 {
namespace {

constexpr int64_t kTileDepth = 16;  // BF16 pairs per tile row (32 depth steps)

struct KernAmx32x32 {
  using PackT = uint32_t;
  static constexpr int MR = 32, NR = 32;
  // A block MC x KC (512 x 1024 BF16 = 1 MiB) in L2; B panel KC x 32 (64 KiB) streamed from L2 into the tiles. NC
  // 2048: a B block of 4 MiB per thread (4096 repacked training products' A less often at the same speed, but its
  // 8 MiB per thread put LoRA 8x512 over 6.5 GiB).
  static constexpr int64_t MC = 512, KC = 1024, NC = 2048;
  static int64_t kpad(int64_t kc) { return (kc + 31) / 32 * kTileDepth; }

  // The tile configuration is per thread: loaded before a thread's first micro call.
  static void thread_begin() { configure_tiles(); }

  // a: [32][kp] pairs, b: [kp][32] pairs.
  static void micro(int64_t kc, const uint32_t* a, const uint32_t* b, float* C, int64_t ldc, float beta, int mr,
                    int nr) {
    const int64_t kp = kpad(kc);
    const int64_t sa = kp * 4;  // bytes between A rows
    // Whole tiles write C directly; beta == 1 (the later depth blocks of the driver) loads C into the tiles first.
    const bool direct = mr == 32 && nr == 32 && (beta == 0.f || beta == 1.f);
    const int64_t sc = ldc * 4;
    if (direct && beta == 1.f) {
      _tile_loadd(0, C, sc);
      _tile_loadd(1, C + 16, sc);
      _tile_loadd(2, C + 16 * ldc, sc);
      _tile_loadd(3, C + 16 * ldc + 16, sc);
    } else {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
    }
    for (int64_t k = 0; k < kp; k += kTileDepth) {
      _tile_loadd(4, a + k, sa);
      _tile_loadd(5, a + 16 * kp + k, sa);
      _tile_loadd(6, b + k * 32, 128);
      _tile_loadd(7, b + k * 32 + 16, 128);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    if (direct) {
      _tile_stored(0, C, sc);
      _tile_stored(1, C + 16, sc);
      _tile_stored(2, C + 16 * ldc, sc);
      _tile_stored(3, C + 16 * ldc + 16, sc);
      return;
    }
    // Edge or scaled block: through a scratch tile, masked so nothing past mr x nr is touched.
    alignas(64) float t[32][32];
    _tile_stored(0, &t[0][0], 128);
    _tile_stored(1, &t[0][16], 128);
    _tile_stored(2, &t[16][0], 128);
    _tile_stored(3, &t[16][16], 128);
    const __mmask16 m0 = nr >= 16 ? __mmask16(0xffff) : __mmask16((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? __mmask16(0xffff) : nr <= 16 ? __mmask16(0) : __mmask16((1u << (nr - 16)) - 1u);
    const __m512 vb = _mm512_set1_ps(beta);
    for (int r = 0; r < mr; ++r) {
      float* cr = C + r * ldc;
      __m512 v0 = _mm512_load_ps(&t[r][0]), v1 = _mm512_load_ps(&t[r][16]);
      if (beta != 0.f) {
        v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
        v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
      }
      _mm512_mask_storeu_ps(cr, m0, v0);
      _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
  }
};

// Zero pairs [from, kp) of rows [0, rows_set) of a row-major [32][kp] panel, and whole rows [rows_set, 32).
inline void zero_rows_tail(uint32_t* dst, int64_t kp, int rows_set, int64_t from) {
  for (int r = 0; r < 32; ++r) {
    const int64_t start = r < rows_set ? from : 0;
    if (start < kp) std::memset(dst + r * kp + start, 0, size_t(kp - start) * 4);
  }
}

// A of gemm_nt / gemm_nn (activations, FP32): rows i0.. of a depth-contiguous X [rows, K] -> [32][kp] pair rows, per
// panel of 32 rows; 16 values (8 pairs) rounded per store, as the pair packers round them.
void pack_a_rows(uint32_t* dst, const float* X, int64_t ld, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
  const int64_t kp = KernAmx32x32::kpad(kc);
  for (int64_t i = 0; i < mc; i += 32, dst += 32 * kp) {
    const int rows = int(std::min<int64_t>(32, mc - i));
    for (int r = 0; r < rows; ++r) {
      const float* x = X + (i0 + i + r) * ld + p0;
      uint32_t* d = dst + r * kp;
      int64_t k = 0;
      for (; k + 16 <= kc; k += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + k / 2), round16_bf16(_mm512_loadu_ps(x + k)));
      for (; k < kc; k += 2) {
        const uint32_t lo = to_bf16(x[k]), hi = k + 1 < kc ? to_bf16(x[k + 1]) : 0;
        d[k / 2] = lo | (hi << 16);
      }
    }
    zero_rows_tail(dst, kp, rows, (kc + 1) / 2);
  }
}

// A of gemm_tn: columns i0.. of a row-major X [K, cols] -> [32][kp] pair rows: the vdpbf16ps pair panel
// ([pairs][32], one column per lane) transposed in 8x8 blocks of 32-bit pairs.
void pack_a_cols(uint32_t* dst, const float* X, int64_t ld, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
  const int64_t kp = KernAmx32x32::kpad(kc), kp0 = (kc + 1) / 2;
  uint32_t* tmp = thread_pack_buffer<uint32_t, 3>().get(32 * (kp0 + 8));
  for (int64_t i = 0; i < mc; i += 32, dst += 32 * kp) {
    pack_cols_pairs<32>(tmp, X, ld, i0 + i, std::min<int64_t>(32, mc - i), p0, kc);  // [kp0][32], zero columns past mc
    std::memset(tmp + kp0 * 32, 0, size_t(8 * 32) * 4);                              // pairs kp0..kp0+7 read as zero
    for (int64_t k = 0; k < kp0; k += 8)
      for (int g = 0; g < 4; ++g) {
        __m256 v[8];
        for (int j = 0; j < 8; ++j) v[j] = _mm256_loadu_ps(reinterpret_cast<const float*>(tmp + (k + j) * 32 + 8 * g));
        transpose8(v);  // v[r] = pairs k..k+7 of row 8g + r
        for (int r = 0; r < 8; ++r) _mm256_storeu_ps(reinterpret_cast<float*>(dst + (8 * g + r) * kp + k), v[r]);
      }
    zero_rows_tail(dst, kp, 32, (kp0 + 7) / 8 * 8);
  }
}

// BF16 weight rows [N, K] (gemm_nt's B, prefill and the training forward) -> one [kp][32] pair panel: for each 16
// pairs of depth, 2 x 16 rows of 16 pairs each (one zmm per row) transposed in registers. Whole 32-row panels and
// whole 16-pair steps only (the caller packs the rest with the generic packer).
void pack_weight_rows_avx512(uint32_t* dst, const uint16_t* W, int64_t ld, int64_t j0, int64_t p0, int64_t kc16) {
  for (int64_t k = 0; k < kc16; k += 32)
    for (int h = 0; h < 2; ++h) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_castsi512_ps(_mm512_loadu_si512(W + (j0 + 16 * h + i) * ld + p0 + k));
      transpose16(r);  // r[j] = pair k/2 + j of the 16 rows
      for (int j = 0; j < 16; ++j) _mm512_storeu_ps(reinterpret_cast<float*>(dst + (k / 2 + j) * 32 + 16 * h), r[j]);
    }
}

// B: the pair packers of the vdpbf16ps kernel, one 32-column panel at a time (their panels are ceil(kc/2) pairs
// deep, ours kp), zero pairs after the data; whole panels of BF16 weight rows with the AVX-512 transpose above.
template <Layout LB, class T>
void pack_b(uint32_t* dst, const T* X, int64_t ld, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
  const int64_t kp = KernAmx32x32::kpad(kc), kp0 = (kc + 1) / 2;
  for (int64_t j = 0; j < nc; j += 32, dst += 32 * kp) {
    const int64_t n = std::min<int64_t>(32, nc - j);
    if constexpr (LB == Layout::Rows && std::is_same<T, uint16_t>::value) {
      const int64_t kc32 = n == 32 ? kc / 32 * 32 : 0;
      if (kc32 > 0) pack_weight_rows_avx512(dst, X, ld, j0 + j, p0, kc32);
      if (kc32 < kc) pack_rows_pairs<32>(dst + kc32 / 2 * 32, X, ld, j0 + j, n, p0 + kc32, kc - kc32);
    } else if constexpr (LB == Layout::Rows) {
      pack_rows_pairs<32>(dst, X, ld, j0 + j, n, p0, kc);
    } else {
      pack_cols_pairs<32>(dst, X, ld, j0 + j, n, p0, kc);
    }
    std::memset(dst + kp0 * 32, 0, size_t(kp - kp0) * 32 * 4);
  }
}

template <Layout LA, Layout LB, class TB>
void amx_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const TB* B, int64_t ldb, float* C,
              int64_t ldc, float beta) {
  auto pa = [&](uint32_t* d, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
    if constexpr (LA == Layout::Rows) pack_a_rows(d, A, lda, i0, mc, p0, kc);
    else pack_a_cols(d, A, lda, i0, mc, p0, kc);
  };
  auto pb = [&](uint32_t* d, int64_t j0, int64_t nc, int64_t p0, int64_t kc) { pack_b<LB>(d, B, ldb, j0, nc, p0, kc); };
  blocked_gemm<KernAmx32x32>(M, N, K, pa, pb, C, ldc, beta);
}

template <Layout LB>
void amx_gemm_w(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                int64_t ldb, float* C, int64_t ldc, float beta) {
  if (btype == DType::BF16)
    amx_gemm<Layout::Rows, LB>(M, N, K, A, lda, static_cast<const uint16_t*>(B), ldb, C, ldc, beta);
  else
    amx_gemm<Layout::Rows, LB>(M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta);
}

}  // namespace

namespace gemm_kernels {

void nt_amx(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
            float* C, int64_t ldc, float beta) {
  amx_gemm_w<Layout::Rows>(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
}

void nn_amx(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
            float* C, int64_t ldc, float beta) {
  amx_gemm_w<Layout::Cols>(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
}

void tn_amx(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
            int64_t ldc, float beta) {
  amx_gemm<Layout::Cols, Layout::Cols>(M, N, K, A, lda, B, ldb, C, ldc, beta);
}

}  // namespace gemm_kernels
}  // namespace lfm2
