#pragma once
// Prefix cache of device generation states for GPU generation: the CPU PrefixCache's design (model/prefix_cache.h)
// with the state and its last-position logits kept on the GPU. An entry is reusable only by prompts that start with
// exactly its key (the conv shift registers cannot be rolled back). Byte bound: Σ (state bytes + V·4 logits + key)
// ≤ capacity, least recently used evicted first, an entry larger than the capacity not stored. Lookup scans the
// entries (a sampler caches tens of prompts, not thousands). Valid only for the weights the states were computed
// with: clear() after any weight update.
#include <cstdint>
#include <list>
#include <vector>

#include "backend/cuda/cuda_model_impl.cuh"
#include "model/prefix_cache.h"

namespace lfm2::cuda {

struct CudaPrefixEntry {
  std::vector<int32_t> key;  // tokens consumed by `state`
  CudaStatePtr state;        // state->length == key.size()
  DeviceBuffer logits;       // [V] after the last key token
  size_t bytes = 0;
};

class CudaPrefixCache {
 public:
  explicit CudaPrefixCache(size_t capacity) : capacity_(capacity) {}

  // Longest key that is a prefix of tokens[0, max_len) (counts a hit or miss, marks it most recently used); the
  // pointer stays valid until the next insert, clear or set_capacity.
  const CudaPrefixEntry* longest_prefix(const int32_t* tokens, int64_t max_len);
  bool contains(const int32_t* tokens, int64_t len) const;
  // Takes ownership of a state (a private copy) and its logits; false (nothing stored) when over the capacity.
  bool insert(std::vector<int32_t> key, CudaStatePtr state, DeviceBuffer logits);
  // Bytes an entry for this key/state would count.
  static size_t entry_bytes(size_t key_len, const CudaGenerationState& s, int64_t vocab);

  // Drops the least recently used entry (its state's bytes go back to the model's budget); false when empty.
  bool evict_one();
  void clear();
  void set_capacity(size_t bytes);
  size_t capacity() const { return capacity_; }
  PrefixCacheStats stats() const;

 private:
  void evict_to(size_t bound);
  size_t capacity_;
  size_t bytes_ = 0;
  std::list<CudaPrefixEntry> lru_;  // front = most recently used
  uint64_t hits_ = 0, misses_ = 0, inserts_ = 0, evictions_ = 0;
};

}  // namespace lfm2::cuda
