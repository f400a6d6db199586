#pragma once
// In-register 16x16 transpose of 32-bit lanes for the AVX-512 kernel files (include only from files compiled with the
// AVX-512 flags). Bit moves only: FP32 values and BF16 pairs alike come out unchanged.
#include <immintrin.h>

namespace lfm2 {
namespace {

// r[i][j] -> r[j][i]: unpacks within 128-bit lanes, then moves of whole lanes.
inline void transpose16(__m512 r[16]) {
  __m512 u[4][4];  // u[g][c]: lane j holds rows 4g..4g+3 of column 4j + c
  for (int g = 0; g < 4; ++g) {
    const __m512 t0 = _mm512_unpacklo_ps(r[4 * g], r[4 * g + 1]), t1 = _mm512_unpackhi_ps(r[4 * g], r[4 * g + 1]);
    const __m512 t2 = _mm512_unpacklo_ps(r[4 * g + 2], r[4 * g + 3]), t3 = _mm512_unpackhi_ps(r[4 * g + 2], r[4 * g + 3]);
    u[g][0] = _mm512_shuffle_ps(t0, t2, 0x44);
    u[g][1] = _mm512_shuffle_ps(t0, t2, 0xEE);
    u[g][2] = _mm512_shuffle_ps(t1, t3, 0x44);
    u[g][3] = _mm512_shuffle_ps(t1, t3, 0xEE);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[0][c], u[1][c], 0x88), v1 = _mm512_shuffle_f32x4(u[0][c], u[1][c], 0xDD);
    const __m512 v2 = _mm512_shuffle_f32x4(u[2][c], u[3][c], 0x88), v3 = _mm512_shuffle_f32x4(u[2][c], u[3][c], 0xDD);
    r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
    r[4 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
  }
}

}  // namespace
}  // namespace lfm2
