#pragma once
// Whole-model LFM2 backward (docs/lfm2.md §4) over the activations a training-mode forward kept (ForwardActivations with
// training = true, fresh sequences only). It composes the op backwards of backend/cpu/backward with the linears'
// GEMMs, layer by layer from the top:
//   final norm → for l = L−1..0: FFN (w2, SwiGLU, w1/w3, ffn_norm) + residual → operator (conv or attention,
//   operator_norm) + residual → embedding lookup.
// Parameter gradients are accumulated (+=) into the buffers named by a GradMap; a weight without an entry is frozen
// (no weight gradient is computed for it, the activation gradient still flows through it). A LoRA adapter, when
// given, receives dA/dB for its modules and adds its share to every input gradient.
#include <cstdint>
#include <functional>
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

// What the backward reads of a forward: rows, tokens, positions, the last residual stream and, per layer, that
// layer's saved activations (kept from the forward, or recomputed on demand by activation checkpointing).
struct BackwardView {
  int64_t T = 0;
  const std::vector<int64_t>* chunk_offset = nullptr;  // [nseq + 1]
  const int32_t* tokens = nullptr;                     // [T]
  const int32_t* positions = nullptr;                  // [T] (0-based in every sequence)
  const float* x_final = nullptr;                      // [T, C]
  // Activations of layer l; called once per layer from the top layer down. The FFN buffers a, b are overwritten.
  std::function<const LayerActivations&(int64_t l)> layer;
};

// dhidden: [T, C] gradient of the loss w.r.t. the final-norm output; read only. precision: that of the linears'
// gradient products (Fast rounds both operands to BF16 where the CPU has AVX512_BF16, as mixed-precision training
// does; Exact keeps them FP32). Everything else (norms, attention, convolution, LoRA factors) is FP32 in both.
void lfm2_backward(const Lfm2Model& model, const BackwardView& view, const float* dhidden, const GradMap& grads,
                   LoraAdapter* lora, Precision precision, BackwardScratch& scratch);

// The view of a training-mode forward (model.forward(..., training = true), fresh sequences only); its saved FFN
// activations are overwritten by their gradients (the activations cannot be reused afterwards).
BackwardView backward_view(ForwardActivations& acts);

}  // namespace lfm2
