#pragma once
// Cache of generation states keyed by the exact token prefix they consumed, shared across sampler calls. LFM2's conv
// shift registers make a state impossible to roll back, so a state is only reusable for prompts that start with
// exactly its tokens; the sampler stores states at chosen boundaries (the batch's longest common prefix and whole
// prompts). Each entry also keeps the logits of its last position, so a prompt equal to a key needs no forward.
//
// Memory bound: the sum of entry sizes (state + logits + key) never exceeds the capacity; inserting evicts the least
// recently used entries first, and an entry larger than the whole capacity is not stored. Capacity 0 disables it.
// The cached states are only valid for the weights they were computed with: call clear() after any weight update.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/lfm2.h"

namespace lfm2 {

struct PrefixCacheEntry {
  std::vector<int32_t> key;                // tokens consumed by `state`
  std::unique_ptr<GenerationState> state;  // state->length == key.size()
  std::vector<float> logits;               // [V] logits after the last key token
  size_t bytes = 0;
};

struct PrefixCacheStats {
  size_t entries = 0, bytes = 0, capacity = 0;
  uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0;
};

class PrefixCache {
 public:
  explicit PrefixCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The entry with the longest key that is a prefix of tokens[0, max_len), or nullptr. Counts a hit or a miss and
  // marks the entry most recently used. The pointer stays valid until the next insert, clear or set_capacity.
  const PrefixCacheEntry* longest_prefix(const int32_t* tokens, int64_t max_len);

  // Stores a deep copy of `state` (which consumed tokens[0, len)) with its last logits [vocab]. Returns false when
  // the entry alone exceeds the capacity. An existing entry with the same key is refreshed, not duplicated.
  bool insert(const int32_t* tokens, int64_t len, const GenerationState& state, const float* logits, int64_t vocab);

  void clear();
  void set_capacity(size_t bytes);
  PrefixCacheStats stats() const;

 private:
  using List = std::list<PrefixCacheEntry>;  // front = most recently used
  void evict_to(size_t bound);
  void erase(List::iterator it);

  size_t capacity_;
  size_t bytes_ = 0;
  List lru_;
  std::unordered_multimap<uint64_t, List::iterator> by_hash_;  // prefix hash of the key → entry
  std::map<int64_t, int64_t> lengths_;                         // key length → number of entries with it
  uint64_t hits_ = 0, misses_ = 0, inserts_ = 0, evictions_ = 0;
};

}  // namespace lfm2
