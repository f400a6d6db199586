#pragma once
// The GPU engine behind a JS Model loaded with device 'cuda' (cuda_model_engine.cpp); the GPU sampler and trainer
// reach its device model through it. Only meaningful in builds with the CUDA backend (LFM2_WITH_CUDA).
#include <memory>

#include "backend/cuda/cuda_model.cuh"
#include "binding/model_engine.h"
#include "model/lfm2.h"

namespace lfm2::binding {

// The GPU model's data, which the GPU sampler and trainer use directly (its engine is in cuda_model_engine.cpp).
struct CudaModelHandle : ModelEngine {
  std::unique_ptr<Lfm2Model> host;  // config and tensor listing for info(); weights also serve CPU comparisons
  std::unique_ptr<cuda::CudaModel> model;

  bool on_cuda() const override { return true; }
  const Lfm2Model& host_model() const override { return *host; }
};

}  // namespace lfm2::binding
