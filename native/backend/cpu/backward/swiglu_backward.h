#pragma once
// SwiGLU gate backward (docs/lfm2.md §3.5, §4): h = silu(a) ⊙ b with a = gate (w1), b = up (w3).
//   da = dh ⊙ b ⊙ σ(a)·(1 + a·(1 − σ(a)))
//   db = dh ⊙ silu(a)
// The three linears around it are GEMMs done by the caller.
//
// Gradient accumulation policy: da, db (activations) are written (=). da/db may alias a/b (each element is read
// before it is written), so the caller can overwrite the saved activations in place.
#include <cstdint>

#include "backend/cpu/cpu_features.h"

namespace lfm2::cpu {

// a, b, da, db: [rows, F] with row stride ld_ab (≥ F; e.g. 2F when gate and up share one [rows, 2F] buffer)
// dh: [rows, F] with row stride ld_dh.
// isa: which kernels (tests force each one the CPU has).
void swiglu_backward(int64_t rows, int64_t F, const float* a, const float* b, int64_t ld_ab, const float* dh,
                     int64_t ld_dh, float* da, float* db, SimdIsa isa = SimdIsa::Auto);

}  // namespace lfm2::cpu
