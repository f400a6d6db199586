#pragma once
// Which backend runs a model: the CPU engine (native/model/lfm2.h) or the CUDA engine
// (native/backend/cuda/cuda_model.cuh). Safe to call in any build: without the CUDA backend compiled in, or without
// a usable GPU, "auto" resolves to the CPU and "cuda" is a clear error.
#include <string>

namespace lfm2 {

enum class Device { CPU, CUDA };

struct CudaAvailability {
  bool compiled = false;     // the addon was built with the CUDA backend
  int device_count = 0;      // usable devices (0 without a GPU or driver)
  std::string device_name;   // device 0
  std::string reason;        // why CUDA cannot be used ("" when it can)
  bool cublaslt = false;     // libcublasLt loaded (otherwise the GEMM fallback kernel is used)
};

// Never throws; cudaGetDeviceCount is guarded, so a machine without a driver just reports device_count 0.
CudaAvailability cuda_availability();

// "auto" → CUDA when a usable GPU is present, else CPU; "cpu" → CPU; "cuda" → CUDA or lfm2::Error explaining why
// not (not compiled in / no device / driver problem). Any other name is an error listing the accepted ones.
Device resolve_device(const std::string& name);

const char* device_name(Device d);

}  // namespace lfm2
