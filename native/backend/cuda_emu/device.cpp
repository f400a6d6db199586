// The one emulated device: "CUDA emulator (CPU)", compute capability 9.0, 132 SMs, warp size 32, and the memory
// budget of memory.cpp.
#include <cstdio>
#include <cstring>

#include "runtime.h"

using namespace lfm2_emu;

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return record_error(cudaErrorInvalidValue, "cudaGetDeviceCount: null result pointer");
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return record_error(cudaErrorInvalidValue, "cudaGetDevice: null result pointer");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0)
    return record_error(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + "): the emulator has one device, 0");
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return record_error(cudaErrorInvalidValue, "cudaGetDeviceProperties: null result pointer");
  if (device != 0)
    return record_error(cudaErrorInvalidDevice, "cudaGetDeviceProperties(" + std::to_string(device) + "): the emulator has one device, 0");
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "%s", "CUDA emulator (CPU)");
  p->totalGlobalMem = memory_budget();
  p->sharedMemPerBlock = 48 << 10;
  p->sharedMemPerBlockOptin = 227 << 10;
  p->sharedMemPerMultiprocessor = 228 << 10;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->maxThreadsPerMultiProcessor = 2048;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  p->l2CacheSize = 50 << 20;
  p->memoryBusWidth = 5120;
  p->totalConstMem = 64 << 10;
  p->concurrentKernels = 1;
  p->integrated = 0;
  return cudaSuccess;
}
