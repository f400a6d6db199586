#pragma once
// Files a Trainer reads and writes (docs/architecture.md §6).
//
//   Trainer state (resume bit-identically): <dir>/optimizer.safetensors with, per trainable tensor NAME,
//     NAME (FP32 master weights), NAME.exp_avg, NAME.exp_avg_sq; and <dir>/trainer_state.json
//     {"format":"lfm2-rl-trainer","version":1,"mode":"full"|"lora","global_step":N,"extra":"<caller JSON text>"}.
//     "extra" carries the caller's own state (e.g. sampler RNG, data position) through unchanged.
//   HF model: <dir>/model.safetensors, every tensor BF16 under its HF name (conv kernel as [C,1,3], no lm_head when
//     tied); in LoRA mode the adapter is folded in (W + s·B·A in FP32, then rounded). config.json is the caller's.
//   PEFT adapter: <dir>/adapter_model.safetensors with base_model.model.<module>.lora_A.weight [r, in] and
//     .lora_B.weight [out, r] (FP32); adapter_config.json is the caller's.
#include <string>

#include "model/trainer.h"

namespace lfm2 {

void save_trainer_state(Trainer& tr, const std::string& dir, const std::string& extra_json);
// Restores weights, moments and step; checks mode and every tensor name/size first (nothing changes on mismatch).
// Returns the "extra" JSON text.
std::string load_trainer_state(Trainer& tr, const std::string& dir);

void save_hf_model(Trainer& tr, const std::string& dir);

void save_peft_adapter(Trainer& tr, const std::string& dir);
// Loads A and B of every adapted module; the file must hold exactly this adapter's modules with matching shapes.
void load_peft_adapter(Trainer& tr, const std::string& dir);

}  // namespace lfm2
