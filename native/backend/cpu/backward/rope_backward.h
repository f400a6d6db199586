#pragma once
// RoPE backward, NeoX half-split layout (docs/lfm2.md §3.4, §4). The forward rotates each pair (i, i+D/2) by
// angle p·theta^(−2i/D); its Jacobian is that rotation, so the backward is the rotation by −angle:
//   dx_i       = g_i·cos + g_{i+D/2}·sin
//   dx_{i+D/2} = g_{i+D/2}·cos − g_i·sin
// Angles are computed in double and rounded once, so forward and backward built on rope_angles agree exactly.
//
// Gradient accumulation policy: dx is written (=); dx may alias dy (in-place).
#include <cstdint>

namespace lfm2::cpu {

// cos/sin of the rotation for position p: out_cos, out_sin [D/2].
void rope_angles(int64_t p, int64_t head_dim, double theta, float* out_cos, float* out_sin);

// dy, dx: [tokens, heads, head_dim]   pos: [tokens] (position of each token inside its sequence, ≥ 0)
void rope_backward(int64_t tokens, int64_t heads, int64_t head_dim, const int32_t* pos, double theta, const float* dy,
                   float* dx);

}  // namespace lfm2::cpu
