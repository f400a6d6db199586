#pragma once
// Plain C++ face of the CUDA backend's device checks (no CUDA types), so host code compiled without nvcc
// (device.cpp) can use them. Implemented in device_status.cu; only linked when the addon is built with
// LFM2_WITH_CUDA. The backend's ops on host arrays are the op table's (backend/backend_ops.h, cuda_ops.cu).
#include <cstddef>
#include <string>

namespace lfm2::cuda_api {

struct DeviceStatus {
  int device_count = 0;      // 0 when there is no GPU, no driver, or the runtime failed
  std::string error;         // why device_count is 0 ("" when a device is present)
  std::string name;          // device 0
  int cc_major = 0, cc_minor = 0;
  size_t total_bytes = 0;
  bool cublaslt = false;     // libcublasLt could be loaded
  std::string cublaslt_status;
};

// Never throws: a missing driver is reported in `error`.
DeviceStatus device_status();
// Throws lfm2::Error with a clear message when no CUDA device can be used.
void require_device();

}  // namespace lfm2::cuda_api
