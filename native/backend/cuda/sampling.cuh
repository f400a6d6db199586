#pragma once
// Token sampling on the GPU, one block per row, with the CPU sampler's semantics (native/model/sampler.h, HF order):
// allowed-token mask (constrained decoding) → repetition penalty (x>0: x/r, else x·r) → temperature (0 = greedy,
// lowest id on ties) → softmax → top-k → top-p → min-p → inverse-CDF draw in ascending id order with the given
// uniform. Ties in top-k/top-p are broken by ascending id, as a stable sort by probability would.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

struct SampleRowParams {
  float temperature = 1.f;
  int32_t top_k = 0;      // 0 = off
  float top_p = 1.f;      // 1 = off
  float min_p = 0.f;      // 0 = off
  float repetition_penalty = 1.f;
  float uniform = 0.f;    // in [0, 1)
  int32_t seen_begin = 0, seen_end = 0;        // range in the seen-id list (deduplicated ids)
  int32_t allowed_begin = 0, allowed_end = -1; // range in the allowed-id list; end < 0 = every token allowed
};

// logits: [R, V] (read only), V < 2^24; scratch: [R, V] floats; params: [R]; seen/allowed: id lists (ids in
// [0, V), seen ids deduplicated per row: the penalty applies once per token).
// Outputs per row: token, logq (log-probability under the sampled distribution; 0 when greedy) and logp
// (log softmax of the raw logits at temperature 1 over the whole vocabulary).
void sample_rows(const float* logits, float* scratch, int64_t R, int64_t V, const SampleRowParams* params,
                 const int32_t* seen, const int32_t* allowed, int32_t* token, float* logq, float* logp,
                 cudaStream_t stream);

}  // namespace lfm2::cuda
