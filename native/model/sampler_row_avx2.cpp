// AVX2+FMA versions of the token-choice row kernels (interface and contract in sampler_row.h).
#include <immintrin.h>

#include <algorithm>
#include <limits>

#include "model/sampler_row.h"

namespace lfm2::avx2 {

namespace {

// expf for x ≤ 0 (Cephes polynomial on [−ln2/2, ln2/2], ≤ 2 ulp); x < −87.33 (incl. −inf) gives 0, where expf would
// give a subnormal below 1e-38 — nothing next to the row's largest weight, which is 1.
inline __m256 exp_nonpos(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(x, lo);
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(underflow, y);
}

// float((double(x) − m) · inv_t) for 8 lanes. At inv_t = 1 the FP32 difference is already that value (the difference
// of two floats is exact in double, so both round the same number once).
inline __m256 scaled_arg(__m256 x, __m256 mf, __m256d md, __m256d invd, bool unit) {
  if (unit) return _mm256_sub_ps(x, mf);
  const __m256d lo = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), md), invd);
  const __m256d hi = _mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), md), invd);
  return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
}

inline __m256d add_as_double(__m256d acc, __m256 e) {
  acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
  return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

inline double hsum(__m256d v) {
  alignas(32) double t[4];
  _mm256_store_pd(t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}

}  // namespace

float row_max(const float* x, int64_t n) {
  __m256 m0 = _mm256_set1_ps(-std::numeric_limits<float>::infinity()), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
    m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + i + 16));
    m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + i + 24));
  }
  for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
  m0 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
  alignas(32) float t[8];
  _mm256_store_ps(t, m0);
  float m = t[0];
  for (int k = 1; k < 8; ++k) m = std::max(m, t[k]);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

int64_t row_argmax(const float* x, int64_t n) {
  const float m = row_max(x, n);
  const __m256 mv = _mm256_set1_ps(m);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), mv, _CMP_EQ_OQ));
    if (mask) return i + __builtin_ctz(unsigned(mask));
  }
  for (; i < n; ++i)
    if (x[i] == m) return i;
  return 0;  // a row with NaN max: the portable rule also answers 0
}

double row_sum_exp(const float* x, int64_t n, float m, double inv_t, float* w, double* block) {
  const bool unit = inv_t == 1.0;
  const __m256 mf = _mm256_set1_ps(m);
  const __m256d md = _mm256_set1_pd(double(m)), invd = _mm256_set1_pd(inv_t);
  double total = 0;
  const int64_t full = n / kRowBlock * kRowBlock;
  for (int64_t b0 = 0; b0 < full; b0 += kRowBlock) {
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    for (int64_t i = b0; i < b0 + kRowBlock; i += 16) {
      const __m256 e0 = exp_nonpos(scaled_arg(_mm256_loadu_ps(x + i), mf, md, invd, unit));
      const __m256 e1 = exp_nonpos(scaled_arg(_mm256_loadu_ps(x + i + 8), mf, md, invd, unit));
      if (w) _mm256_storeu_ps(w + i, e0), _mm256_storeu_ps(w + i + 8, e1);
      acc0 = add_as_double(acc0, e0);
      acc1 = add_as_double(acc1, e1);
    }
    const double s = hsum(_mm256_add_pd(acc0, acc1));
    if (block) block[b0 / kRowBlock] = s;
    total += s;
  }
  if (full < n) {
    // Last partial block, 8 lanes at a time through a −inf-padded buffer (padding lanes give exactly 0).
    double s = 0;
    for (int64_t i = full; i < n; i += 8) {
      alignas(32) float buf[8];
      const int64_t k = std::min<int64_t>(8, n - i);
      for (int64_t j = 0; j < 8; ++j) buf[j] = j < k ? x[i + j] : -std::numeric_limits<float>::infinity();
      alignas(32) float e[8];
      _mm256_store_ps(e, exp_nonpos(scaled_arg(_mm256_load_ps(buf), mf, md, invd, unit)));
      for (int64_t j = 0; j < k; ++j) {
        if (w) w[i + j] = e[j];
        s += double(e[j]);
      }
    }
    if (block) block[full / kRowBlock] = s;
    total += s;
  }
  return total;
}

double row_sum_exp_pair(const float* x, int64_t n, float m, double inv_t, float* w, double* block, double* sum_unit) {
  const __m256 mf = _mm256_set1_ps(m);
  const __m256d md = _mm256_set1_pd(double(m)), invd = _mm256_set1_pd(inv_t);
  double total = 0;
  const int64_t full = n / 8 * 8;
  __m256d acc_u = _mm256_setzero_pd();
  for (int64_t b0 = 0; b0 < full; b0 += kRowBlock) {
    const int64_t b1 = std::min(full, b0 + kRowBlock);
    __m256d acc = _mm256_setzero_pd();
    for (int64_t i = b0; i < b1; i += 8) {
      const __m256 xv = _mm256_loadu_ps(x + i);
      const __m256 e = exp_nonpos(scaled_arg(xv, mf, md, invd, false));
      if (w) _mm256_storeu_ps(w + i, e);
      acc = add_as_double(acc, e);
      acc_u = add_as_double(acc_u, exp_nonpos(_mm256_sub_ps(xv, mf)));
    }
    const double s = hsum(acc);
    if (block) block[b0 / kRowBlock] = s;
    total += s;
  }
  double unit = hsum(acc_u);
  if (full < n) {
    // Last partial 8-lane group through a −inf-padded buffer; it belongs to block full / kRowBlock, which the loop
    // above already started unless full is a multiple of kRowBlock.
    alignas(32) float buf[8], e[8], eu[8];
    const int64_t k = n - full;
    for (int64_t j = 0; j < 8; ++j) buf[j] = j < k ? x[full + j] : -std::numeric_limits<float>::infinity();
    const __m256 xv = _mm256_load_ps(buf);
    _mm256_store_ps(e, exp_nonpos(scaled_arg(xv, mf, md, invd, false)));
    _mm256_store_ps(eu, exp_nonpos(_mm256_sub_ps(xv, mf)));
    double s = 0;
    for (int64_t j = 0; j < k; ++j) {
      if (w) w[full + j] = e[j];
      s += double(e[j]);
      unit += double(eu[j]);
    }
    const int64_t bt = full / kRowBlock;
    if (block) block[bt] = (full % kRowBlock ? block[bt] : 0.0) + s;
    total += s;
  }
  *sum_unit = unit;
  return total;
}

}  // namespace lfm2::avx2
