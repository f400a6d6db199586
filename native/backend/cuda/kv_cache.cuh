#pragma once
// KV-cache append: copies new key/value rows of the packed batch into per-sequence device caches.
#include <cstdint>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// src: [T, width]; dst: [T] device array of device row pointers (nullptr = row not cached, e.g. a fresh sequence).
void kv_append(const float* src, float* const* dst, int64_t T, int64_t width, cudaStream_t stream);

}  // namespace lfm2::cuda
