// Whether a CUDA device is usable, and the check every GPU entry point makes first.
#include "backend/cuda/common.cuh"
#include "backend/cuda/cuda_api.h"
#include "backend/cuda/cublaslt_loader.cuh"

namespace lfm2::cuda_api {

DeviceStatus device_status() {
  DeviceStatus st;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    st.error = std::string("no usable CUDA device: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    return st;
  }
  if (n == 0) {
    st.error = "no CUDA device present";
    return st;
  }
  st.device_count = n;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    st.name = prop.name;
    st.cc_major = prop.major;
    st.cc_minor = prop.minor;
    st.total_bytes = prop.totalGlobalMem;
  } else {
    cudaGetLastError();
  }
  st.cublaslt = cuda::lt::api(&st.cublaslt_status) != nullptr;
  return st;
}

void require_device() {
  DeviceStatus st = device_status();
  LFM2_CHECK(st.device_count > 0, "device 'cuda' requested but ", st.error);
  LFM2_CHECK(st.cc_major >= 8, "device 'cuda' requires compute capability 8.0+ (BF16 tensor cores); device 0 (",
             st.name, ") is ", st.cc_major, ".", st.cc_minor);
}

}  // namespace lfm2::cuda_api
