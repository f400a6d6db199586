#pragma once
// Device memory: an RAII buffer and a caching arena for per-call scratch.
#include <cstddef>
#include <map>
#include <vector>

#include "backend/cuda/common.cuh"

namespace lfm2::cuda {

// Owns one cudaMalloc allocation; move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { resize(bytes); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;

  // Reallocates (contents lost) when `bytes` differs from the current size.
  void resize(size_t bytes);
  // Grows (keeping the first `keep_bytes`) when `bytes` exceeds the capacity.
  void reserve_keep(size_t bytes, size_t keep_bytes, cudaStream_t stream);
  void release() noexcept;

  void* get() const { return ptr_; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Scratch allocator for one call: take() hands out 256-byte aligned slices of a pool; reset() makes them all free
// again without returning memory to the driver (cudaMalloc/cudaFree synchronise the device, so a decode loop must
// not call them per step). When a call needs more than the pool holds, the pool grows once to the high-water mark.
class Arena {
 public:
  // Returns device memory for `bytes`; valid until the next reset().
  void* take(size_t bytes);
  template <typename T> T* take_n(int64_t n) { return static_cast<T*>(take(size_t(n) * sizeof(T))); }
  // Frees every slice of the current call. If the call overflowed the pool, the pool is regrown to fit it all.
  void reset();
  size_t capacity() const { return pool_.bytes(); }

 private:
  DeviceBuffer pool_;
  size_t used_ = 0;
  size_t high_water_ = 0;
  std::vector<DeviceBuffer> overflow_;  // allocations that did not fit the pool this call
};

// Host <-> device copies of typed arrays (synchronous on `stream`'s completion for downloads).
void upload(void* dst, const void* src, size_t bytes, cudaStream_t stream);
void download(void* dst, const void* src, size_t bytes, cudaStream_t stream);

}  // namespace lfm2::cuda
