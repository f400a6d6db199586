#pragma once
// CUDA emulation prelude, force-included (-include) into every .cu file of the emulation build
// (build/Release/lfm2_rl_emu.node, CMake option LFM2_CUDA_EMULATION). With include/ first on the include path, the
// same sources that nvcc compiles for the GPU compile as plain C++ and run their kernels on the CPU with CUDA
// semantics (block barriers, warp collectives, launch limits, stream capture), for testing without a GPU.
//   include/cuda_runtime.h    runtime API (the emulated list is at its top)
//   include/cuda_emu_device.h device language: keywords, thread indices, barriers, shuffles, atomics, intrinsics
//   include/cuda_bf16.h       __nv_bfloat16
//   include/cuda_emu_launch.h launches
// The runtime lives in native/backend/cuda_emu/*.cpp.
#include "cuda_bf16.h"
#include "cuda_emu_launch.h"
#include "cuda_runtime.h"

#define LFM2_CUDA_EMULATION_ACTIVE 1

// Replaces common.cuh's <<<>>> launch: same checks (CUDA_CHECK_LAUNCH reads the launch's error).
#define LFM2_LAUNCH(kernel, grid, block, smem, stream, ...)                                                   \
  do {                                                                                                        \
    ::lfm2_emu::launch(#kernel, kernel, dim3(grid), dim3(block), size_t(smem), (stream), ##__VA_ARGS__);      \
    CUDA_CHECK_LAUNCH();                                                                                      \
  } while (0)
