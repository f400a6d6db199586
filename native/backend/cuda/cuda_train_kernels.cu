#include "backend/cuda/cuda_train_kernels.cuh"

namespace lfm2::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void gather_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows, int64_t C,
                                   float* __restrict__ dst) {
  const int64_t r = blockIdx.x;
  const float* s = src + int64_t(rows[r]) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dst[r * C + c] = s[c];
}

__global__ void scatter_rows_kernel(const float* __restrict__ src, const int32_t* __restrict__ rows, int64_t C,
                                    float* __restrict__ dst) {
  const int64_t r = blockIdx.x;
  float* d = dst + int64_t(rows[r]) * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) d[c] = src[r * C + c];
}

__global__ void add_into_kernel(float* __restrict__ dst, const float* __restrict__ src, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] += src[i];
}

__global__ void embedding_backward_padded_kernel(const int32_t* __restrict__ ids, const float* __restrict__ dx,
                                                 int64_t vocab, int64_t C, int64_t pad, float* dE) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  if (id < 0 || id >= vocab || id == pad) return;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(&dE[int64_t(id) * C + c], dx[t * C + c]);
}

}  // namespace

void gather_rows_f32(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst, cudaStream_t stream) {
  LFM2_CHECK(R >= 0 && C > 0 && R <= 0x7fffffff, "gather_rows: bad shape R=", R, " C=", C);
  if (R == 0) return;
  LFM2_LAUNCH(gather_rows_kernel, unsigned(R), kThreads, 0, stream, src, rows, C, dst);
}

void scatter_rows_f32(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst, cudaStream_t stream) {
  LFM2_CHECK(R >= 0 && C > 0 && R <= 0x7fffffff, "scatter_rows: bad shape R=", R, " C=", C);
  if (R == 0) return;
  LFM2_LAUNCH(scatter_rows_kernel, unsigned(R), kThreads, 0, stream, src, rows, C, dst);
}

void add_into(float* dst, const float* src, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  LFM2_LAUNCH(add_into_kernel, blocks_for(n, kThreads), kThreads, 0, stream, dst, src, n);
}

void embedding_backward_padded(const int32_t* ids, int64_t T, const float* dx, int64_t vocab, int64_t C,
                               int64_t padding_idx, float* dE, cudaStream_t stream) {
  LFM2_CHECK(T >= 0 && vocab > 0 && C > 0 && T <= 0x7fffffff, "embedding_backward: bad shape T=", T, " vocab=",
             vocab, " C=", C);
  if (T == 0) return;
  LFM2_LAUNCH(embedding_backward_padded_kernel, unsigned(T), kThreads, 0, stream, ids, dx, vocab, C, padding_idx, dE);
}

}  // namespace lfm2::cuda
