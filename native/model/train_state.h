#pragma once
// Files a trainer reads and writes (docs/architecture.md §6), one implementation for the CPU and the GPU trainer so
// the files are byte-identical and a run can move between the engines.
//
//   Trainer state (resume bit-identically): <dir>/optimizer.safetensors with, per trainable tensor NAME,
//     NAME (FP32 master weights), NAME.exp_avg, NAME.exp_avg_sq; and <dir>/trainer_state.json
//     {"format":"lfm2-rl-trainer","version":1,"mode":"full"|"lora","global_step":N,"extra":"<caller JSON text>"}.
//     "extra" carries the caller's own state (e.g. sampler RNG, data position) through unchanged.
//   HF model: <dir>/model.safetensors, every tensor BF16 under its HF name (conv kernel as [C,1,3], no lm_head when
//     tied); in LoRA mode the adapter is folded in (W + s·B·A in FP32, then rounded). config.json is the caller's.
//   PEFT adapter: <dir>/adapter_model.safetensors with base_model.model.<module>.lora_A.weight [r, in] and
//     .lora_B.weight [out, r] (FP32); adapter_config.json is the caller's.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/lora.h"
#include "model/trainer.h"
#include "model/weights.h"

namespace lfm2 {

// One trainable tensor as the state file sees it: host arrays of `size` floats each.
struct StateArrays {
  std::string name;
  int64_t size = 0;
  float* weight = nullptr;  // FP32 master
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
};

// What the files need from a trainer. The CPU trainer hands out its live host arrays; the GPU trainer stages host
// copies to and from the device. Pointers stay valid while the access object lives unless noted.
class TrainStateAccess {
 public:
  virtual ~TrainStateAccess() = default;
  virtual TrainMode mode() const = 0;
  virtual int64_t step_count() const = 0;
  virtual void set_step_count(int64_t s) = 0;
  // Every trainable tensor in file order, holding its current values.
  virtual std::vector<StateArrays> current_state() = 0;
  // Every trainable tensor in file order, with arrays for a load to fill. They may be the live arrays (CPU), so
  // they are written only after every check has passed; commit_state() then makes them the trainer's state
  // (BF16 copies refreshed, gradients zeroed).
  virtual std::vector<StateArrays> load_buffers() = 0;
  virtual void commit_state() = 0;
  // Host weights: names, shapes, and the values of every tensor live_weight() does not give.
  virtual Lfm2Weights& weights() = 0;
  // FP32 values of `t` when the trainer keeps them away from the host weights (GPU full mode), else nullptr.
  // Valid until the next call.
  virtual const float* live_weight(const WeightTensor& t) = 0;
  // The adapter's layout (rank, scale, modules, merged); nullptr in full mode. A/B values come from parameter().
  virtual const LoraAdapter* lora() = 0;
  // Current FP32 values of the trainable tensor `name`.
  virtual const float* parameter(const std::string& name) = 0;
  // Overwrites trainable tensors (already checked) and zeroes the gradients.
  virtual void set_parameters(const std::vector<std::pair<std::string, std::vector<float>>>& values) = 0;
};

void save_trainer_state(TrainStateAccess& tr, const std::string& dir, const std::string& extra_json);
// Restores weights, moments and step; checks mode and every tensor name/size first (nothing changes on mismatch).
// Returns the "extra" JSON text.
std::string load_trainer_state(TrainStateAccess& tr, const std::string& dir);

void save_hf_model(TrainStateAccess& tr, const std::string& dir);

void save_peft_adapter(TrainStateAccess& tr, const std::string& dir);
// Loads A and B of every adapted module; the file must hold exactly this adapter's modules with matching shapes.
// Gradients are zeroed after the load.
void load_peft_adapter(TrainStateAccess& tr, const std::string& dir);

}  // namespace lfm2
