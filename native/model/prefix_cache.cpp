#include "model/prefix_cache.h"

namespace lfm2 {

bool PrefixCache::insert(const int32_t* tokens, int64_t len, const GenerationState& state, const float* logits,
                         int64_t vocab) {
  if (touch(tokens, len)) return true;
  const size_t bytes = state.bytes() + size_t(vocab) * sizeof(float) + size_t(len) * sizeof(int32_t);
  if (bytes > capacity()) return false;
  PrefixCacheEntry e;
  e.key.assign(tokens, tokens + len);
  e.state = std::make_unique<GenerationState>(state);
  e.logits.assign(logits, logits + vocab);
  e.bytes = bytes;
  add(std::move(e));
  return true;
}

}  // namespace lfm2
