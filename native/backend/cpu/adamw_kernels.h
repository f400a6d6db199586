#pragma once
// Element-wise AdamW kernels (model/adamw.cpp is the optimizer: schedule, clipping, the non-finite guard). The
// portable loop and the AVX-512 one compute every element with the same FP32 operations in the same order (no
// fused multiply-adds), so both give the same bits; only the gradient norm's double partial sums are added in
// another order.
#include <cstdint>

namespace lfm2 {

// Constants of one step, as model/adamw.h defines it (g' = g·coef).
struct AdamWStepConsts {
  float coef, decay, b1, one_minus_b1, b2, one_minus_b2, step_size, inv_sqrt_bc2, eps;
};

// Elements [i0, i1) of one tensor: w ← w·decay; m ← b1·m + (1−b1)·g'; v ← b2·v + (1−b2)·g'·g';
// w ← w − (step_size·m) / (sqrt(v)·inv_sqrt_bc2 + eps); bf16 (optional) ← w rounded to nearest even.
void adamw_update_portable(const AdamWStepConsts& k, float* w, const float* g, float* m, float* v, uint16_t* bf16,
                           int64_t i0, int64_t i1);
void adamw_update_avx512(const AdamWStepConsts& k, float* w, const float* g, float* m, float* v, uint16_t* bf16,
                         int64_t i0, int64_t i1);

// Σ g² over [i0, i1) in double (NaN or ±Inf when an element is not finite: a finite float squared never overflows
// a double).
double sum_squares_portable(const float* g, int64_t i0, int64_t i1);
double sum_squares_avx512(const float* g, int64_t i0, int64_t i1);

}  // namespace lfm2
