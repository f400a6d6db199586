#pragma once
// What other binding files (the GPU sampler) need to reach the native object behind a JS CudaModel (cuda.cpp).
// Only meaningful in builds with the CUDA backend (LFM2_WITH_CUDA).
#include <napi.h>

#include <memory>
#include <string>

#include "backend/cuda/cuda_model.cuh"
#include "model/lfm2.h"

namespace lfm2::binding {

struct CudaModelHandle {
  std::unique_ptr<Lfm2Model> host;  // config and tensor listing for info(); weights also serve CPU comparisons
  std::unique_ptr<cuda::CudaModel> model;
};

// The model behind a JS CudaModel object; throws a JS TypeError naming `what` if `v` is not one.
std::shared_ptr<CudaModelHandle> unwrap_cuda_model(Napi::Env env, Napi::Value v, const std::string& what);

}  // namespace lfm2::binding
