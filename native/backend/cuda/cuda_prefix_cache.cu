#include "backend/cuda/cuda_prefix_cache.cuh"

namespace lfm2::cuda {

size_t CudaPrefixCache::entry_bytes(size_t key_len, const CudaGenerationState& s, int64_t vocab) {
  return size_t(s.bytes) + size_t(vocab) * 4 + key_len * 4;
}

bool CudaPrefixCache::insert(std::vector<int32_t> key, CudaStatePtr state, DeviceBuffer logits) {
  LFM2_CHECK(state && state->length == int64_t(key.size()), "prefix cache: state length ",
             state ? state->length : -1, " does not match its key of ", key.size(), " tokens");
  if (touch(key.data(), int64_t(key.size()))) return true;
  const size_t b = size_t(state->bytes) + logits.bytes() + key.size() * 4;
  if (b > capacity()) return false;
  add(CudaPrefixEntry{std::move(key), std::move(state), std::move(logits), b});
  return true;
}

}  // namespace lfm2::cuda
