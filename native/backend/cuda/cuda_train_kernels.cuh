#pragma once
// Small element-wise kernels of the GPU training engine (cuda_trainer.cuh): moving loss rows between the packed
// [T, C] stream and the [N, C] scored rows, residual-gradient adds, and the padding-aware embedding lookup gradient.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// dst[r, :] = src[rows[r], :]; src [*, C], rows [R] device, dst [R, C].
void gather_rows_f32(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst, cudaStream_t stream);
// dst[rows[r], :] = src[r, :] (rows distinct; other rows of dst untouched); src [R, C], dst [*, C].
void scatter_rows_f32(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst, cudaStream_t stream);
// dst[i] += src[i], i < n.
void add_into(float* dst, const float* src, int64_t n, cudaStream_t stream);
// dE[ids[t], :] += dx[t, :] except for rows with ids[t] == padding_idx (nn.Embedding(padding_idx) semantics, like
// the CPU backward); padding_idx < 0: no exception. FP32 atomics (repeated ids accumulate).
void embedding_backward_padded(const int32_t* ids, int64_t T, const float* dx, int64_t vocab, int64_t C,
                               int64_t padding_idx, float* dE, cudaStream_t stream);

}  // namespace lfm2::cuda
