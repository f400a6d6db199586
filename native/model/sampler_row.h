#pragma once
// Whole-row kernels of token choice over one FP32 logits row (V = 65,536 for LFM2): max, first argmax, and the
// temperature-scaled exp weights with their sum. Each picks the AVX2+FMA implementation (sampler_row_avx2.cpp) when
// the CPU has it, else the portable one below; both compute every weight as
//   w_i = expf(float((double(x_i) − double(m)) · inv_t))        (argument exactly as in double, then FP32 exp)
// so they differ only by the exp's rounding (≤ 2 ulp relative, ~2e-7), and sums accumulate in double.
#include <cstdint>

namespace lfm2 {

// Weights are summed in blocks of this many entries so a draw can skip whole blocks.
constexpr int64_t kRowBlock = 64;

// max_i x_i (−inf for an all −inf row). n ≥ 1.
float row_max(const float* x, int64_t n);
// Lowest i with x_i == max (the greedy tie rule). n ≥ 1.
int64_t row_argmax(const float* x, int64_t n);
// Σ_i w_i with w_i as above (x_i − m ≤ 0 expected; −inf gives 0). When `w` is given it receives w [n]; when `block`
// is given it receives the sum of each kRowBlock-entry block [ceil(n / kRowBlock)].
double row_sum_exp(const float* x, int64_t n, float m, double inv_t, float* w, double* block);
// row_sum_exp at inv_t (filling w and block as above) and, from the same read of x, *sum_unit = Σ_i expf(x_i − m)
// (the temperature-1 mass, for the model's own log-probs when sampling at another temperature).
double row_sum_exp_pair(const float* x, int64_t n, float m, double inv_t, float* w, double* block, double* sum_unit);
// log Σ_i exp(x_i · inv_t) over the row (max-shifted).
double row_log_sum_exp(const float* x, int64_t n, double inv_t);

// Portable versions (the reference for the SIMD ones, and the fallback).
namespace portable {
float row_max(const float* x, int64_t n);
int64_t row_argmax(const float* x, int64_t n);
double row_sum_exp(const float* x, int64_t n, float m, double inv_t, float* w, double* block);
double row_sum_exp_pair(const float* x, int64_t n, float m, double inv_t, float* w, double* block, double* sum_unit);
}  // namespace portable

// AVX2+FMA versions; call only when cpu_features().has_avx2_fma().
namespace avx2 {
float row_max(const float* x, int64_t n);
int64_t row_argmax(const float* x, int64_t n);
double row_sum_exp(const float* x, int64_t n, float m, double inv_t, float* w, double* block);
double row_sum_exp_pair(const float* x, int64_t n, float m, double inv_t, float* w, double* block, double* sum_unit);
}  // namespace avx2

// Forces the portable kernels (true) or restores run-time dispatch (false); for tests and benchmarks.
void row_kernels_force_portable(bool on);

}  // namespace lfm2
