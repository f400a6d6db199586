#pragma once
// SwiGLU gate (docs/lfm2.md §3.5): out = silu(a) ⊙ b with a = g·W1ᵀ (gate) and b = g·W3ᵀ (up).
#include <cstdint>

namespace lfm2 {

// a, b, out: [n] (out may alias a or b).
void swiglu_forward(const float* a, const float* b, float* out, int64_t n);

}  // namespace lfm2
