#include "backend/cpu/backward/rope_backward.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {

void rope_angles(int64_t p, int64_t head_dim, double theta, float* out_cos, float* out_sin) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const double inv_freq = std::pow(theta, -2.0 * double(i) / double(head_dim));
    const double a = double(p) * inv_freq;
    out_cos[i] = float(std::cos(a));
    out_sin[i] = float(std::sin(a));
  }
}

void rope_backward(int64_t tokens, int64_t heads, int64_t head_dim, const int32_t* pos, double theta, const float* dy,
                   float* dx) {
  LFM2_CHECK(tokens >= 0 && heads > 0 && head_dim > 0 && head_dim % 2 == 0, "rope_backward: bad shape tokens=",
             tokens, " heads=", heads, " head_dim=", head_dim, " (head_dim must be even)");
  LFM2_CHECK(theta > 0, "rope_backward: theta must be > 0");
  for (int64_t t = 0; t < tokens; ++t) LFM2_CHECK(pos[t] >= 0, "rope_backward: negative position at token ", t);
  const int64_t half = head_dim / 2;
  parallel_for(
      tokens,
      [&](int64_t t0, int64_t t1, int) {
        std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
        for (int64_t t = t0; t < t1; ++t) {
          rope_angles(pos[t], head_dim, theta, c.data(), s.data());
          for (int64_t h = 0; h < heads; ++h) {
            const float* g = dy + (t * heads + h) * head_dim;
            float* d = dx + (t * heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
              const float g0 = g[i], g1 = g[i + half];
              d[i] = g0 * c[size_t(i)] + g1 * s[size_t(i)];
              d[i + half] = g1 * c[size_t(i)] - g0 * s[size_t(i)];
            }
          }
        }
      },
      4);
}

}  // namespace lfm2::cpu
