#include "model/prefix_cache.h"

#include <algorithm>

namespace lfm2 {
namespace {

// Rolling hash of a token prefix: h_{i+1} = mix(h_i ^ token_i).
uint64_t step_hash(uint64_t h, int32_t tok) {
  uint64_t z = h ^ (uint64_t(uint32_t(tok)) + 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
constexpr uint64_t kHashSeed = 0x6a09e667f3bcc909ull;

uint64_t prefix_hash(const int32_t* t, int64_t n) {
  uint64_t h = kHashSeed;
  for (int64_t i = 0; i < n; ++i) h = step_hash(h, t[i]);
  return h;
}

}  // namespace

const PrefixCacheEntry* PrefixCache::longest_prefix(const int32_t* tokens, int64_t max_len) {
  if (lru_.empty() || max_len <= 0) {
    ++misses_;
    return nullptr;
  }
  // Hash of every prefix length that some key has, then try the longest first.
  std::vector<std::pair<int64_t, uint64_t>> cands;
  uint64_t h = kHashSeed;
  int64_t at = 0;
  for (const auto& [len, count] : lengths_) {
    (void)count;
    if (len > max_len) break;
    for (; at < len; ++at) h = step_hash(h, tokens[at]);
    cands.emplace_back(len, h);
  }
  for (auto c = cands.rbegin(); c != cands.rend(); ++c) {
    auto range = by_hash_.equal_range(c->second);
    for (auto it = range.first; it != range.second; ++it) {
      const auto& key = it->second->key;
      if (int64_t(key.size()) == c->first && std::equal(key.begin(), key.end(), tokens)) {
        lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
        ++hits_;
        return &lru_.front();
      }
    }
  }
  ++misses_;
  return nullptr;
}

bool PrefixCache::insert(const int32_t* tokens, int64_t len, const GenerationState& state, const float* logits,
                         int64_t vocab) {
  const uint64_t h = prefix_hash(tokens, len);
  auto range = by_hash_.equal_range(h);
  for (auto it = range.first; it != range.second; ++it) {
    const auto& key = it->second->key;
    if (int64_t(key.size()) == len && std::equal(key.begin(), key.end(), tokens)) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return true;
    }
  }
  const size_t bytes = state.bytes() + size_t(vocab) * sizeof(float) + size_t(len) * sizeof(int32_t);
  if (bytes > capacity_) return false;
  evict_to(capacity_ - bytes);
  PrefixCacheEntry e;
  e.key.assign(tokens, tokens + len);
  e.state = std::make_unique<GenerationState>(state);
  e.logits.assign(logits, logits + vocab);
  e.bytes = bytes;
  lru_.push_front(std::move(e));
  by_hash_.emplace(h, lru_.begin());
  ++lengths_[len];
  bytes_ += bytes;
  ++inserts_;
  return true;
}

void PrefixCache::erase(List::iterator it) {
  const uint64_t h = prefix_hash(it->key.data(), int64_t(it->key.size()));
  auto range = by_hash_.equal_range(h);
  for (auto m = range.first; m != range.second; ++m)
    if (m->second == it) {
      by_hash_.erase(m);
      break;
    }
  auto l = lengths_.find(int64_t(it->key.size()));
  if (--l->second == 0) lengths_.erase(l);
  bytes_ -= it->bytes;
  lru_.erase(it);
}

void PrefixCache::evict_to(size_t bound) {
  while (bytes_ > bound && !lru_.empty()) {
    erase(std::prev(lru_.end()));
    ++evictions_;
  }
}

void PrefixCache::clear() {
  lru_.clear();
  by_hash_.clear();
  lengths_.clear();
  bytes_ = 0;
}

void PrefixCache::set_capacity(size_t bytes) {
  capacity_ = bytes;
  evict_to(capacity_);
}

PrefixCacheStats PrefixCache::stats() const {
  PrefixCacheStats s;
  s.entries = lru_.size();
  s.bytes = bytes_;
  s.capacity = capacity_;
  s.hits = hits_;
  s.misses = misses_;
  s.inserts = inserts_;
  s.evictions = evictions_;
  return s;
}

}  // namespace lfm2
