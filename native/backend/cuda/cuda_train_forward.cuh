#pragma once
// Training-mode forward of the GPU engine over fresh packed sequences (positions 0.. in every sequence): the same
// math as CudaModel::forward (docs/lfm2.md §3; BF16 GEMM inputs, FP32 everything else) keeping on the device every
// activation the backward (cuda_backward.cuh) reads. All buffers come from the caller's arena and stay valid until
// its next reset().
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/cuda_lora.cuh"
#include "backend/cuda/cuda_model_impl.cuh"

namespace lfm2::cuda {

struct TrainLayerActs {
  float* x_in = nullptr;          // [T, C] residual stream entering the layer
  float* rstd_op = nullptr;       // [T] operator_norm 1/rms
  __nv_bfloat16* h_bf = nullptr;  // [T, C] operator_norm output as read by in_proj / q,k,v_proj
  // short-conv layers
  float* z = nullptr;             // [T, 3C] in_proj output (B | C | X)
  __nv_bfloat16* y_bf = nullptr;  // [T, C] conv output as read by out_proj
  // attention layers
  float* q_pre = nullptr;         // [T, H·D] q_proj output (before q_norm)
  float* k_pre = nullptr;         // [T, KVH·D]
  float* rstd_q = nullptr;        // [T·H]
  float* rstd_k = nullptr;        // [T·KVH]
  float* q_hat = nullptr;         // [T, H·D] after norm and RoPE
  float* k_hat = nullptr;         // [T, KVH·D]
  float* v = nullptr;             // [T, KVH·D]
  float* o = nullptr;             // [T, H·D] attention output (FP32; out_proj reads its BF16 rounding)
  float* lse = nullptr;           // [T, H]
  // every layer
  float* r = nullptr;             // [T, C] residual after the operator (ffn_norm input)
  float* rstd_ffn = nullptr;      // [T]
  __nv_bfloat16* g_bf = nullptr;  // [T, C] ffn_norm output as read by w1 / w3
  float* a = nullptr;             // [T, F] w1 output (gate)
  float* b = nullptr;             // [T, F] w3 output (up)
};

struct TrainForward {
  int64_t T = 0, nseq = 0;
  std::vector<int32_t> row0;      // [nseq + 1] host
  int32_t* d_tokens = nullptr;    // [T]
  int32_t* d_pos = nullptr;       // [T]
  int32_t* d_row0 = nullptr;      // [nseq + 1]
  int32_t* d_pos0 = nullptr;      // [nseq] zeros (fresh sequences)
  int32_t* d_row_seq = nullptr;   // [T]
  float* const* d_kv_ptrs = nullptr;  // per attention layer: [nseq] k, [nseq] v row pointers into k_hat, v
  // Kept activations of every layer; with checkpointing every entry shares one set of buffers (only x_in is the
  // layer's own) and train_layer_acts recomputes a layer into them on demand.
  std::vector<TrainLayerActs> layers;
  bool checkpointed = false;
  const CudaLora* lora = nullptr; // the adapter the forward ran with (a recompute uses it too)
  float* x_final = nullptr;       // [T, C] residual stream before the final norm
  float* rstd_final = nullptr;    // [T]
  float* hidden = nullptr;        // [T, C] final-norm output
  // Scratch of the layer forward: [T, C] norm output, [T, max(C, H·D)] conv out, BF16 [T, max(F, H·D)], [T, F] act,
  // and the [T, C] sink of a recompute's residual output.
  float* s_h = nullptr;
  float* s_y = nullptr;
  __nv_bfloat16* s_wide_bf = nullptr;
  float* s_act = nullptr;
  float* s_x_next = nullptr;

  // The attention batch of attention layer `ai` (its K/V rows are this pass's k_hat, v): the forward and the backward
  // of that layer read the same one.
  AttentionBatch attention_batch(const Lfm2Config& c, int64_t ai) const {
    AttentionBatch b;
    b.T = T, b.nseq = nseq, b.H = c.num_heads, b.KVH = c.num_kv_heads, b.D = c.head_dim;
    b.scale = float(1.0 / std::sqrt(double(c.head_dim)));
    b.q_row0 = d_row0, b.q_pos0 = d_pos0, b.row_seq = d_row_seq;
    b.k = d_kv_ptrs + ai * 2 * nseq;
    b.v = d_kv_ptrs + ai * 2 * nseq + nseq;
    return b;
  }
};

// The linear y [T, out] = beta·y + x·Wᵀ (+ the adapter's term when `lora` adapts (layer, kind)).
void train_linear(CudaModel::Impl& m, const DeviceBuffer& W, const __nv_bfloat16* x, int64_t T, int64_t out,
                  int64_t in, float* y, float beta, int64_t layer, LinearKind kind, const CudaLora* lora,
                  Arena& arena);

// tokens: [T] host (validated by the caller); seq_len: [nseq] host, each ≥ 1. lora = nullptr: base model.
// checkpointed: keep only each layer's input (one layer's activations at a time; ~1 extra forward in the backward).
void train_forward(CudaModel::Impl& m, const int32_t* tokens, const std::vector<int64_t>& seq_len,
                   const CudaLora* lora, bool checkpointed, Arena& arena, TrainForward& f);

// The activations of layer l for the backward: the kept ones, or (checkpointed) recomputed from the layer's input
// into the shared buffers, valid until the next call.
const TrainLayerActs& train_layer_acts(CudaModel::Impl& m, TrainForward& f, int64_t l, Arena& arena);

}  // namespace lfm2::cuda
