#pragma once
// A packed batch through the GPU model for the training losses: the device twin of run_loss_passes
// (model/loss_passes.h). Forward passes over whole sequences, the fused loss (grpo_loss.cuh) on the completion rows
// and optionally the backward; shared by CudaTrainer (accumulate, logprobs) and the model's own token log-probs
// (cuda_token_logprobs.cuh), so both give the same numbers for the same weights. Only .cu files include this.
#include <cstdint>

#include "backend/cuda/cuda_backward.cuh"
#include "backend/cuda/cuda_lora.cuh"
#include "backend/cuda/cuda_model_impl.cuh"
#include "backend/cuda/memory.cuh"
#include "model/loss_passes.h"

namespace lfm2::cuda {

// The checks a GPU pass adds to validate_train_batch: 32-bit row indices and sequences within the position range.
void validate_device_batch(const Lfm2Config& cfg, const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss);

// Where a backward pass puts its gradients; absent = log-probs and statistics only.
struct CudaPassBackward {
  const CudaGrads& grads;
  CudaLora* lora;       // receives dA/dB (Lora mode), else nullptr
  float* dhead;         // gradient of the LM head, or nullptr when frozen
  bool checkpointing;
};

// Runs the (validated) batch in passes of at most max_pass_tokens tokens (0 = one pass), with `adapter` applied in
// the forward (nullptr = the plain weights). The caller holds the model's lock; `arena` is reset per pass.
void run_device_loss_passes(CudaModel::Impl& m, const TrainBatch& b, const GrpoLossOptions& lo,
                            int64_t max_pass_tokens, const CudaLora* adapter, Arena& arena,
                            const CudaPassBackward* backward, MicroStepResult& res);

}  // namespace lfm2::cuda
