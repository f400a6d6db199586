// Emulated device memory: cudaMalloc hands out 256-byte aligned host memory within a fixed budget (8 GiB, or
// LFM2_CUDA_EMU_MEMORY bytes), so out-of-memory paths can be tested. Fresh allocations are filled with 0xFF bytes
// (NaN as float and BF16, -1 as int) so code that reads memory it never wrote shows it. Copies and memsets check
// that their device side lies inside one live allocation, as the real runtime rejects stray pointers.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "runtime.h"

namespace lfm2_emu {
namespace {

constexpr size_t kAlign = 256;
constexpr size_t kPoisonLimit = size_t(64) << 20;  // larger blocks are left as the OS gives them (lazily mapped)

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> device;  // base → requested bytes (copies past them are errors)
  std::map<uintptr_t, size_t> device_rounded;  // base → bytes charged to the budget
  std::map<uintptr_t, size_t> pinned;
  size_t live = 0;
};
Registry& reg() {
  static Registry r;
  return r;
}

bool inside(const std::map<uintptr_t, size_t>& m, const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return false;
  --it;
  return a >= it->first && a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

std::string ptr_text(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

const char* kind_name(cudaMemcpyKind k) {
  switch (k) {
    case cudaMemcpyHostToHost: return "HostToHost";
    case cudaMemcpyHostToDevice: return "HostToDevice";
    case cudaMemcpyDeviceToHost: return "DeviceToHost";
    case cudaMemcpyDeviceToDevice: return "DeviceToDevice";
    case cudaMemcpyDefault: return "Default";
  }
  return "?";
}

// Device side(s) of a copy must be device memory; during capture its host side must be pinned.
cudaError_t check_copy(const char* api, void* dst, const void* src, size_t dst_extent, size_t src_extent,
                       cudaMemcpyKind kind, bool capturing) {
  if (int(kind) < 0 || int(kind) > 4)
    return record_error(cudaErrorInvalidMemcpyDirection, std::string(api) + ": invalid cudaMemcpyKind " + std::to_string(int(kind)));
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dst_dev && !is_device_range(dst, dst_extent))
    return record_error(cudaErrorInvalidValue, std::string(api) + " (" + kind_name(kind) + "): destination [" +
                                                   ptr_text(dst) + ", +" + std::to_string(dst_extent) +
                                                   ") is not inside one live cudaMalloc allocation");
  if (src_dev && !is_device_range(src, src_extent))
    return record_error(cudaErrorInvalidValue, std::string(api) + " (" + kind_name(kind) + "): source [" +
                                                   ptr_text(src) + ", +" + std::to_string(src_extent) +
                                                   ") is not inside one live cudaMalloc allocation");
  if (capturing) {  // a copy from/to pageable memory is staged synchronously by the driver: not capturable
    const void* host = kind == cudaMemcpyHostToDevice ? src : kind == cudaMemcpyDeviceToHost ? dst : nullptr;
    const size_t ext = kind == cudaMemcpyHostToDevice ? src_extent : dst_extent;
    if (host && !is_pinned_range(host, ext))
      return record_error(cudaErrorStreamCaptureUnsupported,
                          std::string(api) + " (" + kind_name(kind) + ") during stream capture uses pageable host memory " +
                              ptr_text(host) + "; captured copies need pinned memory (cudaMallocHost/cudaHostAlloc)");
  }
  return cudaSuccess;
}

bool capturing(cudaStream_t s) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  return s && s != cudaStreamLegacy && s != cudaStreamPerThread && cudaStreamIsCapturing(s, &st) == cudaSuccess &&
         st != cudaStreamCaptureStatusNone;
}

}  // namespace

size_t memory_budget() {
  static const size_t budget = [] {
    size_t b = size_t(8) << 30;
    if (const char* env = std::getenv("LFM2_CUDA_EMU_MEMORY")) {
      const unsigned long long v = std::strtoull(env, nullptr, 10);
      if (v > 0) b = size_t(v);
    }
    return b;
  }();
  return budget;
}

size_t memory_in_use() {
  std::lock_guard<std::mutex> lock(reg().mu);
  return reg().live;
}

bool is_device_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(reg().mu);
  return inside(reg().device, p, bytes);
}

bool is_pinned_range(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(reg().mu);
  return inside(reg().pinned, p, bytes);
}

}  // namespace lfm2_emu

using namespace lfm2_emu;

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return record_error(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  *ptr = nullptr;
  if (cudaError_t e = check_capture_safe("cudaMalloc")) return e;
  if (bytes == 0) return cudaSuccess;
  const size_t rounded = (bytes + kAlign - 1) & ~(kAlign - 1);
  Registry& r = reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    const size_t budget = memory_budget();
    if (rounded > budget - std::min(budget, r.live))
      return record_error(cudaErrorMemoryAllocation,
                          "out of memory: cudaMalloc of " + std::to_string(bytes) + " bytes with " +
                              std::to_string(budget - std::min(budget, r.live)) + " of " + std::to_string(budget) +
                              " bytes free (emulated device; budget set by LFM2_CUDA_EMU_MEMORY)");
    r.live += rounded;
  }
  // Exactly `bytes` (256-byte aligned): under AddressSanitizer a kernel reading past the requested size faults,
  // as compute-sanitizer's memcheck would report it.
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, bytes) != 0) p = nullptr;
  if (!p) {
    std::lock_guard<std::mutex> lock(r.mu);
    r.live -= rounded;
    return record_error(cudaErrorMemoryAllocation, "out of memory: host allocation of " + std::to_string(bytes) +
                                                       " bytes for the emulated device failed");
  }
  if (bytes <= kPoisonLimit) std::memset(p, 0xff, bytes);
  {
    std::lock_guard<std::mutex> lock(r.mu);
    r.device[reinterpret_cast<uintptr_t>(p)] = bytes;
    r.device_rounded[reinterpret_cast<uintptr_t>(p)] = rounded;
  }
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (cudaError_t e = check_capture_safe("cudaFree")) return e;
  Registry& r = reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.device.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == r.device.end())
      return record_error(cudaErrorInvalidValue,
                          "cudaFree(" + ptr_text(ptr) + "): not the start of a live cudaMalloc allocation (double free?)");
    auto rounded = r.device_rounded.find(it->first);
    r.live -= rounded->second;
    r.device_rounded.erase(rounded);
    r.device.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned int /*flags*/) {
  if (!ptr) return record_error(cudaErrorInvalidValue, "cudaHostAlloc: null result pointer");
  *ptr = nullptr;
  if (cudaError_t e = check_capture_safe("cudaHostAlloc")) return e;
  if (bytes == 0) return cudaSuccess;
  const size_t rounded = (bytes + kAlign - 1) & ~(kAlign - 1);
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) return record_error(cudaErrorMemoryAllocation, "out of memory: cudaHostAlloc of " + std::to_string(bytes) + " bytes");
  std::lock_guard<std::mutex> lock(reg().mu);
  reg().pinned[reinterpret_cast<uintptr_t>(p)] = rounded;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  if (cudaError_t e = check_capture_safe("cudaFreeHost")) return e;
  {
    std::lock_guard<std::mutex> lock(reg().mu);
    auto it = reg().pinned.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == reg().pinned.end())
      return record_error(cudaErrorInvalidValue, "cudaFreeHost(" + ptr_text(ptr) + "): not a live pinned allocation");
    reg().pinned.erase(it);
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  const size_t budget = memory_budget(), used = memory_in_use();
  if (free_bytes) *free_bytes = budget - std::min(budget, used);
  if (total_bytes) *total_bytes = budget;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (cudaError_t e = check_stream(stream, "cudaMemcpyAsync")) return e;
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, bytes, kind, capturing(stream))) {
    invalidate_capture(stream, "a cudaMemcpyAsync failed during the capture");
    return e;
  }
  return enqueue(stream, "cudaMemcpyAsync", [=]() -> cudaError_t {
    std::memmove(dst, src, bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (cudaError_t e = check_capture_safe("cudaMemcpy")) return e;
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = check_copy("cudaMemcpy", dst, src, bytes, bytes, kind, false)) return e;
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  if (cudaError_t e = check_stream(stream, "cudaMemcpy2DAsync")) return e;
  if (width > dpitch || width > spitch)
    return record_error(cudaErrorInvalidValue, "cudaMemcpy2DAsync: width " + std::to_string(width) +
                                                   " exceeds a pitch (dpitch " + std::to_string(dpitch) +
                                                   ", spitch " + std::to_string(spitch) + ")");
  if (width == 0 || height == 0) return cudaSuccess;
  const size_t dext = dpitch * (height - 1) + width, sext = spitch * (height - 1) + width;
  if (cudaError_t e = check_copy("cudaMemcpy2DAsync", dst, src, dext, sext, kind, capturing(stream))) {
    invalidate_capture(stream, "a cudaMemcpy2DAsync failed during the capture");
    return e;
  }
  return enqueue(stream, "cudaMemcpy2DAsync", [=]() -> cudaError_t {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
    return cudaSuccess;
  });
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (cudaError_t e = check_stream(stream, "cudaMemsetAsync")) return e;
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(ptr, bytes)) {
    invalidate_capture(stream, "a cudaMemsetAsync failed during the capture");
    return record_error(cudaErrorInvalidValue, "cudaMemsetAsync: [" + ptr_text(ptr) + ", +" + std::to_string(bytes) +
                                                   ") is not inside one live cudaMalloc allocation");
  }
  return enqueue(stream, "cudaMemsetAsync", [=]() -> cudaError_t {
    std::memset(ptr, value, bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (cudaError_t e = check_capture_safe("cudaMemset")) return e;
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(ptr, bytes))
    return record_error(cudaErrorInvalidValue, "cudaMemset: [" + ptr_text(ptr) + ", +" + std::to_string(bytes) +
                                                   ") is not inside one live cudaMalloc allocation");
  std::memset(ptr, value, bytes);
  return cudaSuccess;
}
