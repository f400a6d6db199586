#include "backend/cuda/rope.cuh"

namespace lfm2::cuda {
namespace {

// One thread per (token, head, pair i < D/2).
__global__ void rope_kernel(float* x, const int32_t* __restrict__ pos, int64_t T, int64_t n_heads, int64_t D,
                            double theta, float sign) {
  const int64_t half = D / 2;
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= T * n_heads * half) return;
  const int64_t i = idx % half;
  const int64_t th = idx / half;  // token * n_heads + head
  const int64_t t = th / n_heads;
  const double inv_freq = pow(theta, -2.0 * double(i) / double(D));
  double s, c;
  sincos(double(pos[t]) * inv_freq, &s, &c);
  const float cf = float(c), sf = sign * float(s);
  float* row = x + th * D;
  const float a = row[i], b = row[i + half];
  row[i] = a * cf - b * sf;
  row[i + half] = b * cf + a * sf;
}

void launch(float* x, const int32_t* pos, int64_t T, int64_t n_heads, int64_t D, double theta, float sign,
            cudaStream_t stream) {
  LFM2_CHECK(T >= 0 && n_heads > 0 && D > 0 && D % 2 == 0, "rope: bad shape T=", T, " heads=", n_heads, " D=", D);
  LFM2_CHECK(theta > 0, "rope: theta must be positive, got ", theta);
  const int64_t n = T * n_heads * (D / 2);
  if (n == 0) return;
  LFM2_LAUNCH(rope_kernel, blocks_for(n, 256), 256, 0, stream, x, pos, T, n_heads, D, theta, sign);
}

}  // namespace

void rope_forward(float* x, const int32_t* pos, int64_t T, int64_t n_heads, int64_t head_dim, double theta,
                  cudaStream_t stream) {
  launch(x, pos, T, n_heads, head_dim, theta, 1.f, stream);
}

void rope_backward(float* dx, const int32_t* pos, int64_t T, int64_t n_heads, int64_t head_dim, double theta,
                   cudaStream_t stream) {
  launch(dx, pos, T, n_heads, head_dim, theta, -1.f, stream);
}

}  // namespace lfm2::cuda
