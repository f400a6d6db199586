#pragma once
// GRPO training engine over one Lfm2Model: forward (training mode) → fused GRPO (or sft cross-entropy) loss on the
// completion rows → whole-model backward, accumulated over micro-batches; then one AdamW step with global-norm
// clipping and an LR schedule (docs/grpo.md §4, docs/lfm2.md §4).
//
// Modes
//   Full: every weight is trainable. FP32 master copies (the model's own buffer when it is FP32; a separate copy
//         when it is BF16, whose BF16 bytes are rewritten after each step), FP32 gradients and moments.
//         Norm weights get no weight decay (like HF's decay-parameter rule); the tied embedding gets both the head
//         and the lookup gradient.
//   Lora: only the adapter's A and B are trainable; the base stays as loaded (BF16 or FP32) and doubles as the
//         reference policy (adapter off).
//
// Batch layout and the passes themselves: model/loss_passes.h.
//
// Memory: a pass keeps every layer's activations, or with checkpointing only every layer's input (one layer is
// recomputed at a time in the backward: one extra forward). max_pass_tokens > 0 splits a micro-batch into passes of
// whole sequences of at most that many tokens (a longer sequence gets a pass of its own); the loss normalisers are
// fixed for the whole micro-batch first, so the accumulated gradient is the same as one pass.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/adamw.h"
#include "model/grpo_loss.h"
#include "model/lfm2.h"
#include "model/lfm2_backward.h"
#include "model/lfm2_backward_checkpoint.h"
#include "model/lora.h"
#include "model/loss_passes.h"
#include "model/lr_schedule.h"

namespace lfm2 {

enum class TrainMode { Full, Lora };

struct TrainerOptions {
  TrainMode mode = TrainMode::Lora;
  LoraSpec lora;                  // Lora mode only
  AdamWConfig adamw;              // adamw.lr is ignored: the schedule gives the rate of each step
  LrSchedule schedule;
  Precision precision = Precision::Exact;  // the linears' GEMMs, forward and backward (model/lfm2_backward.h)
  int64_t max_pass_tokens = 0;    // 0 = one pass per micro-batch
  bool checkpointing = false;     // keep only layer inputs; recompute each layer in the backward
};

struct StepResult {
  AdamWResult adamw;
  double lr = 0;
  int64_t step = 0;              // optimizer steps taken after this call
  std::string bad_tensor;        // name of the first tensor with a non-finite gradient ("" if none)
};

// One trainable tensor with its optimizer state.
struct TrainParam {
  std::string name;              // HF weight name, or PEFT key path "<module>.lora_A.weight"
  int64_t size = 0;
  float* weight = nullptr;       // FP32 master
  float* grad = nullptr;         // FP32, accumulated
  uint16_t* bf16 = nullptr;      // the model's BF16 buffer to rewrite after each update, or nullptr
  bool decay = true;
  std::vector<float> exp_avg, exp_avg_sq, master, grad_storage;
};

class Trainer {
 public:
  Trainer(Lfm2Model& model, const TrainerOptions& opt);

  // Throws a clear error (nothing touched) when the batch or loss settings are inconsistent.
  void validate(const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss) const;
  // Forward + loss + backward; gradients accumulate until step().
  MicroStepResult accumulate(const TrainBatch& b, const GrpoLossOptions& lo);
  // Per-token log-probs and entropies of the masked tokens, no gradient. use_adapter = false gives the frozen base
  // (the KL reference) in LoRA mode.
  MicroStepResult logprobs(const TrainBatch& b, bool use_adapter, float temperature);
  // AdamW at lr = schedule(step_count()); zeroes the gradients. A non-finite gradient skips the update (reported).
  StepResult step();
  void zero_grad();

  TrainMode mode() const { return opt_.mode; }
  const TrainerOptions& options() const { return opt_; }
  int64_t step_count() const { return step_; }
  void set_step_count(int64_t s) { step_ = s; }
  std::vector<TrainParam>& params() { return params_; }
  LoraAdapter* lora() { return lora_.get(); }
  Lfm2Model& model() { return model_; }
  int64_t trainable_parameters() const;
  // Copies every master weight into the model's BF16 buffers (after a state load).
  void sync_bf16();

 private:
  PassSettings pass_settings(bool use_adapter) const;

  Lfm2Model& model_;
  TrainerOptions opt_;
  std::unique_ptr<LoraAdapter> lora_;
  std::vector<TrainParam> params_;
  GradMap grads_;
  int64_t step_ = 0;
  ForwardActivations acts_;
  CheckpointedActivations ckpt_;
  BackwardScratch scratch_;
};

}  // namespace lfm2
