#pragma once
// Gated short convolution core (docs/lfm2.md §3.3, §3.6) over a ragged batch, between in_proj and out_proj:
//   z = [B | C | X] (in_proj output, [T, 3C]);  u = B⊙X;  v_t = Σ_k K[c,k]·u_{t−2+k};  y = C⊙v.
// Each sequence has a shift register state [2, C] = (u_{t−2}, u_{t−1}) (nullptr = fresh, zeros, nothing kept) that
// is prepended to its chunk and replaced by the chunk's last two u values (llama.cpp's scheme).
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// seq_row0: [nseq + 1] device row offsets; states: [nseq] device array of device pointers (entries may be null).
// z: [T, 3C], kernel: [C, 3], y: [T, C].
void shortconv_forward(const float* z, const float* kernel, float* y, const int32_t* seq_row0, float* const* states,
                       int64_t nseq, int64_t C, cudaStream_t stream);

// Backward for fresh sequences (training): dz [T, 3C] overwritten, dkernel [C, 3] accumulated.
// With v_t = Σ_k K_k·u_{t−2+k}:  dC = dy⊙v,  dv = dy⊙C,  du_s = Σ_k K_k·dv_{s+2−k} (terms inside the sequence),
// dK_k += Σ_t dv_t·u_{t−2+k},  dB = du⊙X,  dX = du⊙B.
void shortconv_backward(const float* z, const float* kernel, const float* dy, float* dz, float* dkernel,
                        const int32_t* seq_row0, int64_t nseq, int64_t C, cudaStream_t stream);

}  // namespace lfm2::cuda
