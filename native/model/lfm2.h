#pragma once
// LFM2 forward pass on the CPU backend, llm.c style (docs/lfm2.md §3). Shapes: C = hidden, H/KVH = query/KV heads,
// D = head_dim, F = FFN width, V = vocab, T = tokens in the call (all chunks packed row after row).
//
// One entry point, Lfm2Model::forward, runs a ragged batch of chunks. Each chunk is a run of new tokens of one
// sequence, either a fresh sequence (state == nullptr: positions from 0, nothing kept) or the continuation of a
// GenerationState (positions continue at state->length; its KV caches and conv shift registers are read and
// extended). Full-sequence forward, prefill, chunked prefill, single-token decode and batched decode of many
// states are all this one call; every linear is one GEMM over all T rows of the call.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/shortconv.h"
#include "model/config.h"
#include "model/weights.h"

namespace lfm2 {

// Incremental-generation state of one sequence.
struct GenerationState {
  int64_t length = 0;                         // tokens consumed so far = position of the next token
  std::vector<std::vector<float>> k_cache;    // [n_attn_layers] × [length, KVH*D] post-norm, post-RoPE keys
  std::vector<std::vector<float>> v_cache;    // [n_attn_layers] × [length, KVH*D]
  std::vector<float> conv_state;              // [n_conv_layers, 2, C]: per conv layer (u_{t-2}, u_{t-1})

  size_t bytes() const;
  // Deep copy whose caches have room for `extra_tokens` more positions, so the first decode steps of a fork do not
  // reallocate (and copy) its whole KV cache.
  std::unique_ptr<GenerationState> fork(int64_t extra_tokens = 256) const;
};

struct SeqChunk {
  const int32_t* tokens = nullptr;  // [n]
  int64_t n = 0;                    // ≥ 1
  GenerationState* state = nullptr; // nullptr = fresh sequence, not kept
};

enum class LogitsMode { None, Last, All };

// Extension point for adapters (LoRA): called after each block linear y = x·Wᵀ (+ residual when fused) with the
// weight it used, so an adapter can add its own term, e.g. y += s·(x·Aᵀ)·Bᵀ. Not called for the LM head.
struct LinearHook {
  virtual ~LinearHook() = default;
  // x: [T, in] (row stride in), y: [T, out] (row stride out); W.shape == {out, in}.
  virtual void after_linear(const WeightTensor& W, const float* x, int64_t T, float* y) const = 0;
};

struct ForwardOptions {
  LogitsMode logits = LogitsMode::Last;
  Precision precision = Precision::Exact;
  // Training mode keeps every layer's activations (see LayerActivations) for a backward pass; inference reuses
  // one set of buffers for all layers.
  bool training = false;
  // Adapter hook (nullptr = the plain base model, e.g. the KL reference with LoRA disabled).
  const LinearHook* linear_hook = nullptr;
};

// Per-layer activations. In training mode every layer has its own; in inference mode all layers share slot 0.
// Pointers index the ForwardActivations arena and are valid until the next forward call.
struct LayerActivations {
  float* x_in = nullptr;      // [T, C] residual stream entering the layer
  float* h = nullptr;         // [T, C] operator_norm output (input of in_proj / q,k,v_proj)
  float* rstd_op = nullptr;   // [T]    operator_norm 1/rms
  // short-conv layers
  float* conv_z = nullptr;    // [T, 3C] in_proj output (B | C | X); u = B⊙X, v = conv(u) are recomputed from it
  float* conv_y = nullptr;    // [T, C]  C ⊙ conv(B⊙X): input of conv.out_proj
  // attention layers
  float* q = nullptr;         // [T, H*D]   q_proj output (before q_layernorm)
  float* k = nullptr;         // [T, KVH*D] k_proj output (before k_layernorm)
  float* v = nullptr;         // [T, KVH*D] v_proj output
  float* q_rstd = nullptr;    // [T, H]     q_layernorm 1/rms per head
  float* k_rstd = nullptr;    // [T, KVH]
  float* q_hat = nullptr;     // [T, H*D]   normed + RoPE queries
  float* k_hat = nullptr;     // [T, KVH*D] normed + RoPE keys
  float* attn_o = nullptr;    // [T, H*D]   attention output (input of out_proj)
  float* attn_lse = nullptr;  // [T, H]     softmax log-sum-exp per row and head (flash-style backward)
  // every layer
  float* r = nullptr;         // [T, C] residual after the operator: x_in + operator output
  float* g = nullptr;         // [T, C] ffn_norm output
  float* rstd_ffn = nullptr;  // [T]
  float* ffn_a = nullptr;     // [T, F] gate pre-activation g·W1ᵀ
  float* ffn_b = nullptr;     // [T, F] up g·W3ᵀ
  float* ffn_act = nullptr;   // [T, F] silu(a) ⊙ b (input of w2)
};

struct ForwardActivations {
  int64_t T = 0;                           // rows in the last call
  std::vector<int64_t> chunk_offset;       // [n_chunks + 1] first row of each chunk
  std::vector<int32_t> positions;          // [T] absolute position of each row
  std::vector<int32_t> tokens;             // [T]
  std::vector<LayerActivations> layers;    // [num_layers] (aliases of slot 0 in inference mode)
  float* x_final = nullptr;                // [T, C] residual stream after the last layer
  float* rstd_final = nullptr;             // [T]
  float* hidden = nullptr;                 // [T, C] final-norm output = input of the LM head (fused GRPO loss input)
  std::vector<int64_t> logit_rows;         // [R] rows of the call whose logits were computed
  float* logits = nullptr;                 // [R, V]
  bool training = false;

  // internals
  std::vector<float> arena;
  std::vector<float> rope_cos, rope_sin;   // [T, D/2]
  std::vector<float> head_in;              // [R, C] gathered hidden rows for the head
  std::vector<AttentionSeq> attn_seqs;     // per-call scratch, kept to avoid allocating in the decode loop
  std::vector<ShortConvSeq> conv_seqs;
  std::vector<const GenerationState*> seen_states;
};

class Lfm2Model {
 public:
  static std::unique_ptr<Lfm2Model> load(const std::string& dir, WeightDTypeChoice dtype);
  Lfm2Model(Lfm2Config cfg, Lfm2Weights w);

  const Lfm2Config& config() const { return cfg_; }
  const Lfm2Weights& weights() const { return w_; }
  Lfm2Weights& weights() { return w_; }

  std::unique_ptr<GenerationState> new_state() const;

  // Runs the chunks; results land in `acts`. Validates every chunk (n ≥ 1, token ids < V, a state at most once,
  // states of this model) before touching any state, so a rejected call leaves states unchanged.
  void forward(const std::vector<SeqChunk>& chunks, ForwardActivations& acts, const ForwardOptions& opts) const;

 private:
  void allocate(ForwardActivations& acts, int64_t T, int64_t R, bool training) const;
  // y[T, out] = beta·y + x[T, in]·Wᵀ, then the adapter hook if any.
  void linear(const WeightTensor& W, const float* x, int64_t T, float* y, float beta, const ForwardOptions& o) const;
  // Several linears of the same input x[T, in] (q/k/v, gate/up) as one gemm_nt_multi call: one thread-pool hand-off
  // per decode step instead of one per weight. Then the adapter hook of each.
  struct LinearOut {
    const WeightTensor* W;
    float* y;  // [T, W->shape[0]]
    float beta;
  };
  void linear_multi(std::initializer_list<LinearOut> outs, const float* x, int64_t T, const ForwardOptions& o) const;
  void conv_layer(int64_t l, const std::vector<SeqChunk>& chunks, ForwardActivations& acts,
                  const LayerActivations& la, const ForwardOptions& o) const;
  void attention_layer(int64_t l, const std::vector<SeqChunk>& chunks, ForwardActivations& acts,
                       const LayerActivations& la, const ForwardOptions& o) const;

  Lfm2Config cfg_;
  Lfm2Weights w_;
};

}  // namespace lfm2
