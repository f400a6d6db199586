#pragma once
// SwiGLU gate (docs/lfm2.md §3.5): out = silu(a) ⊙ b, a = gate, b = up.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

void swiglu_forward(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);
// da = dout·b·silu'(a), db = dout·silu(a) (both overwritten; may not alias a/b).
void swiglu_backward(const float* a, const float* b, const float* dout, float* da, float* db, int64_t n,
                     cudaStream_t stream);

}  // namespace lfm2::cuda
