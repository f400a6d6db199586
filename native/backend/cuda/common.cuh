#pragma once
// CUDA error policy (docs/architecture.md §7): every runtime and cuBLASLt call is checked, and a failure THROWS lfm2::Error
// naming the statement, the file:line, the error string and the current device. Nothing here exits or aborts, so
// the binding turns a GPU failure into a JS exception like any other error.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/error.h"

namespace lfm2::cuda {

inline int current_device_or_minus_one() {
  int d = -1;
  if (cudaGetDevice(&d) != cudaSuccess) d = -1;
  return d;
}

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const char* stmt, const char* file, int line) {
  cudaGetLastError();  // clear the sticky non-fatal error so later calls are not blamed for it
  lfm2::fail("CUDA error ", int(e), " (", cudaGetErrorName(e), ": ", cudaGetErrorString(e), ") in `", stmt, "` at ",
             file, ":", line, " on device ", current_device_or_minus_one());
}

[[noreturn]] inline void throw_cublas_error(int status, const char* stmt, const char* file, int line) {
  lfm2::fail("cuBLASLt error status ", status, " in `", stmt, "` at ", file, ":", line, " on device ",
             current_device_or_minus_one());
}

// Grid size for n elements at `block` threads each (at least 1 block so launches with n == 0 are never issued:
// callers return early on empty work).
inline unsigned blocks_for(int64_t n, int block) { return unsigned((n + block - 1) / block); }

}  // namespace lfm2::cuda

#define CUDA_CHECK(stmt)                                                               \
  do {                                                                                 \
    cudaError_t lfm2_cuda_err_ = (stmt);                                               \
    if (lfm2_cuda_err_ != cudaSuccess)                                                 \
      ::lfm2::cuda::throw_cuda_error(lfm2_cuda_err_, #stmt, __FILE__, __LINE__);       \
  } while (0)

// Kernel launches report configuration errors through cudaGetLastError; call right after every <<<...>>>.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

// Every kernel launch goes through this macro: it checks the launch, and it is the one place the CPU emulation
// build (LFM2_CUDA_EMULATION) swaps the <<<>>> syntax for its own launcher.
#ifndef LFM2_LAUNCH
#define LFM2_LAUNCH(kernel, grid, block, smem, stream, ...)  \
  do {                                                       \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__); \
    CUDA_CHECK_LAUNCH();                                     \
  } while (0)
#endif

#define CUBLAS_CHECK(stmt)                                                             \
  do {                                                                                 \
    int lfm2_cublas_status_ = int(stmt);                                               \
    if (lfm2_cublas_status_ != 0)                                                      \
      ::lfm2::cuda::throw_cublas_error(lfm2_cublas_status_, #stmt, __FILE__, __LINE__); \
  } while (0)
