#pragma once
// BF16 rounding of 16 lanes for the AVX-512 kernel files (include only from files compiled with the AVX-512 flags).
#include <immintrin.h>

namespace lfm2 {

// 16 f32 -> 16 bf16, round to nearest even, NaN stays NaN (as f32_to_bf16 and the packers' round_bf16). Plain
// AVX-512F/BW integer work: no AVX512_BF16 needed (its vcvtneps2bf16 also flushes denormal inputs).
static inline __m256i round16_bf16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
  const __mmask16 nan =
      _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  const __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, r, q));
}

}  // namespace lfm2
