// Small-M gemm_nt on BF16 weights with vdpbf16ps: the fast-precision decode kernel (compiled with the AVX-512
// flags; called only when cpu_features().has_avx512_bf16(), for M <= kGemvMaxRows and K > 0).
//
// Decode reads every weight once per step for all sequences, so the weights set the floor (2 bytes each) and, from
// a handful of sequences on, the multiply-adds set it: an FP32 FMA does 16 of them per instruction after two more
// to widen the BF16 weights, vdpbf16ps does 32 straight from BF16. So A is rounded to BF16 once per call (round to
// nearest even, exactly as the packed fast kernel rounds it, into a zero-padded [M, Kp] copy, Kp = K rounded up to
// 32), and each tile of 6 weight rows is read from memory once and dotted with every row of A: 16 FP32 lanes of
// partial sums per (row of A, weight row), reduced once at the end. FP32 accumulation throughout.
//
// Note on vdpbf16ps: it treats BF16 denormals as zero and flushes denormal results, as the packed fast kernel does.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_driver.h"
#include "backend/cpu/bf16_avx512.h"
#include "backend/cpu/gemm_kernels.h"
#include "backend/cpu/gemm_small.h"

namespace lfm2 {
namespace {

constexpr int kTileRows = 6;  // weight rows per tile

// A [M, K] (row stride lda) -> dst [M, kp] bf16, zero past K.
void round_rows(int64_t M, int64_t K, const float* A, int64_t lda, uint16_t* dst, int64_t kp) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < kp; k += 16) {
      const int64_t left = K - k;
      const __mmask16 mk = left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + m * kp + k),
                         round16_bf16(_mm512_maskz_loadu_ps(mk, A + m * lda + k)));
    }
}

// [Σa, Σb, Σc, Σd] over the 16 lanes of each accumulator.
inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // 128-bit quarters: ab = [a0+a2, a1+a3, b0+b2, b1+b3], cd likewise, x = [a, b, c, d] with 4 partial sums each.
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  __m512 x = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0x4E));  // within each quarter: + the other 64-bit half
  x = _mm512_add_ps(x, _mm512_permute_ps(x, 0xB1));  // + the neighbouring lane: every lane holds its quarter's sum
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), x));
}

// C[0, 0..n) = s + beta*C for n ≤ 4 (masked: nothing past n is touched).
inline void store4(__m128 s, float* C, int n, float beta) {
  const __mmask8 mk = __mmask8((1u << n) - 1u);
  if (beta != 0.f) s = _mm_fmadd_ps(_mm_set1_ps(beta), _mm_maskz_loadu_ps(mk, C), s);
  _mm_mask_storeu_ps(C, mk, s);
}

// C[MB, nb] = beta*C + A[MB, :] · W[nb, :]ᵀ with A rounded ([MB, kp] bf16, zero past K) and W [nb, K] bf16 rows.
// kv full 32-element steps, then one masked step over the last K % 32 elements (tail != 0). `ahead` (elements, 0 =
// none): prefetch distance past each weight row, for the first block of A's rows, which streams the tile from memory.
template <int MB, int NB>
void dot_block(int64_t kv, __mmask32 tail, const uint16_t* A, int64_t kp, const uint16_t* W, int64_t ldw, int nb,
               float* C, int64_t ldc, float beta, int64_t ahead) {
  static_assert(NB <= 8, "reduce handles up to 8 weight rows");
  const uint16_t* w[NB];
  for (int n = 0; n < NB; ++n) w[n] = W + std::min(n, nb - 1) * ldw;  // rows past nb repeat the last (unused)
  __m512 acc[MB][NB];
  for (int m = 0; m < MB; ++m)
    for (int n = 0; n < NB; ++n) acc[m][n] = _mm512_setzero_ps();
  const int64_t kend = kv * 32;
  for (int64_t k = 0; k < kend; k += 32) {  // one 64-byte line of every weight row per step
    if (ahead > 0)
      for (int n = 0; n < NB; ++n) _mm_prefetch(reinterpret_cast<const char*>(w[n] + k + ahead), _MM_HINT_T1);
    __m512bh wv[NB];
    for (int n = 0; n < NB; ++n) wv[n] = (__m512bh)_mm512_loadu_si512(w[n] + k);
    for (int m = 0; m < MB; ++m) {
      const __m512bh av = (__m512bh)_mm512_load_si512(A + m * kp + k);
      for (int n = 0; n < NB; ++n) acc[m][n] = _mm512_dpbf16_ps(acc[m][n], av, wv[n]);
    }
  }
  if (tail) {  // masked weight loads never touch memory past K; A is zero there
    __m512bh wv[NB];
    for (int n = 0; n < NB; ++n) wv[n] = (__m512bh)_mm512_maskz_loadu_epi16(tail, w[n] + kend);
    for (int m = 0; m < MB; ++m) {
      const __m512bh av = (__m512bh)_mm512_load_si512(A + m * kp + kend);
      for (int n = 0; n < NB; ++n) acc[m][n] = _mm512_dpbf16_ps(acc[m][n], av, wv[n]);
    }
  }
  const __m512 z = _mm512_setzero_ps();
  for (int m = 0; m < MB; ++m) {
    float* c = C + m * ldc;
    store4(reduce4(acc[m][0], NB > 1 ? acc[m][1 % NB] : z, NB > 2 ? acc[m][2 % NB] : z, NB > 3 ? acc[m][3 % NB] : z),
           c, std::min(nb, 4), beta);
    if (NB > 4 && nb > 4)
      store4(reduce4(acc[m][4 % NB], NB > 5 ? acc[m][5 % NB] : z, NB > 6 ? acc[m][6 % NB] : z,
                     NB > 7 ? acc[m][7 % NB] : z),
             c + 4, nb - 4, beta);
  }
}

// Weight rows [n, n + nb) of one part (nb ≤ kTileRows) against all M rounded rows of A.
void tile(int64_t M, int64_t K, const uint16_t* A, int64_t kp, const GemmNtPart& p, int64_t n, int nb) {
  const int64_t ldw = p.ldb, ldc = p.ldc, kv = K / 32;
  const int rem = int(K % 32);
  const __mmask32 tail = rem ? __mmask32((1u << rem) - 1u) : __mmask32(0);
  const float beta = p.beta;
  const uint16_t* w = static_cast<const uint16_t*>(p.B) + n * ldw;
  float* c = p.C + n;
  // The first block of A's rows reads the tile from memory while prefetching the same rows of the next tile into L2
  // (into L1 it would evict the tile and A before their reuse: on Zen 4 at LFM2-350M shapes the L2 hint streams
  // ~1.3x the bytes per second at M = 1 and ~1.6x the FLOPs at M = 8).
  const int64_t ahead = kTileRows * ldw;
  int64_t m = 0;
  for (; m + 8 <= M; m += 8) {  // 8x3 register blocks: 24 accumulators, 11 loads per 24 vdpbf16ps
    const int64_t pf = m == 0 ? ahead : 0;
    const uint16_t* a = A + m * kp;
    dot_block<8, 3>(kv, tail, a, kp, w, ldw, std::min(nb, 3), c + m * ldc, ldc, beta, pf);
    if (nb > 3) dot_block<8, 3>(kv, tail, a, kp, w + 3 * ldw, ldw, nb - 3, c + m * ldc + 3, ldc, beta, pf);
  }
  for (; m + 4 <= M; m += 4)
    dot_block<4, 6>(kv, tail, A + m * kp, kp, w, ldw, nb, c + m * ldc, ldc, beta, m == 0 ? ahead : 0);
  for (; m + 2 <= M; m += 2)
    dot_block<2, 6>(kv, tail, A + m * kp, kp, w, ldw, nb, c + m * ldc, ldc, beta, m == 0 ? ahead : 0);
  if (m < M) dot_block<1, 6>(kv, tail, A + m * kp, kp, w, ldw, nb, c + m * ldc, ldc, beta, m == 0 ? ahead : 0);
}

}  // namespace

namespace gemm_kernels {

void nt_small_bf16_avx512(int64_t M, int64_t K, const float* A, int64_t lda, const GemmNtPart* parts, int n_parts) {
  const int64_t kp = (K + 31) / 32 * 32;
  // Rounded once on the calling thread (M*K elements, small next to the N*K weights) and shared read-only by the
  // pool's threads for every part.
  uint16_t* a = thread_pack_buffer<uint16_t, 0>().get(M * kp);
  round_rows(M, K, A, lda, a, kp);
  run_part_tiles<kTileRows>(M, K, parts, n_parts,
                            [&](const GemmNtPart& p, int64_t n, int nb) { tile(M, K, a, kp, p, n, nb); });
}

}  // namespace gemm_kernels
}  // namespace lfm2
