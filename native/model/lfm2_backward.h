#pragma once
// Whole-model LFM2 backward (lfm2.md §4) over the activations a training-mode forward kept (ForwardActivations with
// training = true, fresh sequences only). It composes the op backwards of backend/cpu/backward with the linears'
// GEMMs, layer by layer from the top:
//   final norm → for l = L−1..0: FFN (w2, SwiGLU, w1/w3, ffn_norm) + residual → operator (conv or attention,
//   operator_norm) + residual → embedding lookup.
// Parameter gradients are accumulated (+=) into the buffers named by a GradMap; a weight without an entry is frozen
// (no weight gradient is computed for it, the activation gradient still flows through it). A LoRA adapter, when
// given, receives dA/dB for its modules and adds its share to every input gradient.
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "model/lfm2.h"
#include "model/lora.h"

namespace lfm2 {

// FP32 gradient buffer of each trainable weight (same element count as the weight).
using GradMap = std::unordered_map<const WeightTensor*, float*>;

// Scratch kept between calls so repeated steps do not reallocate.
struct BackwardScratch {
  std::vector<float> dx, dh, dop;  // [T, C] residual-stream grad, operator-input grad, operator-output grad
  std::vector<float> dwide;        // [T, max(F, 3C)] d(silu(a)⊙b) or dz of the conv in_proj
  std::vector<float> dq, dk, dv;   // [T, H*D], [T, KVH*D] ×2
  std::vector<float> dummy;        // sink for frozen small-parameter gradients
  std::vector<int32_t> cu;         // [nseq + 1]
};

// dhidden: [T, C] gradient of the loss w.r.t. acts.hidden (the final-norm output); read only.
// acts must come from model.forward(..., training = true) with every chunk a fresh sequence; its saved FFN
// activations are overwritten by their gradients (the activations cannot be reused afterwards).
void lfm2_backward(const Lfm2Model& model, ForwardActivations& acts, const float* dhidden, const GradMap& grads,
                   LoraAdapter* lora, BackwardScratch& scratch);

}  // namespace lfm2
