#pragma once
// Small per-step kernels of the GPU generation loop (cuda_generate.cu), around the sampling kernel (sampling.cuh):
// growing the device seen-id lists and the log-probs the sampling kernel does not return (sampler.h defines them:
// temp_logprob and masked_logprob).
#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/sampling.cuh"

namespace lfm2::cuda {

// For every row r < R with push[r] ≥ 0: seen[params[r].seen_end − 1] = push[r] (the host extended the row's range
// by one for a token seen for the first time; the device list gets the id here, inside the decode step).
void seen_push(const SampleRowParams* params, const int32_t* push, int32_t* seen, int64_t R, cudaStream_t stream);

// Per row r < R, for the chosen token[r] of logits row z = logits[r, :] ([R, V]):
//   temp_logp[r]   = log softmax(z / T)[token] over the whole vocabulary, T = params[r].temperature; equal to
//                    logp[r] (the sampling kernel's temperature-1 value) when T is 0 or 1;
//   masked_logp[r] = log softmax(z over the allowed ids)[token] at temperature 1 when the row is constrained
//                    (params[r].allowed_end ≥ 0), else 0.
void extra_logprobs(const float* logits, int64_t R, int64_t V, const SampleRowParams* params, const int32_t* allowed,
                    const int32_t* token, const float* logp, float* temp_logp, float* masked_logp,
                    cudaStream_t stream);

}  // namespace lfm2::cuda
