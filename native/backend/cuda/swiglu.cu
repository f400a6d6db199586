#include "backend/cuda/swiglu.cuh"

namespace lfm2::cuda {
namespace {

__global__ void swiglu_forward_kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = a[i];
  out[i] = x / (1.f + expf(-x)) * b[i];
}

// silu(a) = a·σ(a);  silu'(a) = σ(a) + a·σ(a)(1 − σ(a)) = σ(a)·(1 + a·(1 − σ(a))).
__global__ void swiglu_backward_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                       const float* __restrict__ dout, float* __restrict__ da,
                                       float* __restrict__ db, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = a[i];
  const float s = 1.f / (1.f + expf(-x));
  const float g = dout[i];
  da[i] = g * b[i] * s * (1.f + x * (1.f - s));
  db[i] = g * x * s;
}

}  // namespace

void swiglu_forward(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  LFM2_CHECK(n >= 0, "swiglu: negative size");
  if (n == 0) return;
  LFM2_LAUNCH(swiglu_forward_kernel, blocks_for(n, 256), 256, 0, stream, a, b, out, n);
}

void swiglu_backward(const float* a, const float* b, const float* dout, float* da, float* db, int64_t n,
                     cudaStream_t stream) {
  LFM2_CHECK(n >= 0, "swiglu_backward: negative size");
  if (n == 0) return;
  LFM2_LAUNCH(swiglu_backward_kernel, blocks_for(n, 256), 256, 0, stream, a, b, dout, da, db, n);
}

}  // namespace lfm2::cuda
