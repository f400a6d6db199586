#pragma once
// Token embedding (docs/lfm2.md §3.1, no scaling): out[t, :] = table[ids[t], :] (BF16 table upcast exactly).
// Ids must be validated on the host first (the engine holds them there); the kernel still never reads outside the
// table: an out-of-range id writes a NaN row so a missed check cannot go unnoticed.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// ids: [T] device; table: [vocab, C]; out: [T, C].
void embedding_forward(const int32_t* ids, int64_t T, const __nv_bfloat16* table, int64_t vocab, int64_t C,
                       float* out, cudaStream_t stream);
// Scatter-add backward: dtable[ids[t], :] += dout[t, :] (FP32 atomics; repeated ids accumulate).
void embedding_backward(const int32_t* ids, int64_t T, const float* dout, int64_t vocab, int64_t C, float* dtable,
                        cudaStream_t stream);

}  // namespace lfm2::cuda
