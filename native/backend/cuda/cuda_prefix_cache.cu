#include "backend/cuda/cuda_prefix_cache.cuh"

#include <algorithm>

namespace lfm2::cuda {

size_t CudaPrefixCache::entry_bytes(size_t key_len, const CudaGenerationState& s, int64_t vocab) {
  return size_t(s.bytes) + size_t(vocab) * 4 + key_len * 4;
}

const CudaPrefixEntry* CudaPrefixCache::longest_prefix(const int32_t* tokens, int64_t max_len) {
  auto best = lru_.end();
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    const int64_t n = int64_t(it->key.size());
    if (n > max_len || (best != lru_.end() && n <= int64_t(best->key.size()))) continue;
    if (std::equal(it->key.begin(), it->key.end(), tokens)) best = it;
  }
  if (best == lru_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, best);
  return &lru_.front();
}

bool CudaPrefixCache::contains(const int32_t* tokens, int64_t len) const {
  for (const auto& e : lru_)
    if (int64_t(e.key.size()) == len && std::equal(e.key.begin(), e.key.end(), tokens)) return true;
  return false;
}

bool CudaPrefixCache::insert(std::vector<int32_t> key, CudaStatePtr state, DeviceBuffer logits) {
  LFM2_CHECK(state && state->length == int64_t(key.size()), "prefix cache: state length ",
             state ? state->length : -1, " does not match its key of ", key.size(), " tokens");
  const size_t b = size_t(state->bytes) + logits.bytes() + key.size() * 4;
  for (auto it = lru_.begin(); it != lru_.end(); ++it)
    if (it->key == key) {  // refresh: the newer state replaces the old one
      bytes_ -= it->bytes;
      lru_.erase(it);
      break;
    }
  if (b > capacity_) return false;
  evict_to(capacity_ - b);
  lru_.push_front(CudaPrefixEntry{std::move(key), std::move(state), std::move(logits), b});
  bytes_ += b;
  ++inserts_;
  return true;
}

void CudaPrefixCache::evict_to(size_t bound) {
  while (bytes_ > bound && !lru_.empty()) {
    bytes_ -= lru_.back().bytes;
    lru_.pop_back();
    ++evictions_;
  }
}

bool CudaPrefixCache::evict_one() {
  if (lru_.empty()) return false;
  bytes_ -= lru_.back().bytes;
  lru_.pop_back();
  ++evictions_;
  return true;
}

void CudaPrefixCache::clear() {
  lru_.clear();
  bytes_ = 0;
}

void CudaPrefixCache::set_capacity(size_t bytes) {
  capacity_ = bytes;
  evict_to(bytes);
}

PrefixCacheStats CudaPrefixCache::stats() const {
  PrefixCacheStats s;
  s.entries = lru_.size();
  s.bytes = bytes_;
  s.capacity = capacity_;
  s.hits = hits_, s.misses = misses_, s.inserts = inserts_, s.evictions = evictions_;
  return s;
}

}  // namespace lfm2::cuda
