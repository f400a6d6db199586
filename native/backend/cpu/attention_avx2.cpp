// AVX2+FMA row kernel of causal GQA attention (see attention_kernels.h). Compiled with AVX2 flags; called only
// after a run-time CPU check (it also serves AVX-512 machines). Same math and order of softmax steps as the
// portable kernel: scores, max, exp, sum, probabilities scaled by 1/sum, weighted V sum; only the dot products are
// summed in 8-lane order.
#include <immintrin.h>

#include <cmath>

#include "backend/cpu/attention_kernels.h"

namespace lfm2::attention_kernels {

namespace {
inline float hsum(__m256 v) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(b);
}
}  // namespace

void attend_group_avx2(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t n_vis, int64_t D,
                       int64_t G, float scale, float* scores, float* out, float* lse) {
  const int64_t nv = D / 8;
  // Scores: s[g, j] = q_g · k_j · scale.
  for (int64_t g = 0; g < G; ++g) {
    const float* qg = q + g * D;
    float* sg = scores + g * n_vis;
    float mx = -INFINITY;
    int64_t j = 0;
    // Four keys at a time to overlap the FMA chains.
    for (; j + 4 <= n_vis; j += 4) {
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      const float* k0 = k + j * kv_stride;
      for (int64_t c = 0; c < nv; ++c) {
        __m256 qv = _mm256_loadu_ps(qg + 8 * c);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 8 * c), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + kv_stride + 8 * c), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * kv_stride + 8 * c), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * kv_stride + 8 * c), a3);
      }
      float s0 = hsum(a0) * scale, s1 = hsum(a1) * scale, s2 = hsum(a2) * scale, s3 = hsum(a3) * scale;
      sg[j] = s0, sg[j + 1] = s1, sg[j + 2] = s2, sg[j + 3] = s3;
      const float m01 = s0 > s1 ? s0 : s1, m23 = s2 > s3 ? s2 : s3, m = m01 > m23 ? m01 : m23;
      mx = m > mx ? m : mx;
    }
    for (; j < n_vis; ++j) {
      __m256 a = _mm256_setzero_ps();
      for (int64_t c = 0; c < nv; ++c)
        a = _mm256_fmadd_ps(_mm256_loadu_ps(qg + 8 * c), _mm256_loadu_ps(k + j * kv_stride + 8 * c), a);
      sg[j] = hsum(a) * scale;
      mx = sg[j] > mx ? sg[j] : mx;
    }
    float sum = 0;
    for (int64_t i = 0; i < n_vis; ++i) {
      float e = std::exp(sg[i] - mx);
      sg[i] = e;
      sum += e;
    }
    if (lse) lse[g] = mx + std::log(sum);
    const float inv = 1.0f / sum;
    for (int64_t i = 0; i < n_vis; ++i) sg[i] *= inv;
  }
  // out_g = Σ_j p[g, j] · v_j, accumulated in `out` (G·D floats stay in L1).
  for (int64_t i = 0; i < G * D; ++i) out[i] = 0;
  for (int64_t j = 0; j < n_vis; ++j) {
    const float* vj = v + j * kv_stride;
    for (int64_t c = 0; c < nv; ++c) {
      __m256 vv = _mm256_loadu_ps(vj + 8 * c);
      for (int64_t g = 0; g < G; ++g) {
        float* o = out + g * D + 8 * c;
        _mm256_storeu_ps(o, _mm256_fmadd_ps(_mm256_set1_ps(scores[g * n_vis + j]), vv, _mm256_loadu_ps(o)));
      }
    }
  }
}

}  // namespace lfm2::attention_kernels
