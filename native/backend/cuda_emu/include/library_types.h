#pragma once
// CUDA emulation (see native/backend/cuda_emu/prelude.h): the data-type enum of the real <library_types.h>, with the
// real values (cublaslt_loader.cuh passes them through to cuBLASLt, which is never loaded in emulation).

typedef enum cudaDataType_t {
  CUDA_R_16F = 2,
  CUDA_R_32F = 0,
  CUDA_R_64F = 1,
  CUDA_R_8I = 3,
  CUDA_R_32I = 10,
  CUDA_R_16BF = 14,
} cudaDataType;
