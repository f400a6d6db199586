#pragma once
// Host-array face of the GPU training engine's own device math (no CUDA types; implemented in cuda_train_ops.cu),
// for the tests that compare it with float64 references: each call uploads, runs the device code the trainer runs,
// and downloads. Inputs named FP32 here are rounded to BF16 on the device exactly where the engine rounds them.
#include <cstdint>

namespace lfm2::cuda_train_api {

// One LoRA module (cuda_lora.cuh): x [T, in], A [r, in], B [out, r] (all rounded to BF16 as the GEMMs read them);
// y [T, out] += s·bf16(x·Aᵀ)·Bᵀ.
void lora_forward(const float* x, const float* A, const float* B, float* y, int64_t T, int64_t in, int64_t out,
                  int64_t r, float scale);
// dy [T, out] (rounded to BF16); dA [r, in], dB [out, r], dx [T, in] accumulated (+=); dx nullable.
void lora_backward(const float* x, const float* dy, const float* A, const float* B, float* dA, float* dB, float* dx,
                   int64_t T, int64_t in, int64_t out, int64_t r, float scale);

// dst [R, C] = src[rows[r]] (src [src_rows, C]).
void gather_rows(const float* src, int64_t src_rows, const int32_t* rows, int64_t R, int64_t C, float* dst);
// dst [dst_rows, C] (in/out): dst[rows[r]] = src[r] for distinct rows.
void scatter_rows(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst, int64_t dst_rows);
// dE [V, C] (in/out) += dx[t] at row ids[t], except ids equal to padding_idx (< 0: none).
void embedding_backward_padded(const int32_t* ids, int64_t T, const float* dx, int64_t vocab, int64_t C,
                               int64_t padding_idx, float* dE);

}  // namespace lfm2::cuda_train_api
