#pragma once
// FP32 <-> BF16 conversion (round to nearest even), e.g. activations into GEMM inputs.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

void f32_to_bf16(const float* x, __nv_bfloat16* y, int64_t n, cudaStream_t stream);
void bf16_to_f32(const __nv_bfloat16* x, float* y, int64_t n, cudaStream_t stream);

}  // namespace lfm2::cuda

namespace lfm2::cuda {

// dst[r, :] = bf16(src[rows[r], :]) for r < R; src: [*, C] FP32, rows: [R] device, dst: [R, C].
void gather_rows_to_bf16(const float* src, const int32_t* rows, int64_t R, int64_t C, __nv_bfloat16* dst,
                         cudaStream_t stream);

}  // namespace lfm2::cuda
