#pragma once
// Prefix cache of device generation states for GPU generation: the CPU cache's bookkeeping (model/prefix_lru.h) over
// entries whose state and last-position logits stay on the GPU. An entry is reusable only by prompts that start with
// exactly its key (the conv shift registers cannot be rolled back). Byte bound: Σ (state bytes + V·4 logits + key)
// ≤ capacity, least recently used evicted first (an evicted state's bytes go back to the model's budget), an entry
// larger than the capacity not stored. Valid only for the weights the states were computed with: clear() after any
// weight update.
#include <cstdint>
#include <vector>

#include "backend/cuda/cuda_model_impl.cuh"
#include "model/prefix_lru.h"

namespace lfm2::cuda {

struct CudaPrefixEntry {
  std::vector<int32_t> key;  // tokens consumed by `state`
  CudaStatePtr state;        // state->length == key.size()
  DeviceBuffer logits;       // [V] after the last key token
  size_t bytes = 0;
};

class CudaPrefixCache : public PrefixLru<CudaPrefixEntry> {
 public:
  using PrefixLru::PrefixLru;

  // Takes ownership of a state (a private copy) and its logits; false (nothing stored) when over the capacity. A key
  // already cached keeps its entry (callers check contains() first).
  bool insert(std::vector<int32_t> key, CudaStatePtr state, DeviceBuffer logits);
  // Bytes an entry for this key/state would count.
  static size_t entry_bytes(size_t key_len, const CudaGenerationState& s, int64_t vocab);
};

}  // namespace lfm2::cuda
