#pragma once
// Rotary position embedding, NeoX half-split layout (docs/lfm2.md §3.4), theta from the config (1e6 for LFM2):
//   angle = p·theta^(−2i/D);  x'_i = x_i·cos − x_{i+D/2}·sin,  x'_{i+D/2} = x_{i+D/2}·cos + x_i·sin.
// The angle and its sin/cos are computed in double (as the CPU table does) and rounded to float.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// In place. x: [T, n_heads, D] contiguous; pos: [T] device positions.
void rope_forward(float* x, const int32_t* pos, int64_t T, int64_t n_heads, int64_t head_dim, double theta,
                  cudaStream_t stream);
// In place: the transpose of a rotation is the rotation by −angle, so dx = R(−angle)·dy.
void rope_backward(float* dx, const int32_t* pos, int64_t T, int64_t n_heads, int64_t head_dim, double theta,
                   cudaStream_t stream);

}  // namespace lfm2::cuda
