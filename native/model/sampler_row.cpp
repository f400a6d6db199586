#include "model/sampler_row.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "backend/cpu/cpu_features.h"

namespace lfm2 {

namespace portable {

float row_max(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

int64_t row_argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

double row_sum_exp(const float* x, int64_t n, float m, double inv_t, float* w, double* block) {
  double total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kRowBlock) {
    const int64_t b1 = std::min(n, b0 + kRowBlock);
    double s = 0;
    for (int64_t i = b0; i < b1; ++i) {
      const float e = std::exp(float((double(x[i]) - double(m)) * inv_t));
      if (w) w[i] = e;
      s += double(e);
    }
    if (block) block[b0 / kRowBlock] = s;
    total += s;
  }
  return total;
}

double row_sum_exp_pair(const float* x, int64_t n, float m, double inv_t, float* w, double* block, double* sum_unit) {
  double unit = 0;
  for (int64_t i = 0; i < n; ++i) unit += double(std::exp(float(double(x[i]) - double(m))));
  *sum_unit = unit;
  return row_sum_exp(x, n, m, inv_t, w, block);
}

}  // namespace portable

namespace {
std::atomic<bool> g_force_portable{false};
bool use_avx2() { return !g_force_portable.load(std::memory_order_relaxed) && cpu_features().has_avx2_fma(); }
}  // namespace

void row_kernels_force_portable(bool on) { g_force_portable.store(on); }

float row_max(const float* x, int64_t n) { return use_avx2() ? avx2::row_max(x, n) : portable::row_max(x, n); }

int64_t row_argmax(const float* x, int64_t n) {
  return use_avx2() ? avx2::row_argmax(x, n) : portable::row_argmax(x, n);
}

double row_sum_exp(const float* x, int64_t n, float m, double inv_t, float* w, double* block) {
  return use_avx2() ? avx2::row_sum_exp(x, n, m, inv_t, w, block) : portable::row_sum_exp(x, n, m, inv_t, w, block);
}

double row_sum_exp_pair(const float* x, int64_t n, float m, double inv_t, float* w, double* block, double* sum_unit) {
  return use_avx2() ? avx2::row_sum_exp_pair(x, n, m, inv_t, w, block, sum_unit)
                    : portable::row_sum_exp_pair(x, n, m, inv_t, w, block, sum_unit);
}

double row_log_sum_exp(const float* x, int64_t n, double inv_t) {
  const float m = row_max(x, n);
  return double(m) * inv_t + std::log(row_sum_exp(x, n, m, inv_t, nullptr, nullptr));
}

}  // namespace lfm2
