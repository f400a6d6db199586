#pragma once
// The bookkeeping of a prefix cache, shared by the CPU cache (prefix_cache.h) and the GPU one
// (backend/cuda/cuda_prefix_cache.cuh): entries keyed by the exact token prefix they consumed, lookup of the longest
// cached prefix, byte accounting against a capacity, least-recently-used eviction and the statistics. What an entry
// holds (host or device memory) is the Entry type's business: it needs `std::vector<int32_t> key` and
// `size_t bytes`, and frees its memory when destroyed.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <list>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lfm2 {

struct PrefixCacheStats {
  size_t entries = 0, bytes = 0, capacity = 0;
  uint64_t hits = 0, misses = 0, inserts = 0, evictions = 0;
};

namespace prefix_hash {

// Rolling hash of a token prefix: h_{i+1} = mix(h_i ^ token_i).
inline uint64_t step(uint64_t h, int32_t tok) {
  uint64_t z = h ^ (uint64_t(uint32_t(tok)) + 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
constexpr uint64_t kSeed = 0x6a09e667f3bcc909ull;

inline uint64_t of(const int32_t* t, int64_t n) {
  uint64_t h = kSeed;
  for (int64_t i = 0; i < n; ++i) h = step(h, t[i]);
  return h;
}

}  // namespace prefix_hash

template <class Entry>
class PrefixLru {
 public:
  explicit PrefixLru(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // The entry with the longest key that is a prefix of tokens[0, max_len), or nullptr. Counts a hit or a miss and
  // marks the entry most recently used. The pointer stays valid until the next add, clear, eviction or set_capacity.
  const Entry* longest_prefix(const int32_t* tokens, int64_t max_len) {
    if (lru_.empty() || max_len <= 0) {
      ++misses_;
      return nullptr;
    }
    // Hash of every prefix length that some key has, then try the longest first (cands_ is reused: no allocation
    // per lookup once warm).
    cands_.clear();
    uint64_t h = prefix_hash::kSeed;
    int64_t at = 0;
    for (const auto& [len, count] : lengths_) {
      (void)count;
      if (len > max_len) break;
      for (; at < len; ++at) h = prefix_hash::step(h, tokens[at]);
      cands_.emplace_back(len, h);
    }
    for (auto c = cands_.rbegin(); c != cands_.rend(); ++c) {
      auto it = find(tokens, c->first, c->second);
      if (it != lru_.end()) {
        lru_.splice(lru_.begin(), lru_, it);  // iterators stay valid
        ++hits_;
        return &lru_.front();
      }
    }
    ++misses_;
    return nullptr;
  }

  bool contains(const int32_t* tokens, int64_t len) const {
    return find(tokens, len, prefix_hash::of(tokens, len)) != lru_.end();
  }

  // Marks the entry with exactly this key most recently used; false when there is none.
  bool touch(const int32_t* tokens, int64_t len) {
    auto it = find(tokens, len, prefix_hash::of(tokens, len));
    if (it == lru_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it);
    return true;
  }

  // Stores a new entry (its key not cached yet, its bytes ≤ capacity) as the most recently used, evicting the least
  // recently used entries to make room.
  void add(Entry e) {
    evict_to(capacity_ - e.bytes);
    const int64_t len = int64_t(e.key.size());
    const uint64_t h = prefix_hash::of(e.key.data(), len);
    bytes_ += e.bytes;
    lru_.push_front(std::move(e));
    by_hash_.emplace(h, lru_.begin());
    ++lengths_[len];
    ++inserts_;
  }

  // Drops the least recently used entry; false when empty.
  bool evict_one() {
    if (lru_.empty()) return false;
    erase(std::prev(lru_.end()));
    ++evictions_;
    return true;
  }

  void clear() {
    lru_.clear();
    by_hash_.clear();
    lengths_.clear();
    bytes_ = 0;
  }

  void set_capacity(size_t bytes) {
    capacity_ = bytes;
    evict_to(capacity_);
  }
  size_t capacity() const { return capacity_; }

  PrefixCacheStats stats() const {
    PrefixCacheStats s;
    s.entries = lru_.size();
    s.bytes = bytes_;
    s.capacity = capacity_;
    s.hits = hits_, s.misses = misses_, s.inserts = inserts_, s.evictions = evictions_;
    return s;
  }

 private:
  using List = std::list<Entry>;  // front = most recently used

  typename List::const_iterator find(const int32_t* tokens, int64_t len, uint64_t h) const {
    auto range = by_hash_.equal_range(h);
    for (auto it = range.first; it != range.second; ++it) {
      const auto& key = it->second->key;
      if (int64_t(key.size()) == len && std::equal(key.begin(), key.end(), tokens)) return it->second;
    }
    return lru_.end();
  }

  void erase(typename List::iterator it) {
    const uint64_t h = prefix_hash::of(it->key.data(), int64_t(it->key.size()));
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

  void evict_to(size_t bound) {
    while (bytes_ > bound && evict_one()) {
    }
  }

  size_t capacity_;
  size_t bytes_ = 0;
  List lru_;
  std::unordered_multimap<uint64_t, typename List::iterator> by_hash_;  // prefix hash of the key → entry
  std::map<int64_t, int64_t> lengths_;                                 // key length → number of entries with it
  std::vector<std::pair<int64_t, uint64_t>> cands_;                    // longest_prefix's (length, hash) scratch
  uint64_t hits_ = 0, misses_ = 0, inserts_ = 0, evictions_ = 0;
};

}  // namespace lfm2
