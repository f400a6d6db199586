#include "model/lfm2_backward.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/backward/attention_backward.h"
#include "backend/cpu/backward/embedding_backward.h"
#include "backend/cpu/backward/rmsnorm_backward.h"
#include "backend/cpu/backward/rope_backward.h"
#include "backend/cpu/backward/shortconv_backward.h"
#include "backend/cpu/backward/swiglu_backward.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

struct Ctx {
  const GradMap& grads;
  LoraAdapter* lora;
  int64_t T;
  Precision precision;  // of the linears' input- and weight-gradient products (the LoRA factors stay FP32)
  float* grad(const WeightTensor& W) const {
    auto it = grads.find(&W);
    return it == grads.end() ? nullptr : it->second;
  }
};

// Backward of y = x·Wᵀ (+ the adapter term): dx (=, or += when accumulate) = dy·W (+ adapter share);
// dW += dyᵀ·x when W is trainable.
void linear_backward(const Ctx& c, const WeightTensor& W, const float* x, const float* dy, float* dx,
                     bool accumulate) {
  const int64_t out = W.shape[0], in = W.shape[1], T = c.T;
  gemm_nn(T, in, out, dy, out, W.data(), W.dtype, in, dx, in, accumulate ? 1.f : 0.f, c.precision);  // [T, in]
  if (float* dW = c.grad(W)) gemm_tn(out, in, T, dy, out, x, in, dW, in, 1.f, c.precision);       // [out, in]
  if (c.lora)
    if (const LoraModule* m = c.lora->find(W)) c.lora->backward(*m, x, dy, T, dx);
}

void add_into(float* dst, const float* src, int64_t n) {
  parallel_for(n, [&](int64_t a, int64_t b, int) {
    for (int64_t i = a; i < b; ++i) dst[i] += src[i];
  }, 1 << 14);
}

}  // namespace

BackwardView backward_view(ForwardActivations& acts) {
  LFM2_CHECK(acts.training, "backward needs the activations of a training-mode forward");
  BackwardView v;
  v.T = acts.T;
  v.chunk_offset = &acts.chunk_offset;
  v.tokens = acts.tokens.data();
  v.positions = acts.positions.data();
  v.x_final = acts.x_final;
  ForwardActivations* a = &acts;
  v.layer = [a](int64_t l) -> const LayerActivations& { return a->layers[size_t(l)]; };
  return v;
}

void lfm2_backward(const Lfm2Model& model, const BackwardView& view, const float* dhidden, const GradMap& grads,
                   LoraAdapter* lora, Precision precision, BackwardScratch& s) {
  const Lfm2Config& cfg = model.config();
  const Lfm2Weights& w = model.weights();
  const std::vector<int64_t>& chunk_offset = *view.chunk_offset;
  const int64_t T = view.T, C = cfg.hidden_size, F = cfg.ff_dim, H = cfg.num_heads, KVH = cfg.num_kv_heads,
                D = cfg.head_dim, HD = H * D, KVD = KVH * D, V = cfg.vocab_size;
  const float eps = float(cfg.norm_eps);
  const int64_t nseq = int64_t(chunk_offset.size()) - 1;
  s.cu.resize(size_t(nseq + 1));
  for (int64_t i = 0; i <= nseq; ++i) s.cu[size_t(i)] = int32_t(chunk_offset[size_t(i)]);
  for (int64_t i = 0; i < nseq; ++i)
    for (int64_t r = chunk_offset[size_t(i)]; r < chunk_offset[size_t(i + 1)]; ++r)
      LFM2_CHECK(view.positions[r] == r - chunk_offset[size_t(i)], "backward: sequence ", i,
                 " does not start at position 0 (training runs on fresh sequences only)");
  s.dx.resize(size_t(T * C));
  s.dh.resize(size_t(T * C));
  s.dop.resize(size_t(T * std::max(C, HD)));
  s.dwide.resize(size_t(T * std::max(F, 3 * C)));
  s.dq.resize(size_t(T * HD));
  s.dk.resize(size_t(T * KVD));
  s.dv.resize(size_t(T * KVD));
  s.dummy.assign(size_t(std::max({C, D, 3 * C})), 0.f);
  const Ctx c{grads, lora, T, precision};
  auto small_grad = [&](const WeightTensor& W) {
    float* g = c.grad(W);
    return g ? g : s.dummy.data();
  };
  float* dx = s.dx.data();

  // x_out = RMSNorm(x_final; final_norm)
  cpu::rmsnorm_backward(T, C, view.x_final, w.final_norm.f32(), dhidden, eps, dx, small_grad(w.final_norm));

  for (int64_t l = cfg.num_layers - 1; l >= 0; --l) {
    const LayerActivations& la = view.layer(l);
    const Lfm2LayerWeights& L = w.layers[size_t(l)];
    // ---- FFN: x_next = r + (silu(a) ⊙ b)·W2ᵀ, a = g·W1ᵀ, b = g·W3ᵀ, g = RMSNorm(r; ffn_norm)
    float* dact = s.dwide.data();  // [T, F]
    linear_backward(c, L.w2, la.ffn_act, dx, dact, false);
    cpu::swiglu_backward(T, F, la.ffn_a, la.ffn_b, F, dact, F, la.ffn_a, la.ffn_b);  // da, db over a, b
    float* dg = s.dh.data();
    linear_backward(c, L.w1, la.g, la.ffn_a, dg, false);
    linear_backward(c, L.w3, la.g, la.ffn_b, dg, true);
    cpu::rmsnorm_backward(T, C, la.r, L.ffn_norm.f32(), dg, eps, dg, small_grad(L.ffn_norm));
    add_into(dx, dg, T * C);  // dx = dr
    // ---- operator: r = x_in + Op(h), h = RMSNorm(x_in; operator_norm)
    float* dh = s.dh.data();
    if (L.is_attention) {
      float* dO = s.dop.data();  // [T, H*D] (HD == C)
      linear_backward(c, L.out_proj, la.attn_o, dx, dO, false);
      cpu::AttentionShape sh{T, H, KVH, D, 1.0f / std::sqrt(float(D))};
      cpu::attention_backward(sh, nseq, s.cu.data(), la.q_hat, la.k_hat, la.v, la.attn_o, la.attn_lse, dO,
                              s.dq.data(), s.dk.data(), s.dv.data());
      cpu::rope_backward(T, H, D, view.positions, cfg.rope_theta, s.dq.data(), s.dq.data());
      cpu::rope_backward(T, KVH, D, view.positions, cfg.rope_theta, s.dk.data(), s.dk.data());
      cpu::rmsnorm_heads_backward(T, H, D, la.q, L.q_norm.f32(), s.dq.data(), eps, s.dq.data(), small_grad(L.q_norm));
      cpu::rmsnorm_heads_backward(T, KVH, D, la.k, L.k_norm.f32(), s.dk.data(), eps, s.dk.data(),
                                  small_grad(L.k_norm));
      linear_backward(c, L.q_proj, la.h, s.dq.data(), dh, false);
      linear_backward(c, L.k_proj, la.h, s.dk.data(), dh, true);
      linear_backward(c, L.v_proj, la.h, s.dv.data(), dh, true);
    } else {
      float* dy = s.dop.data();    // [T, C] gradient of C ⊙ conv(B ⊙ X)
      float* dz = s.dwide.data();  // [T, 3C]
      linear_backward(c, L.conv_out_proj, la.conv_y, dx, dy, false);
      cpu::shortconv_backward(C, nseq, s.cu.data(), la.conv_z, L.conv_kernel.f32(), dy, dz,
                              small_grad(L.conv_kernel));
      linear_backward(c, L.conv_in_proj, la.h, dz, dh, false);
    }
    cpu::rmsnorm_backward(T, C, la.x_in, L.operator_norm.f32(), dh, eps, dh, small_grad(L.operator_norm));
    add_into(dx, dh, T * C);  // dx = d x_in
  }
  // x_0 = E[ids]: the lookup term of the tied embedding (the head term comes from the loss).
  if (float* dE = c.grad(w.embed))
    cpu::embedding_backward(T, V, C, view.tokens, dx, dE, cfg.pad_token_id);
}

}  // namespace lfm2
