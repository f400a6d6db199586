#pragma once
// Row kernels of the vocabulary softmax used by the GRPO loss (one logits row of V values at a time).
// Each has a portable version and an AVX-512 version chosen at run time (same results up to FP32 rounding of exp:
// the AVX-512 exp is a degree-6 polynomial with < 2 ulp error). Sums are accumulated in double.
#include <cstdint>

namespace lfm2::cpu {

// z[v] *= scale; returns max_v z[v].                                                         z: [V]
float row_scale_max(float* z, int64_t V, float scale);

// z[v] ← exp(z[v] − shift) in place; *sum = Σ exp(z − shift), *sum_ez = Σ exp(z − shift)·z (z before the update).
void row_exp_stats(float* z, int64_t V, float shift, double* sum, double* sum_ez);

// dst[v] = k · exp(src[v] − shift)                                                            src, dst: [V]
void row_exp_scaled(const float* src, float* dst, int64_t V, float shift, float k);

// Portable versions, always available (tests compare them with the dispatched ones through the loss results).
float row_scale_max_portable(float* z, int64_t V, float scale);
void row_exp_stats_portable(float* z, int64_t V, float shift, double* sum, double* sum_ez);
void row_exp_scaled_portable(const float* src, float* dst, int64_t V, float shift, float k);

// AVX-512F versions (softmax_rows_avx512.cpp); call only when the CPU has AVX-512F.
float row_scale_max_avx512(float* z, int64_t V, float scale);
void row_exp_stats_avx512(float* z, int64_t V, float shift, double* sum, double* sum_ez);
void row_exp_scaled_avx512(const float* src, float* dst, int64_t V, float shift, float k);

}  // namespace lfm2::cpu
