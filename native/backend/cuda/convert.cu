#include "backend/cuda/convert.cuh"

namespace lfm2::cuda {
namespace {

__global__ void f32_to_bf16_kernel(const float* x, __nv_bfloat16* y, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* x, float* y, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = __bfloat162float(x[i]);
}

}  // namespace

void f32_to_bf16(const float* x, __nv_bfloat16* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  LFM2_LAUNCH(f32_to_bf16_kernel, blocks_for(n, 256), 256, 0, stream, x, y, n);
}

void bf16_to_f32(const __nv_bfloat16* x, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  LFM2_LAUNCH(bf16_to_f32_kernel, blocks_for(n, 256), 256, 0, stream, x, y, n);
}

}  // namespace lfm2::cuda

namespace lfm2::cuda {
namespace {

__global__ void gather_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows, int64_t C,
                                   __nv_bfloat16* __restrict__ dst) {
  const int64_t r = blockIdx.x;
  const float* s = src + int64_t(rows[r]) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dst[r * C + c] = __float2bfloat16_rn(s[c]);
}

}  // namespace

void gather_rows_to_bf16(const float* src, const int32_t* rows, int64_t R, int64_t C, __nv_bfloat16* dst,
                         cudaStream_t stream) {
  LFM2_CHECK(R >= 0 && C > 0, "gather_rows: bad shape R=", R, " C=", C);
  if (R == 0) return;
  LFM2_LAUNCH(gather_rows_kernel, unsigned(R), 256, 0, stream, src, rows, C, dst);
}

}  // namespace lfm2::cuda
