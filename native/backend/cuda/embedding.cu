#include "backend/cuda/embedding.cuh"

namespace lfm2::cuda {
namespace {

__global__ void embedding_forward_kernel(const int32_t* __restrict__ ids, const __nv_bfloat16* __restrict__ table,
                                         int64_t vocab, int64_t C, float* __restrict__ out) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  const bool ok = id >= 0 && id < vocab;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    out[t * C + c] = ok ? __bfloat162float(table[int64_t(id) * C + c]) : __int_as_float(0x7fc00000);
}

__global__ void embedding_backward_kernel(const int32_t* __restrict__ ids, const float* __restrict__ dout,
                                          int64_t vocab, int64_t C, float* dtable) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  if (id < 0 || id >= vocab) return;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(&dtable[int64_t(id) * C + c], dout[t * C + c]);
}

}  // namespace

void embedding_forward(const int32_t* ids, int64_t T, const __nv_bfloat16* table, int64_t vocab, int64_t C,
                       float* out, cudaStream_t stream) {
  LFM2_CHECK(T >= 0 && vocab > 0 && C > 0, "embedding: bad shape T=", T, " vocab=", vocab, " C=", C);
  if (T == 0) return;
  LFM2_CHECK(T <= 0x7fffffff, "embedding: too many tokens");
  LFM2_LAUNCH(embedding_forward_kernel, unsigned(T), 256, 0, stream, ids, table, vocab, C, out);
}

void embedding_backward(const int32_t* ids, int64_t T, const float* dout, int64_t vocab, int64_t C, float* dtable,
                        cudaStream_t stream) {
  LFM2_CHECK(T >= 0 && vocab > 0 && C > 0, "embedding_backward: bad shape T=", T, " vocab=", vocab, " C=", C);
  if (T == 0) return;
  LFM2_LAUNCH(embedding_backward_kernel, unsigned(T), 256, 0, stream, ids, dout, vocab, C, dtable);
}

}  // namespace lfm2::cuda
