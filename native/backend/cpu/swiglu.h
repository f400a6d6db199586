#pragma once
// SwiGLU gate (docs/lfm2.md §3.5): out = silu(a) ⊙ b with a = g·W1ᵀ (gate) and b = g·W3ᵀ (up).
#include <cstdint>

#include "backend/cpu/cpu_features.h"

namespace lfm2 {

// a, b, out: [n] (out may alias a or b). isa: which kernels (tests force each one the CPU has).
void swiglu_forward(const float* a, const float* b, float* out, int64_t n, SimdIsa isa = SimdIsa::Auto);

}  // namespace lfm2
