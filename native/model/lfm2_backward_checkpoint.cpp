#include "model/lfm2_backward_checkpoint.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/attention.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/shortconv.h"
#include "backend/cpu/swiglu.h"
#include "core/error.h"

namespace lfm2 {
namespace {

// y [T, out] = beta·y + x·Wᵀ, then the adapter hook (as Lfm2Model's linear).
void linear(const WeightTensor& W, const float* x, int64_t T, float* y, float beta, const ForwardOptions& o) {
  const int64_t out = W.shape[0], in = W.shape[1];
  gemm_nt(T, out, in, x, in, W.data(), W.dtype, in, y, out, beta, o.precision);
  if (o.linear_hook) o.linear_hook->after_linear(W, x, T, y);
}

// Carves the slot for one layer of either kind.
void layout_slot(const Lfm2Config& cfg, CheckpointedActivations& ck) {
  const int64_t T = ck.T, C = cfg.hidden_size, F = cfg.ff_dim, H = cfg.num_heads, KVH = cfg.num_kv_heads,
                D = cfg.head_dim, HD = H * D, KVD = KVH * D;
  const int64_t sizes[] = {T * C, T,       T * 3 * C, T * C,   T * HD, T * KVD, T * KVD, T * H, T * KVH,
                           T * HD, T * KVD, T * HD,    T * H,   T * C,  T * C,   T,       T * F, T * F,  T * F};
  float* LayerActivations::*fields[] = {
      &LayerActivations::h,      &LayerActivations::rstd_op, &LayerActivations::conv_z,   &LayerActivations::conv_y,
      &LayerActivations::q,      &LayerActivations::k,       &LayerActivations::v,        &LayerActivations::q_rstd,
      &LayerActivations::k_rstd, &LayerActivations::q_hat,   &LayerActivations::k_hat,    &LayerActivations::attn_o,
      &LayerActivations::attn_lse, &LayerActivations::r,     &LayerActivations::g,        &LayerActivations::rstd_ffn,
      &LayerActivations::ffn_a,  &LayerActivations::ffn_b,   &LayerActivations::ffn_act};
  size_t total = 0;
  for (int64_t n : sizes) total += size_t((n + 15) / 16 * 16);
  if (ck.slot.size() < total) ck.slot.resize(total);
  size_t at = 0;
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
    ck.la.*fields[i] = ck.slot.data() + at;
    at += size_t((sizes[i] + 15) / 16 * 16);
  }
}

// Layer l from la.x_in: fills la and writes x_next [T, C].
void run_layer(const Lfm2Model& model, CheckpointedActivations& ck, int64_t l, float* x_next, const ForwardOptions& o) {
  const Lfm2Config& cfg = model.config();
  const Lfm2LayerWeights& W = model.weights().layers[size_t(l)];
  const LayerActivations& la = ck.la;
  const int64_t T = ck.T, C = cfg.hidden_size, F = cfg.ff_dim, H = cfg.num_heads, KVH = cfg.num_kv_heads,
                D = cfg.head_dim, HD = H * D, KVD = KVH * D;
  const float eps = float(cfg.norm_eps);
  rmsnorm_forward(la.x_in, C, W.operator_norm.f32(), la.h, C, la.rstd_op, T, C, eps);
  if (W.is_attention) {
    linear(W.q_proj, la.h, T, la.q, 0.f, o);
    linear(W.k_proj, la.h, T, la.k, 0.f, o);
    linear(W.v_proj, la.h, T, la.v, 0.f, o);
    rmsnorm_forward(la.q, D, W.q_norm.f32(), la.q_hat, D, la.q_rstd, T * H, D, eps);
    rmsnorm_forward(la.k, D, W.k_norm.f32(), la.k_hat, D, la.k_rstd, T * KVH, D, eps);
    rope_forward(la.q_hat, HD, T, H, D, ck.rope_cos.data(), ck.rope_sin.data());
    rope_forward(la.k_hat, KVD, T, KVH, D, ck.rope_cos.data(), ck.rope_sin.data());
    std::vector<AttentionSeq> seqs(ck.chunks.size());
    for (size_t i = 0; i < ck.chunks.size(); ++i) {
      const int64_t off = ck.chunk_offset[i], n = ck.chunks[i].n;
      seqs[i] = AttentionSeq{la.q_hat + off * HD, la.k_hat + off * KVD, la.v + off * KVD, la.attn_o + off * HD,
                             la.attn_lse + off * H, n, n};
    }
    attention_forward(seqs, AttentionShape{H, KVH, D, HD, KVD, HD, 1.0f / std::sqrt(float(D))});
    std::memcpy(la.r, la.x_in, size_t(T * C) * sizeof(float));
    linear(W.out_proj, la.attn_o, T, la.r, 1.f, o);
  } else {
    linear(W.conv_in_proj, la.h, T, la.conv_z, 0.f, o);
    std::vector<ShortConvSeq> seqs(ck.chunks.size());
    for (size_t i = 0; i < ck.chunks.size(); ++i) {
      const int64_t off = ck.chunk_offset[i];
      seqs[i] = ShortConvSeq{la.conv_z + off * 3 * C, la.conv_y + off * C, nullptr, ck.chunks[i].n};
    }
    shortconv_forward(seqs, W.conv_kernel.f32(), C, 3 * C, C);
    std::memcpy(la.r, la.x_in, size_t(T * C) * sizeof(float));
    linear(W.conv_out_proj, la.conv_y, T, la.r, 1.f, o);
  }
  rmsnorm_forward(la.r, C, W.ffn_norm.f32(), la.g, C, la.rstd_ffn, T, C, eps);
  linear(W.w1, la.g, T, la.ffn_a, 0.f, o);
  linear(W.w3, la.g, T, la.ffn_b, 0.f, o);
  swiglu_forward(la.ffn_a, la.ffn_b, la.ffn_act, T * F);
  std::memcpy(x_next, la.r, size_t(T * C) * sizeof(float));
  linear(W.w2, la.ffn_act, T, x_next, 1.f, o);
}

}  // namespace

void checkpointed_forward(const Lfm2Model& model, const std::vector<SeqChunk>& chunks, CheckpointedActivations& ck,
                          const ForwardOptions& opts) {
  const Lfm2Config& cfg = model.config();
  const int64_t C = cfg.hidden_size, L = cfg.num_layers, V = cfg.vocab_size;
  LFM2_CHECK(!chunks.empty(), "forward: no sequences given");
  ck.chunks = chunks;
  ck.chunk_offset.assign(chunks.size() + 1, 0);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SeqChunk& c = chunks[i];
    LFM2_CHECK(c.n >= 1 && c.tokens && !c.state, "checkpointed forward: sequence ", i,
               " must be a fresh, non-empty sequence");
    LFM2_CHECK(c.n <= cfg.max_position_embeddings, "sequence ", i, ": ", c.n,
               " positions exceed the model's context (max_position_embeddings = ", cfg.max_position_embeddings, ")");
    for (int64_t t = 0; t < c.n; ++t)
      LFM2_CHECK(c.tokens[t] >= 0 && c.tokens[t] < V, "sequence ", i, ": token id ", c.tokens[t], " at index ", t,
                 " is outside the vocabulary [0, ", V, ")");
    ck.chunk_offset[i + 1] = ck.chunk_offset[i] + c.n;
  }
  const int64_t T = ck.T = ck.chunk_offset.back();
  ck.tokens.resize(size_t(T));
  ck.positions.resize(size_t(T));
  for (size_t i = 0; i < chunks.size(); ++i)
    for (int64_t t = 0; t < chunks[i].n; ++t) {
      ck.tokens[size_t(ck.chunk_offset[i] + t)] = chunks[i].tokens[t];
      ck.positions[size_t(ck.chunk_offset[i] + t)] = int32_t(t);
    }
  ck.rope_cos.resize(size_t(T * cfg.head_dim / 2));
  ck.rope_sin.resize(size_t(T * cfg.head_dim / 2));
  rope_table(ck.positions.data(), T, cfg.head_dim, cfg.rope_theta, ck.rope_cos.data(), ck.rope_sin.data());
  ck.x_in.resize(size_t(L * T * C));
  ck.x_final.resize(size_t(T * C));
  ck.hidden.resize(size_t(T * C));
  ck.rstd_final.resize(size_t(T));
  layout_slot(cfg, ck);
  const Lfm2Weights& w = model.weights();
  embedding_forward(ck.tokens.data(), T, w.embed.data(), w.embed.dtype, V, C, ck.x_in.data());
  for (int64_t l = 0; l < L; ++l) {
    ck.la.x_in = ck.x_in.data() + l * T * C;
    run_layer(model, ck, l, l + 1 < L ? ck.x_in.data() + (l + 1) * T * C : ck.x_final.data(), opts);
  }
  rmsnorm_forward(ck.x_final.data(), C, w.final_norm.f32(), ck.hidden.data(), C, ck.rstd_final.data(), T, C,
                  float(cfg.norm_eps));
}

BackwardView checkpointed_view(const Lfm2Model& model, CheckpointedActivations& ck, const ForwardOptions& opts) {
  BackwardView v;
  v.T = ck.T;
  v.chunk_offset = &ck.chunk_offset;
  v.tokens = ck.tokens.data();
  v.positions = ck.positions.data();
  v.x_final = ck.x_final.data();
  const Lfm2Model* m = &model;
  CheckpointedActivations* c = &ck;
  v.layer = [m, c, opts](int64_t l) -> const LayerActivations& {
    const int64_t TC = c->T * m->config().hidden_size;
    c->la.x_in = c->x_in.data() + l * TC;
    std::vector<float> x_next(static_cast<size_t>(TC));  // the recomputed output is already known: discard it
    run_layer(*m, *c, l, x_next.data(), opts);
    return c->la;
  };
  return v;
}

}  // namespace lfm2
