#include "backend/cpu/embedding.h"

#include <cstring>

#include "core/bf16.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

void embedding_forward(const int32_t* ids, int64_t T, const void* table, DType dtype, int64_t vocab, int64_t C,
                       float* out) {
  for (int64_t t = 0; t < T; ++t)
    LFM2_CHECK(ids[t] >= 0 && ids[t] < vocab, "token id ", ids[t], " at position ", t, " is outside the vocabulary [0, ",
               vocab, ")");
  parallel_for(T, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * C;
      if (dtype == DType::F32) {
        std::memcpy(o, static_cast<const float*>(table) + int64_t(ids[t]) * C, size_t(C) * sizeof(float));
      } else {
        const uint16_t* row = static_cast<const uint16_t*>(table) + int64_t(ids[t]) * C;
        for (int64_t i = 0; i < C; ++i) o[i] = bf16_to_f32(row[i]);
      }
    }
  }, 8);
}

}  // namespace lfm2
