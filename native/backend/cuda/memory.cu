#include "backend/cuda/memory.cuh"

#include <utility>

namespace lfm2::cuda {

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    release();
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::resize(size_t bytes) {
  if (bytes == bytes_) return;
  release();
  if (bytes == 0) return;
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    lfm2::fail("cudaMalloc of ", bytes, " bytes failed (", cudaGetErrorString(e), "); device has ", free_b,
               " of ", total_b, " bytes free");
  }
  ptr_ = p;
  bytes_ = bytes;
}

void DeviceBuffer::reserve_keep(size_t bytes, size_t keep_bytes, cudaStream_t stream) {
  if (bytes <= bytes_) return;
  LFM2_CHECK(keep_bytes <= bytes_, "reserve_keep: keeping ", keep_bytes, " bytes of a ", bytes_, "-byte buffer");
  DeviceBuffer grown(bytes);
  if (keep_bytes) CUDA_CHECK(cudaMemcpyAsync(grown.ptr_, ptr_, keep_bytes, cudaMemcpyDeviceToDevice, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));  // the old buffer is freed below; its copy must be done
  *this = std::move(grown);
}

void DeviceBuffer::release() noexcept {
  if (ptr_) cudaFree(ptr_);  // an error here cannot be reported from a destructor; the next checked call will
  ptr_ = nullptr;
  bytes_ = 0;
}

void* Arena::take(size_t bytes) {
  const size_t aligned = (bytes + 255) & ~size_t(255);
  high_water_ += aligned;
  if (used_ + aligned <= pool_.bytes()) {
    void* p = static_cast<char*>(pool_.get()) + used_;
    used_ += aligned;
    return p;
  }
  overflow_.emplace_back(aligned ? aligned : 256);
  return overflow_.back().get();
}

void Arena::reset() {
  // The caller must have synchronised (or only enqueued work on the one stream that uses the arena): the slices
  // are reused by the next call's kernels, which run after this call's on the same stream.
  if (!overflow_.empty()) {
    CUDA_CHECK(cudaDeviceSynchronize());
    overflow_.clear();
    pool_.resize(high_water_ + high_water_ / 4);
  }
  used_ = 0;
  high_water_ = 0;
}

void upload(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));  // the host source may be freed by the caller right after
}

void download(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace lfm2::cuda
