#pragma once
// Short-conv (LIV) operator backward from the in_proj output z to the gated conv output y (docs/lfm2.md §3.3, §4);
// the in_proj / out_proj linears around it are plain GEMMs done by the caller.
//
// Forward per sequence (zero initial state), channel c, token t:
//   z = [B | C | X]  (chunk order B, C, x)     u = B ⊙ X
//   v[t,c] = Σ_{k=0..2} K[c,k] · u[t−2+k, c]   (u[τ<0] = 0; tap 2 is the current token)
//   y = C ⊙ v
// Backward, from dy:
//   dC = dy ⊙ v          dv = dy ⊙ C
//   du[τ,c] = Σ_k K[c,k] · dv[τ+2−k, c]   (terms with τ+2−k ≥ len dropped: the sequence ends there)
//   dK[c,k] = Σ_t dv[t,c] · u[t−2+k, c]
//   dB = du ⊙ X          dX = du ⊙ B
// u and v are recomputed from z. Every packed sequence starts from a zero conv state.
//
// Gradient accumulation policy: dz (activation) is written (=); dK (parameter) is accumulated (+=).
#include <cstdint>

namespace lfm2::cpu {

// cu_seqlens: [nseq+1] sequence offsets in the packed token axis (T = cu_seqlens[nseq]).
// z, dz: [T, 3C]   kernel, dkernel: [C, 3] (HF conv.weight [C,1,3] squeezed)   dy: [T, C]
void shortconv_backward(int64_t channels, int64_t nseq, const int32_t* cu_seqlens, const float* z,
                        const float* kernel, const float* dy, float* dz, float* dkernel);

// Forward of the same operator (z → y [T, C]), used by tests as the function the backward differentiates.
void shortconv_forward(int64_t channels, int64_t nseq, const int32_t* cu_seqlens, const float* z, const float* kernel,
                       float* y);

}  // namespace lfm2::cpu
