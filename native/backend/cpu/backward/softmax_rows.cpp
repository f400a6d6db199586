#include "backend/cpu/backward/softmax_rows.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_features.h"

namespace lfm2::cpu {
namespace {

bool has_avx512() {
  return cpu_features().has_avx512();  // every flag the *_avx512.cpp files are compiled with
}

}  // namespace

float row_scale_max_portable(float* z, int64_t V, float scale) {
  float m = -INFINITY;
  for (int64_t v = 0; v < V; ++v) {
    z[v] *= scale;
    m = std::max(m, z[v]);
  }
  return m;
}

void row_exp_stats_portable(float* z, int64_t V, float shift, double* sum, double* sum_ez) {
  double s = 0, sz = 0;
  for (int64_t v = 0; v < V; ++v) {
    const float e = std::exp(z[v] - shift);
    s += e;
    sz += double(e) * z[v];
    z[v] = e;
  }
  *sum = s;
  *sum_ez = sz;
}

void row_exp_scaled_portable(const float* src, float* dst, int64_t V, float shift, float k) {
  for (int64_t v = 0; v < V; ++v) dst[v] = k * std::exp(src[v] - shift);
}

float row_scale_max(float* z, int64_t V, float scale) {
  return has_avx512() ? row_scale_max_avx512(z, V, scale) : row_scale_max_portable(z, V, scale);
}

void row_exp_stats(float* z, int64_t V, float shift, double* sum, double* sum_ez) {
  if (has_avx512()) row_exp_stats_avx512(z, V, shift, sum, sum_ez);
  else row_exp_stats_portable(z, V, shift, sum, sum_ez);
}

void row_exp_scaled(const float* src, float* dst, int64_t V, float shift, float k) {
  if (has_avx512()) row_exp_scaled_avx512(src, dst, V, shift, k);
  else row_exp_scaled_portable(src, dst, V, shift, k);
}

}  // namespace lfm2::cpu
