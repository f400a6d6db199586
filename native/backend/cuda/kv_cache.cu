#include "backend/cuda/kv_cache.cuh"

namespace lfm2::cuda {
namespace {

__global__ void kv_append_kernel(const float* __restrict__ src, float* const* __restrict__ dst, int64_t width) {
  const int64_t t = blockIdx.x;
  float* d = dst[t];
  if (!d) return;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) d[i] = src[t * width + i];
}

}  // namespace

void kv_append(const float* src, float* const* dst, int64_t T, int64_t width, cudaStream_t stream) {
  LFM2_CHECK(T >= 0 && width > 0, "kv_append: bad shape T=", T, " width=", width);
  if (T == 0) return;
  LFM2_LAUNCH(kv_append_kernel, unsigned(T), 128, 0, stream, src, dst, width);
}

}  // namespace lfm2::cuda
