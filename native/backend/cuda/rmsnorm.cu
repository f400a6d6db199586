#include "backend/cuda/reduce.cuh"
#include "backend/cuda/rmsnorm.cuh"

namespace lfm2::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

__global__ void rmsnorm_forward_kernel(const float* __restrict__ x, const float* __restrict__ w, float* y,
                                       float* __restrict__ rstd, int64_t rows, int64_t n, float eps) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // whole warp leaves together
  const float* xr = x + row * n;
  float ss = 0.f;
  for (int64_t i = lane; i < n; i += 32) ss = fmaf(xr[i], xr[i], ss);
  ss = warp_sum(ss);
  const float r = rsqrtf(ss / float(n) + eps);
  float* yr = y + row * n;
  for (int64_t i = lane; i < n; i += 32) yr[i] = w[i] * (xr[i] * r);
  if (rstd && lane == 0) rstd[row] = r;
}

// Derivation: y_i = w_i·x_i·r with r = (mean(x²)+eps)^(-1/2), ∂r/∂x_j = −r³·x_j/n. So
//   dx_j = w_j·dy_j·r + Σ_i w_i·dy_i·x_i·(−r³·x_j/n) = r·(w_j·dy_j − x̂_j·(1/n)Σ_i w_i·dy_i·x̂_i),  x̂ = x·r;
//   dw_i = Σ_rows dy_i·x̂_i.
__global__ void rmsnorm_backward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                        const float* __restrict__ rstd, const float* __restrict__ dy,
                                        float* __restrict__ dx, float* __restrict__ dw, int64_t rows, int64_t n) {
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* xr = x + row * n;
  const float* dyr = dy + row * n;
  const float r = rstd[row];
  float dot = 0.f;
  for (int64_t i = lane; i < n; i += 32) dot = fmaf(w[i] * dyr[i], xr[i] * r, dot);
  dot = warp_sum(dot) / float(n);
  float* dxr = dx + row * n;
  for (int64_t i = lane; i < n; i += 32) {
    const float xh = xr[i] * r;
    dxr[i] = r * (w[i] * dyr[i] - xh * dot);
    if (dw) atomicAdd(&dw[i], dyr[i] * xh);
  }
}

}  // namespace

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps,
                     cudaStream_t stream) {
  LFM2_CHECK(rows >= 0 && n > 0, "rmsnorm: bad shape rows=", rows, " n=", n);
  if (rows == 0) return;
  LFM2_LAUNCH(rmsnorm_forward_kernel, blocks_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream, x, w, y, rstd, rows, n, eps);
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t n, cudaStream_t stream) {
  LFM2_CHECK(rows >= 0 && n > 0, "rmsnorm_backward: bad shape rows=", rows, " n=", n);
  if (rows == 0) return;
  LFM2_LAUNCH(rmsnorm_backward_kernel, blocks_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream, x, w, rstd, dy, dx, dw, rows, n);
}

}  // namespace lfm2::cuda
