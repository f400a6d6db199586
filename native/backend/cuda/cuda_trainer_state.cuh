#pragma once
// The files of native/model/train_state.h written and read by the GPU trainer, byte-compatible with the CPU
// trainer's (same tensor names, dtypes, metadata and JSON), so a run can move between the engines:
//   trainer state  <dir>/optimizer.safetensors + <dir>/trainer_state.json
//   HF model       <dir>/model.safetensors (BF16; LoRA folded in as W + s·B·A in FP32, then rounded)
//   PEFT adapter   <dir>/adapter_model.safetensors
// No CUDA types: the binding includes it.
#include <string>

#include "backend/cuda/cuda_trainer.cuh"

namespace lfm2::cuda {

void save_cuda_trainer_state(CudaTrainer& tr, const std::string& dir, const std::string& extra_json);
// Checks mode and every tensor name/size first (nothing changes on mismatch); returns the "extra" JSON text.
std::string load_cuda_trainer_state(CudaTrainer& tr, const std::string& dir);
void save_cuda_hf_model(CudaTrainer& tr, const std::string& dir);
void save_cuda_peft_adapter(CudaTrainer& tr, const std::string& dir);
// The file must hold exactly this adapter's modules with matching shapes; gradients are zeroed after the load.
void load_cuda_peft_adapter(CudaTrainer& tr, const std::string& dir);

}  // namespace lfm2::cuda
