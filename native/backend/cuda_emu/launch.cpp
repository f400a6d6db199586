// Kernel launches of the emulated runtime: the configuration is checked against the limits of a compute
// capability 9.0 device (as the real launch does, before anything runs), then the grid runs or is recorded.
#include <map>
#include <mutex>
#include <string>

#include "runtime.h"

namespace lfm2_emu {
namespace {

constexpr size_t kDefaultDynamicSmem = 48 << 10;  // without cudaFuncAttributeMaxDynamicSharedMemorySize
constexpr size_t kMaxSmemOptin = 227 << 10;        // sm_90 per-block opt-in limit

struct FuncAttrs {
  std::mutex mu;
  std::map<const void*, size_t> max_dynamic_smem;
};
FuncAttrs& attrs() {
  static FuncAttrs a;
  return a;
}

std::string dims(dim3 d) {
  return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}

cudaError_t check_launch(const char* name, const void* func, dim3 grid, dim3 block, size_t dynamic_smem,
                         cudaStream_t stream) {
  const std::string where = std::string("kernel `") + name + "` <<<" + dims(grid) + ", " + dims(block) + ", " +
                            std::to_string(dynamic_smem) + ">>>";
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || block.x == 0 || block.y == 0 || block.z == 0)
    return record_error(cudaErrorInvalidConfiguration, where + ": invalid configuration argument (a zero dimension)");
  if (block.x > 1024 || block.y > 1024 || block.z > 64 || uint64_t(block.x) * block.y * block.z > 1024)
    return record_error(cudaErrorInvalidConfiguration,
                        where + ": invalid configuration argument (at most 1024 threads per block, block dims ≤ "
                                "(1024,1024,64))");
  if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    return record_error(cudaErrorInvalidConfiguration,
                        where + ": invalid configuration argument (grid dims ≤ (2^31-1,65535,65535))");
  size_t limit = kDefaultDynamicSmem;
  {
    std::lock_guard<std::mutex> lock(attrs().mu);
    auto it = attrs().max_dynamic_smem.find(func);
    if (it != attrs().max_dynamic_smem.end()) limit = it->second;
  }
  if (dynamic_smem > limit)
    return record_error(cudaErrorInvalidValue,
                        where + ": " + std::to_string(dynamic_smem) + " bytes of dynamic shared memory exceed the " +
                            std::to_string(limit) + "-byte limit (raise it with cudaFuncSetAttribute("
                            "cudaFuncAttributeMaxDynamicSharedMemorySize), at most " + std::to_string(kMaxSmemOptin) + ")");
  return check_stream(stream, name);
}

}  // namespace

cudaError_t func_set_attribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: null function");
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || size_t(value) > kMaxSmemOptin)
      return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: MaxDynamicSharedMemorySize " +
                                                     std::to_string(value) + " outside [0, " +
                                                     std::to_string(kMaxSmemOptin) + "]");
    std::lock_guard<std::mutex> lock(attrs().mu);
    attrs().max_dynamic_smem[func] = size_t(value);
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;  // a hint
  return record_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: attribute " + std::to_string(int(attr)) +
                                                 " is not emulated");
}

cudaError_t launch_kernel(const char* name, const void* func, dim3 grid, dim3 block, size_t dynamic_smem,
                          cudaStream_t stream, std::shared_ptr<const KernelCall> call) {
  if (cudaError_t e = check_launch(name, func, grid, block, dynamic_smem, stream)) {
    invalidate_capture(stream, std::string("a launch of ") + name + " failed during the capture");
    return e;
  }
  const std::string label = std::string("kernel ") + name;
  return enqueue(stream, label.c_str(), [name, grid, block, dynamic_smem, call]() -> cudaError_t {
    std::string err;
    const cudaError_t e = run_grid(name, grid, block, dynamic_smem, *call, err);
    return e == cudaSuccess ? e : record_error(e, err);
  });
}

}  // namespace lfm2_emu
