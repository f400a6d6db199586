#include "backend/cuda/decode_kernels.cuh"
#include "backend/cuda/reduce.cuh"

namespace lfm2::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void seen_push_kernel(const SampleRowParams* __restrict__ params, const int32_t* __restrict__ push,
                                 int32_t* __restrict__ seen, int64_t R) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= R || push[r] < 0) return;
  seen[params[r].seen_end - 1] = push[r];
}

// One block per row: log-sum-exp over the vocabulary of z/T, and over the allowed ids of z.
__global__ void extra_logprobs_kernel(const float* __restrict__ logits, int64_t V,
                                      const SampleRowParams* __restrict__ params, const int32_t* __restrict__ allowed,
                                      const int32_t* __restrict__ token, const float* __restrict__ logp,
                                      float* __restrict__ temp_logp, float* __restrict__ masked_logp) {
  __shared__ float red[32];
  const int64_t r = blockIdx.x;
  const SampleRowParams P = params[r];
  const float* z = logits + r * V;
  const int32_t tok = token[r];
  const float T = P.temperature;
  float tlp = logp[r];
  if (T != 0.f && T != 1.f) {  // block-uniform branch: every thread reaches the reductions
    const float inv_t = 1.f / T;
    float mx = -INFINITY;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, z[v] * inv_t);
    mx = block_max(mx, red);
    float se = 0.f;
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) se += expf(z[v] * inv_t - mx);
    se = block_sum(se, red);
    tlp = z[tok] * inv_t - (mx + logf(se));
  }
  float mlp = 0.f;
  if (P.allowed_end >= 0) {
    float mx = -INFINITY;
    for (int32_t i = P.allowed_begin + threadIdx.x; i < P.allowed_end; i += blockDim.x) mx = fmaxf(mx, z[allowed[i]]);
    mx = block_max(mx, red);
    float se = 0.f;
    for (int32_t i = P.allowed_begin + threadIdx.x; i < P.allowed_end; i += blockDim.x) se += expf(z[allowed[i]] - mx);
    se = block_sum(se, red);
    mlp = z[tok] - (mx + logf(se));
  }
  if (threadIdx.x == 0) {
    temp_logp[r] = tlp;
    masked_logp[r] = mlp;
  }
}

}  // namespace

void seen_push(const SampleRowParams* params, const int32_t* push, int32_t* seen, int64_t R, cudaStream_t stream) {
  LFM2_CHECK(R >= 0, "seen_push: bad row count ", R);
  if (R == 0) return;
  LFM2_LAUNCH(seen_push_kernel, blocks_for(R, kThreads), kThreads, 0, stream, params, push, seen, R);
}

void extra_logprobs(const float* logits, int64_t R, int64_t V, const SampleRowParams* params, const int32_t* allowed,
                    const int32_t* token, const float* logp, float* temp_logp, float* masked_logp,
                    cudaStream_t stream) {
  LFM2_CHECK(R >= 0 && V > 0, "extra_logprobs: bad shape R=", R, " V=", V);
  if (R == 0) return;
  LFM2_LAUNCH(extra_logprobs_kernel, unsigned(R), kThreads, 0, stream, logits, V, params, allowed, token, logp,
              temp_logp, masked_logp);
}

}  // namespace lfm2::cuda
