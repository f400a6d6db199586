#include "backend/cpu/backward/rmsnorm_backward.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {

void rmsnorm_backward(int64_t rows, int64_t n, const float* x, const float* w, const float* dy, float eps, float* dx,
                      float* dw) {
  LFM2_CHECK(rows >= 0 && n > 0, "rmsnorm_backward: bad shape rows=", rows, " n=", n);
  LFM2_CHECK(eps > 0.f, "rmsnorm_backward: eps must be > 0, got ", eps);
  // dw is a sum over rows: each thread accumulates its own partial [n], summed at the end in thread order so the
  // result does not depend on scheduling.
  const int nt = num_threads();
  std::vector<float> partial(size_t(nt) * size_t(n), 0.f);  // [threads, n]
  parallel_for(
      rows,
      [&](int64_t r0, int64_t r1, int tid) {
        float* pdw = partial.data() + size_t(tid) * size_t(n);
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * n;
          const float* gr = dy + r * n;
          float* dxr = dx + r * n;
          double ss = 0;
          for (int64_t j = 0; j < n; ++j) ss += double(xr[j]) * xr[j];
          const float rinv = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
          float dot = 0.f;  // Σ gw·x̂
          for (int64_t j = 0; j < n; ++j) {
            const float xh = xr[j] * rinv;
            dot += gr[j] * w[j] * xh;
            pdw[j] += gr[j] * xh;
          }
          const float mean_dot = dot / float(n);
          for (int64_t j = 0; j < n; ++j) dxr[j] = rinv * (gr[j] * w[j] - xr[j] * rinv * mean_dot);
        }
      },
      16);
  for (int t = 0; t < nt; ++t) {
    const float* p = partial.data() + size_t(t) * size_t(n);
    for (int64_t j = 0; j < n; ++j) dw[j] += p[j];
  }
}

void rmsnorm_heads_backward(int64_t tokens, int64_t heads, int64_t head_dim, const float* x, const float* w,
                            const float* dy, float eps, float* dx, float* dw) {
  LFM2_CHECK(tokens >= 0 && heads > 0 && head_dim > 0, "rmsnorm_heads_backward: bad shape tokens=", tokens,
             " heads=", heads, " head_dim=", head_dim);
  rmsnorm_backward(tokens * heads, head_dim, x, w, dy, eps, dx, dw);
}

}  // namespace lfm2::cpu
