#pragma once
// The GPU side of the JS Trainer class: Trainer.create(model, opts) (trainer.cpp) hands a CudaModel to
// create_cuda_trainer, which builds lfm2::cuda::CudaTrainer (native/backend/cuda/cuda_trainer.cuh) on the model's
// device weights and returns a JS object with the same methods as the CPU Trainer.
#include <napi.h>

#include <memory>

#include "model/trainer.h"

namespace lfm2::binding {

// True when `v` is a JS CudaModel (cuda.cpp); always false in a build without the CUDA backend.
bool is_cuda_model(Napi::Env env, Napi::Value v);

// Promise<Trainer-like object> (cuda_trainer.cpp). Options already parsed and checked by Trainer.create.
Napi::Value create_cuda_trainer(Napi::Env env, Napi::Value cuda_model, const TrainerOptions& opts);

}  // namespace lfm2::binding
