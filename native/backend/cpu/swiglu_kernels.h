#pragma once
// Span kernels of the SwiGLU forward (swiglu.h) and backward (backward/swiglu_backward.h), per instruction set.
#include <cstdint>

#include "backend/cpu/cpu_features.h"

namespace lfm2::cpu {

// out[i] = silu(a[i])·b[i] over [0, n).
void swiglu_forward_portable(const float* a, const float* b, float* out, int64_t n);
void swiglu_forward_avx512(const float* a, const float* b, float* out, int64_t n);
// da[i] = dh·b·σ(a)·(1 + a·(1 − σ(a))), db[i] = dh·silu(a) over [0, n); da/db may alias a/b.
void swiglu_backward_portable(const float* a, const float* b, const float* dh, float* da, float* db, int64_t n);
void swiglu_backward_avx512(const float* a, const float* b, const float* dh, float* da, float* db, int64_t n);

// Auto = AVX-512 where the CPU has it, else the portable loop; an explicit choice the CPU lacks is an error.
bool swiglu_use_avx512(SimdIsa isa);

}  // namespace lfm2::cpu
