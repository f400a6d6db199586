#include "backend/cpu/backward/embedding_backward.h"

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {

void embedding_backward(int64_t tokens, int64_t vocab, int64_t dim, const int32_t* ids, const float* dx, float* dE,
                        int64_t padding_idx) {
  LFM2_CHECK(tokens >= 0 && vocab > 0 && dim > 0, "embedding_backward: bad shape");
  for (int64_t t = 0; t < tokens; ++t)
    LFM2_CHECK(ids[t] >= 0 && ids[t] < vocab, "embedding_backward: token id ", ids[t], " at position ", t,
               " is outside the vocabulary [0, ", vocab, ")");
  // Threads own disjoint column ranges, so repeated ids never race and the summation order is fixed.
  parallel_for(
      dim,
      [&](int64_t c0, int64_t c1, int) {
        for (int64_t t = 0; t < tokens; ++t) {
          if (ids[t] == padding_idx) continue;
          float* dst = dE + int64_t(ids[t]) * dim;
          const float* src = dx + t * dim;
          for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
        }
      },
      64);
}

}  // namespace lfm2::cpu
