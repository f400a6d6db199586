#pragma once
// GRPO training engine on the GPU: the device twin of lfm2::Trainer (native/model/trainer.h) with the same options,
// batch layout, loss and optimizer semantics, over the weights of a CudaModel (shared: no second copy). Only token
// ids, masks, advantages and old/ref log-probs go in; log-probs, entropies and loss statistics come out.
//
//   accumulate: training forward (cuda_train_forward.cuh) → fused GRPO loss on the completion rows
//               (grpo_loss.cuh) → whole-model backward (cuda_backward.cuh); gradients add up until step().
//   logprobs:   forward + loss rows without gradients; adapter off = the frozen base (the KL reference).
//   step:       global-norm clipping, non-finite guard naming the first bad tensor, fused AdamW (adamw.cuh) at
//               lr = schedule(step) (lr_schedule.h), gradients zeroed.
//
// Modes
//   Lora: the adapter (cuda_lora.cuh) is the only trainable state; the shared base doubles as the reference policy.
//         While the trainer exists it is installed on the CudaModel, so generation samples from the current policy
//         (the most recently created LoRA trainer of a model is the installed one; destroying it uninstalls it).
//   Full: every weight trains. FP32 masters of the BF16 matrices, FP32 gradients and moments live on the device;
//         the AdamW kernel rewrites the model's BF16 matrices in place after each update. Norm weights and conv
//         kernels are FP32 on the device, so they are their own masters. Norms get no weight decay (HF rule).
//
// Numerics: every GEMM (forward, input gradients dX = dY·W, weight gradients dW += dYᵀ·X, LoRA, LM head) reads BF16
// inputs (activations and gradients rounded to BF16 at each GEMM input; LoRA A/B rounded from their FP32 masters)
// and accumulates in FP32; norms, RoPE, conv, attention, softmax, the loss and the optimizer are FP32.
//
// Memory: a pass keeps every layer's activations on the device, or with checkpointing only every layer's input (one
// layer is recomputed at a time in the backward: one extra forward); max_pass_tokens splits a micro-batch into
// passes of whole sequences exactly like the CPU trainer.
//
// Differences from the CPU trainer: `precision` is ignored (the GPU always rounds GEMM inputs to BF16, i.e. the
// CPU's 'fast'); merge/unmerge are not offered (generation applies the adapter without merging;
// save_hf_model folds it into the exported weights).
//
// This header has no CUDA types, so the binding (host C++) can include it.
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_model.cuh"
#include "model/trainer.h"

namespace lfm2::cuda {

class CudaTrainer {
 public:
  // `host` is the host copy `model` was uploaded from: tensor names, LoRA module matching/initialisation (the CPU
  // LoraAdapter, so a spec selects the same modules and initial A on both engines) and FP32 masters of F32 files.
  // Both must outlive the trainer.
  CudaTrainer(CudaModel& model, Lfm2Model& host, const TrainerOptions& opt);
  ~CudaTrainer();
  CudaTrainer(const CudaTrainer&) = delete;
  CudaTrainer& operator=(const CudaTrainer&) = delete;

  // Same checks and messages as Trainer::validate; throws with nothing touched.
  void validate(const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss) const;
  MicroStepResult accumulate(const TrainBatch& b, const GrpoLossOptions& lo);
  MicroStepResult logprobs(const TrainBatch& b, bool use_adapter, float temperature);
  StepResult step();
  void zero_grad();

  TrainMode mode() const;
  const TrainerOptions& options() const;
  int64_t step_count() const;
  void set_step_count(int64_t s);
  int64_t trainable_parameters() const;
  // The host adapter that chose the modules (rank, scale, paths); nullptr in Full mode. Its A/B are the initial
  // values only: the live ones are on the device (parameter()).
  const LoraAdapter* lora_layout() const;
  Lfm2Model& host();

  // Trainable tensors in the CPU trainer's order and naming (HF names; PEFT "<module>.lora_A.weight" keys).
  std::vector<std::string> parameter_names() const;
  std::vector<int64_t> parameter_sizes() const;  // element counts, same order
  std::vector<float> parameter(const std::string& name) const;  // FP32 master, copied to the host
  std::vector<float> gradient(const std::string& name) const;
  // Overwrites a master (and the BF16 copy the GEMMs read); the optimizer state is kept.
  void set_parameter(const std::string& name, const std::vector<float>& data);

  // Host copies of every trainable tensor's master and moments (checkpoint files, model/train_state.h), in
  // parameter order.
  struct HostParam {
    std::string name;
    std::vector<float> weight, exp_avg, exp_avg_sq;
  };
  std::vector<HostParam> export_state() const;
  // Checks names and sizes first (nothing changes on a mismatch), then uploads, refreshes BF16 copies, zeroes grads.
  void import_state(const std::vector<HostParam>& ps);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lfm2::cuda
