#pragma once
// FP32 <-> BF16 conversion (round to nearest even), e.g. activations into GEMM inputs.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

void f32_to_bf16(const float* x, __nv_bfloat16* y, int64_t n, cudaStream_t stream);
void bf16_to_f32(const __nv_bfloat16* x, float* y, int64_t n, cudaStream_t stream);

}  // namespace lfm2::cuda
