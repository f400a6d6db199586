#include "backend/cpu/rmsnorm.h"

#include <cmath>

#include "core/threadpool.h"

namespace lfm2 {

namespace {
// Sum of squares with 16 independent partial sums so the compiler can vectorise it without -ffast-math.
inline float sum_squares(const float* x, int64_t n) {
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j] * x[i + j];
  float s = 0;
  for (; i < n; ++i) s += x[i] * x[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}
}  // namespace

void rmsnorm_forward(const float* x, int64_t x_stride, const float* w, float* y, int64_t y_stride, float* rstd,
                     int64_t rows, int64_t n, float eps) {
  // Rows are independent; small row counts run serially inside parallel_for's grain.
  int64_t grain = n >= 512 ? 4 : 64;
  parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * x_stride;
      float* yr = y + r * y_stride;
      float rs = 1.0f / std::sqrt(sum_squares(xr, n) / float(n) + eps);
      if (rstd) rstd[r] = rs;
      for (int64_t i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * rs);
    }
  }, grain);
}

}  // namespace lfm2
