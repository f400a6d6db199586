#pragma once
// Token embedding lookup: out[t,:] = table[ids[t],:]. No scaling (docs/lfm2.md §3.1).
#include <cstdint>

#include "backend/cpu/gemm.h"

namespace lfm2 {

// ids: [T]; table: [vocab, C] in `dtype` (BF16 upcast exactly); out: [T, C]. Throws on an id outside [0, vocab).
void embedding_forward(const int32_t* ids, int64_t T, const void* table, DType dtype, int64_t vocab, int64_t C,
                       float* out);

}  // namespace lfm2
