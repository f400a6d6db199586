// AVX2+FMA row kernel of causal GQA attention (see attention_kernels.h). Compiled with AVX2 flags; called only
// after a run-time CPU check (it also serves AVX-512 machines). Same steps as the portable kernel: scores, max,
// exp, sum, probabilities scaled by 1/sum, weighted V sum; decode spends most of its attention time here, so:
//   - scores of 2 query heads of the group per pass over the keys (each key row loaded once for both), 4 keys at a
//     time, the 8-lane partial sums reduced 4 at a time;
//   - exp by a vectorised polynomial (relative error < 2e-7, see exp8);
//   - the weighted V sum accumulated in registers, 32 output columns of 2 heads at a time.
// Dot products and sums run in 8-lane order, so results differ from the portable kernel by rounding only.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "backend/cpu/attention_kernels.h"

namespace lfm2::attention_kernels {

namespace {

constexpr int64_t kAhead = 8;  // prefetch distance in key/value rows

// [Σa, Σb, Σc, Σd] of four 8-lane vectors.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));  // per 128-bit half: [a b c d]
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

inline float hsum(__m256 v) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(b);
}

// e^x for x ≤ 0 (scores minus their maximum): x = n·ln2 + r, |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by the
// degree-7 Cephes expf polynomial, times 2^n as two power-of-two factors so n down to −150 stays exact. x is
// clamped below at −104 (e^−104 ≈ 7e−46 is 0 next to the maximum's e^0 = 1); NaN stays NaN. Relative error < 2e-7.
inline __m256 exp8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-104.f), x);  // max(c, NaN) is NaN
  const __m256 magic = _mm256_set1_ps(12582912.f);  // 1.5·2^23: adding it rounds to an integer in the low bits
  const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
  const __m256 n = _mm256_sub_ps(t, magic);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_fmadd_ps(r, _mm256_set1_ps(1.9875691500e-4f), _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));  // n as an integer
  const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

// s[g, j] = scale · q_g · k_j for GB heads (q: [GB, D], s: [GB, n_vis] at stride n_vis), keys 4 at a time.
template <int GB>
void scores_heads(const float* q, const float* k, int64_t kv_stride, int64_t n_vis, int64_t D, float scale,
                  float* s) {
  const int64_t nv = D / 8;
  const __m128 sc4 = _mm_set1_ps(scale);
  int64_t j = 0;
  for (; j + 4 <= n_vis; j += 4) {
    __m256 acc[GB][4];
    for (int g = 0; g < GB; ++g)
      for (int i = 0; i < 4; ++i) acc[g][i] = _mm256_setzero_ps();
    const float* k0 = k + j * kv_stride;
    // Key rows are D floats every kv_stride: request the block kAhead keys on while this one computes.
    for (int i = 0; i < 4; ++i)
      for (int64_t b = 0; b < D; b += 16) _mm_prefetch(reinterpret_cast<const char*>(k0 + (kAhead + i) * kv_stride + b), _MM_HINT_T0);
    for (int64_t c = 0; c < nv; ++c) {
      __m256 kv[4];
      for (int i = 0; i < 4; ++i) kv[i] = _mm256_loadu_ps(k0 + i * kv_stride + 8 * c);
      for (int g = 0; g < GB; ++g) {
        const __m256 qv = _mm256_loadu_ps(q + g * D + 8 * c);
        for (int i = 0; i < 4; ++i) acc[g][i] = _mm256_fmadd_ps(qv, kv[i], acc[g][i]);
      }
    }
    for (int g = 0; g < GB; ++g)
      _mm_storeu_ps(s + g * n_vis + j, _mm_mul_ps(hsum4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]), sc4));
  }
  for (; j < n_vis; ++j)
    for (int g = 0; g < GB; ++g) {
      __m256 a = _mm256_setzero_ps();
      for (int64_t c = 0; c < nv; ++c)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * D + 8 * c), _mm256_loadu_ps(k + j * kv_stride + 8 * c), a);
      s[g * n_vis + j] = hsum(a) * scale;
    }
}

// One head's scores -> probabilities in place; returns the log-sum-exp.
float softmax_row(float* s, int64_t n) {
  __m256 mv = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(s + i));
  alignas(32) float m8[8];
  _mm256_store_ps(m8, mv);
  float mx = -INFINITY;
  for (float m : m8) mx = std::max(mx, m);
  for (int64_t t = i; t < n; ++t) mx = std::max(mx, s[t]);
  const __m256 mxv = _mm256_set1_ps(mx);
  __m256 sv = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), mxv));
    _mm256_storeu_ps(s + i, e);
    sv = _mm256_add_ps(sv, e);
  }
  if (i < n) {  // the same polynomial on a zero-padded vector, so every score gets the same rounding
    alignas(32) float t[8];
    for (int l = 0; l < 8; ++l) t[l] = i + l < n ? s[i + l] - mx : -INFINITY;
    const __m256 e = exp8(_mm256_load_ps(t));  // exp(−inf → −104) ≈ 0 in the padding lanes
    _mm256_store_ps(t, e);
    for (int64_t l = 0; i + l < n; ++l) s[i + l] = t[l];
    sv = _mm256_add_ps(sv, _mm256_blendv_ps(_mm256_setzero_ps(), e,
                                            _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                                                _mm256_set1_epi32(int(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))));
  }
  const float sum = hsum(sv);
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(s + i, _mm256_mul_ps(_mm256_loadu_ps(s + i), inv));
  for (; i < n; ++i) s[i] *= 1.0f / sum;
  return mx + std::log(sum);
}

// out_g[c0, c0 + 8·CV) = Σ_j p[g, j] · v_j[c0, ...) for GB heads, accumulated in registers.
template <int GB, int CV>
void weighted_v(const float* p, int64_t n_vis, const float* v, int64_t kv_stride, int64_t c0, float* out,
                int64_t D) {
  __m256 acc[GB][CV];
  for (int g = 0; g < GB; ++g)
    for (int c = 0; c < CV; ++c) acc[g][c] = _mm256_setzero_ps();
  for (int64_t j = 0; j < n_vis; ++j) {
    const float* vj = v + j * kv_stride + c0;
    for (int c = 0; c < CV; c += 2) _mm_prefetch(reinterpret_cast<const char*>(vj + kAhead * kv_stride + 8 * c), _MM_HINT_T0);
    __m256 vv[CV];
    for (int c = 0; c < CV; ++c) vv[c] = _mm256_loadu_ps(vj + 8 * c);
    for (int g = 0; g < GB; ++g) {
      const __m256 pg = _mm256_broadcast_ss(p + g * n_vis + j);
      for (int c = 0; c < CV; ++c) acc[g][c] = _mm256_fmadd_ps(pg, vv[c], acc[g][c]);
    }
  }
  for (int g = 0; g < GB; ++g)
    for (int c = 0; c < CV; ++c) _mm256_storeu_ps(out + g * D + c0 + 8 * c, acc[g][c]);
}

template <int GB>
void weighted_v_heads(const float* p, int64_t n_vis, const float* v, int64_t kv_stride, int64_t D, float* out) {
  int64_t c0 = 0;
  for (; c0 + 32 <= D; c0 += 32) weighted_v<GB, 4>(p, n_vis, v, kv_stride, c0, out, D);
  for (; c0 < D; c0 += 8) weighted_v<GB, 1>(p, n_vis, v, kv_stride, c0, out, D);
}

}  // namespace

void attend_group_avx2(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t n_vis, int64_t D,
                       int64_t G, float scale, float* scores, float* out, float* lse) {
  // Scores [G, n_vis] in `scores`, heads 2 at a time (2 heads x 4 keys = 8 accumulators of the 16 ymm registers).
  int64_t g = 0;
  for (; g + 2 <= G; g += 2) scores_heads<2>(q + g * D, k, kv_stride, n_vis, D, scale, scores + g * n_vis);
  if (g < G) scores_heads<1>(q + g * D, k, kv_stride, n_vis, D, scale, scores + g * n_vis);
  for (int64_t h = 0; h < G; ++h) {
    const float l = softmax_row(scores + h * n_vis, n_vis);
    if (lse) lse[h] = l;
  }
  for (g = 0; g + 2 <= G; g += 2) weighted_v_heads<2>(scores + g * n_vis, n_vis, v, kv_stride, D, out + g * D);
  if (g < G) weighted_v_heads<1>(scores + g * n_vis, n_vis, v, kv_stride, D, out + g * D);
}

}  // namespace lfm2::attention_kernels
