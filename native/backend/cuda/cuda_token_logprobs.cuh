#pragma once
// Per-token log-probs and entropies of a packed batch under a CudaModel's own weights (no adapter, no gradient): the
// GPU twin of token_logprobs (model/loss_passes.h) and what CudaTrainer::logprobs gives with the adapter off.
// This header has no CUDA types, so the binding can include it.
#include "backend/cuda/cuda_model.cuh"
#include "model/loss_passes.h"

namespace lfm2::cuda {

// Validates the batch (nothing runs on a bad one); takes the model's lock.
MicroStepResult token_logprobs(CudaModel& model, const TrainBatch& b, float temperature);

}  // namespace lfm2::cuda
