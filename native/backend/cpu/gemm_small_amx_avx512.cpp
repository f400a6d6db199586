// Small-M gemm_nt on BF16 weights with AMX tiles: the fast-precision decode kernel where the CPU has AMX (compiled
// with the AVX-512 family's flags, AMX's included; called only when cpu_features().has_amx_bf16(), for M <= 64).
//
// Decode streams every weight once per step for all sequences. With vdpbf16ps the multiply-adds bound it from ~8
// sequences on (on cores where vdpbf16ps issues once per cycle, 32 sequences reach only a third of the read
// bandwidth); a TDPBF16PS does 16x16x32 multiply-adds, so here the weights' bytes bound every M.
// The product is computed transposed, Cᵀ[N, M] = W[N, K] · Aᵀ, so that the weights need no packing: a tile of 16
// weight rows x 32 depth steps is loaded straight from the row-major [N, K] matrix (each row one 64-byte line), and
// only A is packed, once per call, as BF16 pairs [K/2][32 rows] (the B-tile layout). Each 16x16 result tile holds
// 16 weight rows x 16 rows of A and is written back transposed.
//
//   per block of 32 weight rows and 32 rows of A: weights tmm4-5, A tmm6-7, results tmm0-3
// A is rounded to BF16 to nearest even (as the vdpbf16ps kernels round it), depth zero-padded to a multiple of 32;
// FP32 accumulation; BF16 denormals read as zero and denormal results flush, as vdpbf16ps does.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_amx_tiles.h"
#include "backend/cpu/gemm_driver.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/gemm_pack.h"
#include "backend/cpu/gemm_small.h"
#include "backend/cpu/transpose_avx512.h"

namespace lfm2 {
namespace {

constexpr int kRows = 32;  // weight rows per block (two tiles)

// Results of one block: weight rows [n, n + nb) x rows [0, mc) of A (a chunk of at most 32), from the tiles into C
// transposed, C = acc + beta*C; nothing outside the block is touched.
template <int NA>
void store_block(float* C, int64_t ldc, float beta, int nb, int mc) {
  alignas(64) float t[kRows][32];  // [weight row][row of A]
  _tile_stored(0, &t[0][0], 128);
  _tile_stored(2, &t[16][0], 128);
  if (NA == 2) {
    _tile_stored(1, &t[0][16], 128);
    _tile_stored(3, &t[16][16], 128);
  }
  const __m512 vb = _mm512_set1_ps(beta);
  for (int ib = 0; ib < nb; ib += 16) {
    const int n = std::min(16, nb - ib);
    const __mmask16 mask = n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u);
    for (int mb = 0; mb < mc; mb += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_load_ps(&t[ib + i][mb]);
      transpose16(r);  // r[c] = weight rows ib..ib+15 for row mb + c of A
      const int rows = std::min(16, mc - mb);
      for (int c = 0; c < rows; ++c) {
        float* dst = C + (mb + c) * ldc + ib;
        __m512 v = r[c];
        if (beta != 0.f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, dst), v);
        _mm512_mask_storeu_ps(dst, mask, v);
      }
    }
  }
}

// Cᵀ block: 32 weight rows W (row stride ldw elements, kv full 32-step depth chunks readable) x NA*16 packed rows of
// A (a: [kp][32] pairs, pairs past K zero). `tail` (nullptr when K % 32 == 0): the last, partial depth chunk of the
// 32 weight rows, zero-padded ([32][32] bf16).
// `next` (nullptr: none): the following block's weights (same row stride), prefetched into L2 line by line as this
// block's depth advances, so that the streams of 32 rows are in flight before their tiles are loaded.
template <int NA>
void block(const uint16_t* W, int64_t ldw, int64_t kv, const uint16_t* tail, const uint32_t* a, const uint16_t* next) {
  const int64_t sw = ldw * 2;
  _tile_zero(0);
  _tile_zero(2);
  if (NA == 2) {
    _tile_zero(1);
    _tile_zero(3);
  }
  // One depth step of 32: weight rows W0 (16 rows, stride sw bytes) and W1, and the step's A pairs.
  const auto step = [&](const uint16_t* w0, const uint16_t* w1, int64_t stride, const uint32_t* ak) {
    _tile_loadd(4, w0, stride);
    _tile_loadd(5, w1, stride);
    _tile_loadd(6, ak, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    if (NA == 2) {
      _tile_loadd(7, ak + 16, 128);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
    }
  };
  for (int64_t k = 0; k < kv; ++k) {
    if (next)
      for (int r = 0; r < kRows; ++r) _mm_prefetch(reinterpret_cast<const char*>(next + r * ldw + k * 32), _MM_HINT_T1);
    step(W + k * 32, W + 16 * ldw + k * 32, sw, a + k * 16 * 32);
  }
  if (tail) step(tail, tail + 16 * 32, 64, a + kv * 16 * 32);
}

}  // namespace

namespace gemm_kernels {

void nt_small_bf16_amx(int64_t M, int64_t K, const float* A, int64_t lda, const GemmNtPart* parts, int n_parts) {
  const int64_t kv = K / 32, kp = (K + 31) / 32 * 16, kp0 = (K + 1) / 2;
  const bool ragged = K % 32 != 0;
  const int64_t chunks = (M + 31) / 32;
  // A as pair panels of 32 rows ([kp][32] each, zero past M and K), packed once on the calling thread and read by all.
  uint32_t* a = thread_pack_buffer<uint32_t, 0>().get(chunks * kp * 32);
  for (int64_t c = 0; c < chunks; ++c) {
    uint32_t* d = a + c * kp * 32;
    pack_rows_pairs<32>(d, A, lda, c * 32, std::min<int64_t>(32, M - c * 32), 0, K);
    std::memset(d + kp0 * 32, 0, size_t(kp - kp0) * 32 * 4);
  }
  run_part_tiles<kRows>(M, K, parts, n_parts, [&](const GemmNtPart& p, int64_t n, int nb) {
    configure_tiles();
    const uint16_t* w = static_cast<const uint16_t*>(p.B) + n * p.ldb;
    int64_t ldw = p.ldb, full = kv;
    // A partial block (the last nb < 32 rows) is copied, zero-padded, so that no tile reads past the matrix; the
    // ragged depth tail of a full block likewise.
    alignas(64) uint16_t tail[kRows * 32];
    const uint16_t* tp = nullptr;
    if (nb < kRows) {
      uint16_t* s = thread_pack_buffer<uint16_t, 3>().get(kRows * kp * 2);
      std::memset(s, 0, size_t(kRows * kp * 2) * 2);
      for (int r = 0; r < nb; ++r) std::memcpy(s + r * kp * 2, w + r * p.ldb, size_t(K) * 2);
      w = s;
      ldw = kp * 2;
      full = kp / 16;
    } else if (ragged) {
      std::memset(tail, 0, sizeof tail);
      for (int r = 0; r < kRows; ++r) std::memcpy(tail + r * 32, w + r * p.ldb + kv * 32, size_t(K - kv * 32) * 2);
      tp = tail;
    }
    // The next block of this part, while this one streams (the first chunk of A reads the weights from memory); the
    // last, partial block runs on its copy and is never prefetched.
    const uint16_t* next = n + 2 * kRows <= p.N ? w + kRows * ldw : nullptr;
    for (int64_t c = 0; c < chunks; ++c) {
      const int mc = int(std::min<int64_t>(32, M - c * 32));
      const uint32_t* ac = a + c * kp * 32;
      float* C = p.C + c * 32 * p.ldc + n;
      const uint16_t* pf = c == 0 ? next : nullptr;
      if (mc > 16) {
        block<2>(w, ldw, full, tp, ac, pf);
        store_block<2>(C, p.ldc, p.beta, nb, mc);
      } else {
        block<1>(w, ldw, full, tp, ac, pf);
        store_block<1>(C, p.ldc, p.beta, nb, mc);
      }
    }
  });
}

}  // namespace gemm_kernels
}  // namespace lfm2
