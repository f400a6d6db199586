#include "backend/cpu/rope.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

void rope_table(const int32_t* pos, int64_t T, int64_t head_dim, double theta, float* cos_out, float* sin_out) {
  LFM2_CHECK(head_dim % 2 == 0, "rope: head_dim must be even, got ", head_dim);
  const int64_t half = head_dim / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv_freq[size_t(i)] = std::pow(theta, -double(2 * i) / double(head_dim));
  parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t i = 0; i < half; ++i) {
        double a = double(pos[t]) * inv_freq[size_t(i)];
        cos_out[t * half + i] = float(std::cos(a));
        sin_out[t * half + i] = float(std::sin(a));
      }
  }, 16);
}

void rope_forward(float* x, int64_t row_stride, int64_t T, int64_t n_heads, int64_t head_dim, const float* cos_t,
                  const float* sin_t) {
  const int64_t half = head_dim / 2;
  parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* c = cos_t + t * half;
      const float* s = sin_t + t * half;
      for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + t * row_stride + h * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      }
    }
  }, 16);
}

}  // namespace lfm2
