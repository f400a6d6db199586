#pragma once
// Token-embedding lookup backward: x_t = E[ids_t]  ⇒  dE[ids_t] += dx_t (scatter-add, repeated ids sum).
// Like PyTorch nn.Embedding(padding_idx=0), rows looked up with id == padding_idx receive no lookup gradient
// (docs/lfm2.md §4). With the tied head, the head's dE lands in the same buffer, which is why this accumulates.
//
// Gradient accumulation policy: dE (parameter) is accumulated (+=).
#include <cstdint>

namespace lfm2::cpu {

// ids: [T] (0 ≤ id < V)   dx: [T, C]   dE: [V, C]   padding_idx: id whose gradient is dropped, or −1 for none.
void embedding_backward(int64_t tokens, int64_t vocab, int64_t dim, const int32_t* ids, const float* dx, float* dE,
                        int64_t padding_idx = 0);

}  // namespace lfm2::cpu
