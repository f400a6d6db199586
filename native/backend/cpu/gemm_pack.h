#pragma once
// Panel packers for the blocked GEMM driver (gemm_driver.h), written with AVX2 so that every SIMD kernel file
// (compiled with at least -mavx2 -mfma -mf16c) shares them. Internal linkage: each including file gets its own copy.
//
// A packed panel holds R rows (or columns) of one operand for `kc` depth steps, depth-major: panel[k][r].
// Rows past the valid count are zero. Stores of 8 lanes at stride R (R not a multiple of 8) spill into the next
// depth step, which a later store overwrites; the last spill lands in the driver's kPackSlack.
//
// Two element formats:
//   f32 panels  [kc][R] floats (bf16 sources upcast exactly)                         - exact path
//   pair panels [ceil(kc/2)][R] uint32, each the bf16 pair (x[k], x[k+1]), k even,   - vdpbf16ps path
//               rounded to nearest even from f32 sources, zero past kc
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/bf16.h"

namespace lfm2 {
namespace {

// How an operand is stored: Rows = [rows, K] with the depth contiguous (A of nt/nn, W of nt); Cols = [K, cols]
// (W of nn, both operands of tn).
enum class Layout { Rows, Cols };

inline __m256 load8_bf16(const uint16_t* p) {  // 8 bf16 -> 8 f32, exact
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return load8_bf16(p); }
inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t x) { return bf16_to_f32(x); }
inline uint16_t to_bf16(float x) { return f32_to_bf16(x); }
inline uint16_t to_bf16(uint16_t x) { return x; }

inline __m256i lane_mask(int n) {  // first n of 8 lanes set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// f32 -> bf16 bits in the low half of each 32-bit lane, round to nearest even, NaN stays NaN (as f32_to_bf16).
inline __m256i round_bf16(__m256 x) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  const __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(r, q, nan);
}

// 8 bf16 pairs (16 consecutive depth steps) as 8 uint32 lanes, in a float register (bit pattern only).
inline __m256 load8_pairs(const uint16_t* p) { return _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i*)p)); }
inline __m256 load8_pairs(const float* p) {
  const __m256i lo = round_bf16(_mm256_loadu_ps(p)), hi = round_bf16(_mm256_loadu_ps(p + 8));
  // packus works per 128-bit lane: [lo0..3 hi0..3 | lo4..7 hi4..7] as 16-bit; restore depth order across lanes.
  const __m256i packed = _mm256_packus_epi32(lo, hi);
  return _mm256_castsi256_ps(_mm256_permute4x64_epi64(packed, 0xD8));
}

// In-register 8x8 transpose of 32-bit lanes: r[i][j] -> r[j][i] (bit-exact moves only).
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

// Rows i0..i0+mc of a depth-contiguous matrix X [rows, K] (row stride ld) -> f32 panels [kc][R].
// A of gemm_nt / gemm_nn, B (= W [N, K]) of gemm_nt.
template <int R, class T>
void pack_rows_f32(float* dst, const T* X, int64_t ld, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
  constexpr int G = (R + 7) / 8;
  for (int64_t i = 0; i < mc; i += R, dst += R * kc) {
    const int rows = int(std::min<int64_t>(R, mc - i));
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 v[G][8];
      for (int g = 0; g < G; ++g) {
        for (int r = 0; r < 8; ++r) {
          const int row = 8 * g + r;
          v[g][r] = row < rows ? load8(X + (i0 + i + row) * ld + p0 + k) : _mm256_setzero_ps();
        }
        transpose8(v[g]);
      }
      for (int j = 0; j < 8; ++j)
        for (int g = 0; g < G; ++g) _mm256_storeu_ps(dst + (k + j) * R + 8 * g, v[g][j]);
    }
    for (; k < kc; ++k)
      for (int r = 0; r < R; ++r) dst[k * R + r] = r < rows ? to_f32(X[(i0 + i + r) * ld + p0 + k]) : 0.f;
  }
}

// Columns j0..j0+nc of a row-major X [K, cols] (columns contiguous) -> f32 panels [kc][R].
// B of gemm_nn / gemm_tn, A of gemm_tn (stored [K, M]).
template <int R, class T>
void pack_cols_f32(float* dst, const T* X, int64_t ld, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
  constexpr int G = (R + 7) / 8;
  for (int64_t j = 0; j < nc; j += R, dst += R * kc) {
    const int cols = int(std::min<int64_t>(R, nc - j));
    const T* src = X + p0 * ld + j0 + j;
    for (int64_t k = 0; k < kc; ++k) {
      for (int g = 0; g < G; ++g) {
        const int n = std::clamp(cols - 8 * g, 0, 8);
        __m256 v;
        if (n == 8) {
          v = load8(src + k * ld + 8 * g);
        } else if (n == 0) {
          v = _mm256_setzero_ps();
        } else if constexpr (std::is_same<T, float>::value) {
          v = _mm256_maskload_ps(src + k * ld + 8 * g, lane_mask(n));  // never touches memory past column n
        } else {
          alignas(32) float t[8] = {};
          for (int c = 0; c < n; ++c) t[c] = to_f32(src[k * ld + 8 * g + c]);
          v = _mm256_load_ps(t);
        }
        _mm256_storeu_ps(dst + k * R + 8 * g, v);
      }
    }
  }
}

// Rows of a depth-contiguous X [rows, K] -> pair panels [ceil(kc/2)][R] (A and W of the vdpbf16ps gemm_nt).
template <int R, class T>
void pack_rows_pairs(uint32_t* dst, const T* X, int64_t ld, int64_t i0, int64_t mc, int64_t p0, int64_t kc) {
  constexpr int G = (R + 7) / 8;
  const int64_t kp = (kc + 1) / 2;
  for (int64_t i = 0; i < mc; i += R, dst += R * kp) {
    const int rows = int(std::min<int64_t>(R, mc - i));
    float* out = reinterpret_cast<float*>(dst);
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
      __m256 v[G][8];
      for (int g = 0; g < G; ++g) {
        for (int r = 0; r < 8; ++r) {
          const int row = 8 * g + r;
          v[g][r] = row < rows ? load8_pairs(X + (i0 + i + row) * ld + p0 + k) : _mm256_setzero_ps();
        }
        transpose8(v[g]);
      }
      for (int j = 0; j < 8; ++j)
        for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + (k / 2 + j) * R + 8 * g, v[g][j]);
    }
    for (; k < kc; k += 2)
      for (int r = 0; r < R; ++r) {
        uint32_t lo = 0, hi = 0;
        if (r < rows) {
          const T* x = X + (i0 + i + r) * ld + p0;
          lo = to_bf16(x[k]);
          hi = k + 1 < kc ? to_bf16(x[k + 1]) : 0;
        }
        dst[(k / 2) * R + r] = lo | (hi << 16);
      }
  }
}

// Columns j0..j0+nc of a row-major X [K, cols] (columns contiguous) -> pair panels [ceil(kc/2)][R]: lane r of depth
// pair k/2 holds (X[k][c], X[k+1][c]) for column c = j0 + j + r, rounded to nearest even from f32 sources.
// B of the vdpbf16ps gemm_nn (W [out, in] read as [K, N]) and both operands of its gemm_tn.
template <int R, class T>
void pack_cols_pairs(uint32_t* dst, const T* X, int64_t ld, int64_t j0, int64_t nc, int64_t p0, int64_t kc) {
  constexpr int G = (R + 7) / 8;
  const int64_t kp = (kc + 1) / 2;
  // 8 columns of one depth row as bf16 bits in the low half of 8 lanes; lanes past n are zero.
  auto row8 = [](const T* p, int n) -> __m256i {
    if constexpr (std::is_same<T, float>::value) {
      if (n == 8) return round_bf16(_mm256_loadu_ps(p));
      return round_bf16(_mm256_maskload_ps(p, lane_mask(n)));  // never touches memory past column n
    } else {
      if (n == 8) return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
      alignas(32) uint32_t t[8] = {};
      for (int c = 0; c < n; ++c) t[c] = p[c];
      return _mm256_load_si256((const __m256i*)t);
    }
  };
  for (int64_t j = 0; j < nc; j += R, dst += R * kp) {
    const int cols = int(std::min<int64_t>(R, nc - j));
    const T* src = X + p0 * ld + j0 + j;
    for (int64_t k = 0; k < kc; k += 2) {
      const bool has_hi = k + 1 < kc;
      for (int g = 0; g < G; ++g) {
        const int n = std::clamp(cols - 8 * g, 0, 8);
        __m256i v = _mm256_setzero_si256();
        if (n > 0) {
          const __m256i lo = row8(src + k * ld + 8 * g, n);
          const __m256i hi = has_hi ? row8(src + (k + 1) * ld + 8 * g, n) : _mm256_setzero_si256();
          v = _mm256_or_si256(lo, _mm256_slli_epi32(hi, 16));
        }
        _mm256_storeu_si256((__m256i*)(dst + (k / 2) * R + 8 * g), v);
      }
    }
  }
}

}  // namespace
}  // namespace lfm2
