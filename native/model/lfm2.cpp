#include "model/lfm2.h"

#include <cmath>
#include <cstring>
#include <algorithm>

#include "backend/cpu/attention.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/shortconv.h"
#include "backend/cpu/swiglu.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

size_t GenerationState::bytes() const {
  size_t n = conv_state.size();
  for (const auto& c : k_cache) n += c.size();
  for (const auto& c : v_cache) n += c.size();
  return n * sizeof(float);
}

std::unique_ptr<GenerationState> GenerationState::fork(int64_t extra_tokens) const {
  auto s = std::make_unique<GenerationState>();
  s->length = length;
  s->conv_state = conv_state;
  s->k_cache.resize(k_cache.size());
  s->v_cache.resize(v_cache.size());
  for (size_t i = 0; i < k_cache.size(); ++i) {
    const size_t row = length > 0 ? k_cache[i].size() / size_t(length) : 0;
    s->k_cache[i].reserve(k_cache[i].size() + row * size_t(extra_tokens));
    s->v_cache[i].reserve(v_cache[i].size() + row * size_t(extra_tokens));
    s->k_cache[i].assign(k_cache[i].begin(), k_cache[i].end());  // keeps the reserved capacity
    s->v_cache[i].assign(v_cache[i].begin(), v_cache[i].end());
  }
  return s;
}

std::unique_ptr<Lfm2Model> Lfm2Model::load(const std::string& dir, WeightDTypeChoice dtype) {
  Lfm2Config cfg = load_lfm2_config(dir);
  Lfm2Weights w = load_lfm2_weights(dir, cfg, dtype);
  return std::make_unique<Lfm2Model>(std::move(cfg), std::move(w));
}

Lfm2Model::Lfm2Model(Lfm2Config cfg, Lfm2Weights w) : cfg_(std::move(cfg)), w_(std::move(w)) {
  LFM2_CHECK(int64_t(w_.layers.size()) == cfg_.num_layers, "weights have ", w_.layers.size(), " layers, config ",
             cfg_.num_layers);
  LFM2_CHECK(cfg_.conv_L_cache == kConvTaps, "conv_L_cache = ", cfg_.conv_L_cache, " is not supported (only ",
             kConvTaps, ")");
}

std::unique_ptr<GenerationState> Lfm2Model::new_state() const {
  auto s = std::make_unique<GenerationState>();
  const int64_t n_attn = cfg_.num_attention_layers();
  s->k_cache.resize(size_t(n_attn));
  s->v_cache.resize(size_t(n_attn));
  s->conv_state.assign(size_t((cfg_.num_layers - n_attn) * 2 * cfg_.hidden_size), 0.f);
  return s;
}

namespace {
// Arena carving: each tensor starts on a 64-byte boundary relative to the arena start.
struct Carver {
  int64_t used = 0;
  int64_t take(int64_t n) {
    int64_t at = used;
    used += (n + 15) / 16 * 16;
    return at;
  }
};

void copy_rows(const float* src, float* dst, int64_t n) {
  parallel_for(n, [&](int64_t a, int64_t b, int) { std::memcpy(dst + a, src + a, size_t(b - a) * sizeof(float)); },
               1 << 16);
}
}  // namespace

void Lfm2Model::allocate(ForwardActivations& acts, int64_t T, int64_t R, bool training) const {
  const int64_t C = cfg_.hidden_size, F = cfg_.ff_dim, HD = cfg_.num_heads * cfg_.head_dim,
                KVD = cfg_.num_kv_heads * cfg_.head_dim, H = cfg_.num_heads, KVH = cfg_.num_kv_heads;
  const int64_t L = cfg_.num_layers;
  // Offsets of each field per slot, filled in a first pass and turned into pointers once the arena is sized.
  struct Off {
    int64_t x_in, h, rstd_op, conv_z, conv_y, q, k, v, q_rstd, k_rstd, q_hat, k_hat, attn_o, attn_lse, r, g, rstd_ffn,
        ffn_a, ffn_b, ffn_act;
  };
  Carver cv;
  const int64_t n_slots = training ? L : 1;
  std::vector<Off> offs(static_cast<size_t>(n_slots));
  for (int64_t s = 0; s < n_slots; ++s) {
    Off& o = offs[size_t(s)];
    const bool want_conv = training ? !cfg_.is_attention[size_t(s)] : true;
    const bool want_attn = training ? bool(cfg_.is_attention[size_t(s)]) : true;
    o = Off{};
    for (int64_t* f : {&o.conv_z, &o.conv_y, &o.q, &o.k, &o.v, &o.q_rstd, &o.k_rstd, &o.q_hat, &o.k_hat, &o.attn_o,
                       &o.attn_lse})
      *f = -1;
    o.x_in = cv.take(T * C);
    o.h = cv.take(T * C);
    o.rstd_op = cv.take(T);
    if (want_conv) {
      o.conv_z = cv.take(T * 3 * C);
      o.conv_y = cv.take(T * C);
    }
    if (want_attn) {
      o.q = cv.take(T * HD);
      o.k = cv.take(T * KVD);
      o.v = cv.take(T * KVD);
      o.q_rstd = cv.take(T * H);
      o.k_rstd = cv.take(T * KVH);
      o.q_hat = cv.take(T * HD);
      o.k_hat = cv.take(T * KVD);
      o.attn_o = cv.take(T * HD);
      o.attn_lse = cv.take(T * H);
    }
    o.r = cv.take(T * C);
    o.g = cv.take(T * C);
    o.rstd_ffn = cv.take(T);
    o.ffn_a = cv.take(T * F);
    o.ffn_b = cv.take(T * F);
    o.ffn_act = training ? cv.take(T * F) : o.ffn_a;  // inference: silu(a)⊙b overwrites a in place
  }
  const int64_t x_final = cv.take(T * C), rstd_final = cv.take(T), hidden = cv.take(T * C),
                logits = cv.take(R * cfg_.vocab_size);
  if (int64_t(acts.arena.size()) < cv.used + 16) acts.arena.resize(size_t(cv.used + 16));
  // Align the arena base to 64 bytes.
  float* base = acts.arena.data();
  while (reinterpret_cast<uintptr_t>(base) % 64 != 0) ++base;
  auto P = [&](int64_t off) { return off < 0 ? nullptr : base + off; };
  acts.layers.assign(size_t(L), LayerActivations{});
  for (int64_t l = 0; l < L; ++l) {
    const Off& o = offs[size_t(training ? l : 0)];
    LayerActivations& la = acts.layers[size_t(l)];
    la.x_in = P(o.x_in), la.h = P(o.h), la.rstd_op = P(o.rstd_op), la.conv_z = P(o.conv_z), la.conv_y = P(o.conv_y);
    la.q = P(o.q), la.k = P(o.k), la.v = P(o.v), la.q_rstd = P(o.q_rstd), la.k_rstd = P(o.k_rstd);
    la.q_hat = P(o.q_hat), la.k_hat = P(o.k_hat), la.attn_o = P(o.attn_o), la.attn_lse = P(o.attn_lse);
    la.r = P(o.r), la.g = P(o.g), la.rstd_ffn = P(o.rstd_ffn), la.ffn_a = P(o.ffn_a), la.ffn_b = P(o.ffn_b),
    la.ffn_act = P(o.ffn_act);
  }
  acts.x_final = P(x_final);
  acts.rstd_final = P(rstd_final);
  acts.hidden = P(hidden);
  acts.logits = P(logits);
  acts.T = T;
  acts.training = training;
}

void Lfm2Model::linear(const WeightTensor& W, const float* x, int64_t T, float* y, float beta,
                       const ForwardOptions& o) const {
  const int64_t out = W.shape[0], in = W.shape[1];
  gemm_nt(T, out, in, x, in, W.data(), W.dtype, in, y, out, beta, o.precision);
  if (o.linear_hook) o.linear_hook->after_linear(W, x, T, y);
}

void Lfm2Model::linear_multi(std::initializer_list<LinearOut> outs, const float* x, int64_t T,
                             const ForwardOptions& o) const {
  GemmNtPart parts[kGemmMaxParts];
  int n = 0;
  const WeightTensor& W0 = *outs.begin()->W;
  const int64_t in = W0.shape[1];
  for (const LinearOut& l : outs) {
    LFM2_CHECK(n < kGemmMaxParts && l.W->shape[1] == in && l.W->dtype == W0.dtype,
               "linear_multi: weights must share the input width and dtype");
    parts[n++] = GemmNtPart{l.W->data(), l.W->shape[0], in, l.y, l.W->shape[0], l.beta};
  }
  gemm_nt_multi(T, in, x, in, W0.dtype, parts, n, o.precision);
  if (o.linear_hook)
    for (const LinearOut& l : outs) o.linear_hook->after_linear(*l.W, x, T, l.y);
}

void Lfm2Model::conv_layer(int64_t l, const std::vector<SeqChunk>& chunks, ForwardActivations& acts,
                           const LayerActivations& la, const ForwardOptions& o) const {
  const auto& W = w_.layers[size_t(l)];
  const int64_t C = cfg_.hidden_size, T = acts.T;
  const int64_t ci = cfg_.conv_index(l);
  // z = h · W_inᵀ   [T, 3C]
  linear(W.conv_in_proj, la.h, T, la.conv_z, 0.f, o);
  std::vector<ShortConvSeq>& seqs = acts.conv_seqs;
  seqs.resize(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const int64_t off = acts.chunk_offset[i];
    float* st = chunks[i].state ? chunks[i].state->conv_state.data() + ci * 2 * C : nullptr;
    seqs[i] = ShortConvSeq{la.conv_z + off * 3 * C, la.conv_y + off * C, st, chunks[i].n};
  }
  shortconv_forward(seqs, W.conv_kernel.f32(), C, 3 * C, C);
  // r = x_in + y · W_outᵀ
  copy_rows(la.x_in, la.r, T * C);
  linear(W.conv_out_proj, la.conv_y, T, la.r, 1.f, o);
}

void Lfm2Model::attention_layer(int64_t l, const std::vector<SeqChunk>& chunks, ForwardActivations& acts,
                                const LayerActivations& la, const ForwardOptions& o) const {
  const auto& W = w_.layers[size_t(l)];
  const int64_t C = cfg_.hidden_size, T = acts.T, H = cfg_.num_heads, KVH = cfg_.num_kv_heads, D = cfg_.head_dim;
  const int64_t HD = H * D, KVD = KVH * D;
  const int64_t ai = cfg_.attention_index(l);
  const float eps = float(cfg_.norm_eps);
  // q [T, H*D], k [T, KVH*D], v [T, KVH*D]
  linear_multi({{&W.q_proj, la.q, 0.f}, {&W.k_proj, la.k, 0.f}, {&W.v_proj, la.v, 0.f}}, la.h, T, o);
  // Per-head QK RMSNorm (rows = token × head), then RoPE; V gets neither.
  rmsnorm_forward(la.q, D, W.q_norm.f32(), la.q_hat, D, la.q_rstd, T * H, D, eps);
  rmsnorm_forward(la.k, D, W.k_norm.f32(), la.k_hat, D, la.k_rstd, T * KVH, D, eps);
  rope_forward(la.q_hat, HD, T, H, D, acts.rope_cos.data(), acts.rope_sin.data());
  rope_forward(la.k_hat, KVD, T, KVH, D, acts.rope_cos.data(), acts.rope_sin.data());

  std::vector<AttentionSeq>& seqs = acts.attn_seqs;
  seqs.resize(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SeqChunk& c = chunks[i];
    const int64_t off = acts.chunk_offset[i];
    AttentionSeq a;
    a.q = la.q_hat + off * HD;
    a.out = la.attn_o + off * HD;
    a.lse = acts.training ? la.attn_lse + off * H : nullptr;
    a.n_q = c.n;
    if (c.state) {
      // Append this chunk's keys/values to the cache; attend over the whole cache.
      auto& kc = c.state->k_cache[size_t(ai)];
      auto& vc = c.state->v_cache[size_t(ai)];
      const int64_t len = c.state->length;
      kc.resize(size_t((len + c.n) * KVD));
      vc.resize(size_t((len + c.n) * KVD));
      std::memcpy(kc.data() + len * KVD, la.k_hat + off * KVD, size_t(c.n * KVD) * sizeof(float));
      std::memcpy(vc.data() + len * KVD, la.v + off * KVD, size_t(c.n * KVD) * sizeof(float));
      a.k = kc.data();
      a.v = vc.data();
      a.n_kv = len + c.n;
    } else {
      a.k = la.k_hat + off * KVD;
      a.v = la.v + off * KVD;
      a.n_kv = c.n;
    }
    seqs[i] = a;
  }
  attention_forward(seqs, AttentionShape{H, KVH, D, HD, KVD, HD, 1.0f / std::sqrt(float(D))});
  copy_rows(la.x_in, la.r, T * C);
  linear(W.out_proj, la.attn_o, T, la.r, 1.f, o);
}

void Lfm2Model::forward(const std::vector<SeqChunk>& chunks, ForwardActivations& acts,
                        const ForwardOptions& opts) const {
  const int64_t C = cfg_.hidden_size, F = cfg_.ff_dim, V = cfg_.vocab_size;
  const float eps = float(cfg_.norm_eps);
  LFM2_CHECK(!chunks.empty(), "forward: no sequences given");
  // ---- validate everything before any state is touched
  std::vector<const GenerationState*>& seen = acts.seen_states;
  seen.clear();
  const size_t n_attn = size_t(cfg_.num_attention_layers());
  const size_t conv_size = size_t((cfg_.num_layers - int64_t(n_attn)) * 2 * C);
  int64_t T = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SeqChunk& c = chunks[i];
    LFM2_CHECK(c.n >= 1 && c.tokens, "sequence ", i, " is empty (every sequence needs at least one token)");
    for (int64_t t = 0; t < c.n; ++t)
      LFM2_CHECK(c.tokens[t] >= 0 && c.tokens[t] < V, "sequence ", i, ": token id ", c.tokens[t], " at index ", t,
                 " is outside the vocabulary [0, ", V, ")");
    if (c.state) {
      seen.push_back(c.state);
      LFM2_CHECK(c.state->k_cache.size() == n_attn && c.state->v_cache.size() == n_attn &&
                     c.state->conv_state.size() == conv_size,
                 "sequence ", i, ": generation state does not belong to this model");
    }
    const int64_t end = (c.state ? c.state->length : 0) + c.n;
    LFM2_CHECK(end <= cfg_.max_position_embeddings, "sequence ", i, ": ", end,
               " positions exceed the model's context (max_position_embeddings = ", cfg_.max_position_embeddings, ")");
    T += c.n;
  }
  std::sort(seen.begin(), seen.end());
  LFM2_CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end(),
             "the same generation state appears twice in one call");
  int64_t R = 0;
  if (opts.logits == LogitsMode::All) R = T;
  if (opts.logits == LogitsMode::Last) R = int64_t(chunks.size());
  allocate(acts, T, R, opts.training);

  // ---- rows, tokens, positions
  acts.chunk_offset.assign(chunks.size() + 1, 0);
  acts.tokens.resize(size_t(T));
  acts.positions.resize(size_t(T));
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SeqChunk& c = chunks[i];
    const int64_t off = acts.chunk_offset[i];
    const int64_t pos0 = c.state ? c.state->length : 0;
    for (int64_t t = 0; t < c.n; ++t) {
      acts.tokens[size_t(off + t)] = c.tokens[t];
      acts.positions[size_t(off + t)] = int32_t(pos0 + t);
    }
    acts.chunk_offset[i + 1] = off + c.n;
  }
  acts.logit_rows.clear();
  if (opts.logits == LogitsMode::All)
    for (int64_t t = 0; t < T; ++t) acts.logit_rows.push_back(t);
  if (opts.logits == LogitsMode::Last)
    for (size_t i = 0; i < chunks.size(); ++i) acts.logit_rows.push_back(acts.chunk_offset[i + 1] - 1);
  if (n_attn > 0) {
    const int64_t half = cfg_.head_dim / 2;
    acts.rope_cos.resize(size_t(T * half));
    acts.rope_sin.resize(size_t(T * half));
    rope_table(acts.positions.data(), T, cfg_.head_dim, cfg_.rope_theta, acts.rope_cos.data(), acts.rope_sin.data());
  }

  // ---- x_0 = E[ids]
  embedding_forward(acts.tokens.data(), T, w_.embed.data(), w_.embed.dtype, V, C, acts.layers[0].x_in);

  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const LayerActivations& la = acts.layers[size_t(l)];
    const auto& W = w_.layers[size_t(l)];
    // h = RMSNorm(x; operator_norm);  r = x + Operator(h)
    rmsnorm_forward(la.x_in, C, W.operator_norm.f32(), la.h, C, la.rstd_op, T, C, eps);
    if (W.is_attention)
      attention_layer(l, chunks, acts, la, opts);
    else
      conv_layer(l, chunks, acts, la, opts);
    // g = RMSNorm(r; ffn_norm);  x_next = r + (silu(g·W1ᵀ) ⊙ g·W3ᵀ)·W2ᵀ
    rmsnorm_forward(la.r, C, W.ffn_norm.f32(), la.g, C, la.rstd_ffn, T, C, eps);
    linear_multi({{&W.w1, la.ffn_a, 0.f}, {&W.w3, la.ffn_b, 0.f}}, la.g, T, opts);  // [T, F] each
    swiglu_forward(la.ffn_a, la.ffn_b, la.ffn_act, T * F);
    float* x_next = l + 1 < cfg_.num_layers ? acts.layers[size_t(l + 1)].x_in : acts.x_final;
    copy_rows(la.r, x_next, T * C);
    linear(W.w2, la.ffn_act, T, x_next, 1.f, opts);
  }

  // ---- final norm (model.embedding_norm) and the tied head on the requested rows only
  rmsnorm_forward(acts.x_final, C, w_.final_norm.f32(), acts.hidden, C, acts.rstd_final, T, C, eps);
  if (R > 0) {
    const float* head_in = acts.hidden;
    if (opts.logits == LogitsMode::Last) {
      acts.head_in.resize(size_t(R * C));
      for (int64_t r = 0; r < R; ++r)
        std::memcpy(acts.head_in.data() + r * C, acts.hidden + acts.logit_rows[size_t(r)] * C, size_t(C) * 4);
      head_in = acts.head_in.data();
    }
    const WeightTensor& E = w_.head();
    gemm_nt(R, V, C, head_in, C, E.data(), E.dtype, C, acts.logits, V, 0.f, opts.precision);  // [R, V]
  }

  for (const SeqChunk& c : chunks)
    if (c.state) c.state->length += c.n;
}

}  // namespace lfm2
