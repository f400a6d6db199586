#pragma once
// Whole-model LFM2 backward on the GPU (docs/lfm2.md §4), the device twin of native/model/lfm2_backward.h over the
// activations of train_forward (fresh sequences): final norm → for l = L−1..0: FFN (w2, SwiGLU, w1/w3, ffn_norm)
// + residual → operator (conv or attention, operator_norm) + residual → embedding lookup.
// Every linear's gradients are two GEMMs with BF16 inputs and FP32 accumulation: dX = dY·W and dW += dYᵀ·X (X the
// BF16 input the forward used). Parameter gradients accumulate (+=) into the buffers of CudaGrads; a null buffer
// means frozen (no weight gradient; the activation gradient still flows). A LoRA adapter gets dA/dB of its modules
// and adds its share to every input gradient.
#include <vector>

#include "backend/cuda/cuda_lora.cuh"
#include "backend/cuda/cuda_train_forward.cuh"

namespace lfm2::cuda {

// FP32 device gradient of each base tensor (same element count), nullptr = frozen.
struct CudaGrads {
  struct Layer {
    float *op_norm = nullptr, *ffn_norm = nullptr;
    float *conv_in = nullptr, *conv_out = nullptr, *conv_kernel = nullptr;
    float *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr, *q_norm = nullptr, *k_norm = nullptr;
    float *w1 = nullptr, *w3 = nullptr, *w2 = nullptr;
  };
  float* embed = nullptr;       // lookup gradient (and the head gradient when tied, added by the loss)
  float* final_norm = nullptr;
  std::vector<Layer> layers;    // [num_layers] (may be empty when everything is frozen)
};

// dhidden: [T, C] gradient of the loss w.r.t. the final-norm output (read only). A checkpointed forward has each
// layer recomputed here (train_layer_acts) just before its backward.
void train_backward(CudaModel::Impl& m, TrainForward& f, const float* dhidden, const CudaGrads& grads,
                    CudaLora* lora, Arena& arena);

}  // namespace lfm2::cuda
