#pragma once
// Cache of generation states keyed by the exact token prefix they consumed, shared across sampler calls. LFM2's conv
// shift registers make a state impossible to roll back, so a state is only reusable for prompts that start with
// exactly its tokens; the sampler stores states at chosen boundaries (the batch's longest common prefix and whole
// prompts). Each entry also keeps the logits of its last position, so a prompt equal to a key needs no forward.
//
// Memory bound: the sum of entry sizes (state + logits + key) never exceeds the capacity; inserting evicts the least
// recently used entries first, and an entry larger than the whole capacity is not stored. Capacity 0 disables it.
// The cached states are only valid for the weights they were computed with: call clear() after any weight update.
// The bookkeeping (lookup, eviction, statistics) is PrefixLru's, shared with the GPU cache.
#include <cstdint>
#include <memory>
#include <vector>

#include "model/lfm2.h"
#include "model/prefix_lru.h"

namespace lfm2 {

struct PrefixCacheEntry {
  std::vector<int32_t> key;                // tokens consumed by `state`
  std::unique_ptr<GenerationState> state;  // state->length == key.size()
  std::vector<float> logits;               // [V] logits after the last key token
  size_t bytes = 0;
};

class PrefixCache : public PrefixLru<PrefixCacheEntry> {
 public:
  using PrefixLru::PrefixLru;

  // Stores a deep copy of `state` (which consumed tokens[0, len)) with its last logits [vocab]. Returns false when
  // the entry alone exceeds the capacity. An existing entry with the same key is refreshed, not duplicated.
  bool insert(const int32_t* tokens, int64_t len, const GenerationState& state, const float* logits, int64_t vocab);
};

}  // namespace lfm2
