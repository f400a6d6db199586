#include "backend/cuda/cuda_train_forward.cuh"

#include <cmath>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/convert.cuh"
#include "backend/cuda/embedding.cuh"
#include "backend/cuda/rmsnorm.cuh"
#include "backend/cuda/rope.cuh"
#include "backend/cuda/shortconv.cuh"
#include "backend/cuda/swiglu.cuh"

namespace lfm2::cuda {

void train_linear(CudaModel::Impl& m, const DeviceBuffer& W, const __nv_bfloat16* x, int64_t T, int64_t out,
                  int64_t in, float* y, float beta, int64_t layer, LinearKind kind, const CudaLora* lora,
                  Arena& arena) {
  m.gemm->run(GemmShape{T, out, in, false, true, 1.f, beta}, x, bf(W), y, m.stream);
  if (lora)
    if (const CudaLoraModule* lm = lora->find(layer, kind)) lora->forward(*lm, x, T, y, *m.gemm, arena, m.stream);
}

namespace {

// Every activation buffer of one layer (attention and conv fields alike when `both`).
void take_layer(const Lfm2Config& c, bool attn, bool both, int64_t T, Arena& A, TrainLayerActs& a) {
  const int64_t C = c.hidden_size, H = c.num_heads, KVH = c.num_kv_heads, D = c.head_dim, F = c.ff_dim;
  const int64_t HD = H * D, KW = KVH * D;
  a.rstd_op = A.take_n<float>(T);
  a.h_bf = A.take_n<__nv_bfloat16>(T * C);
  if (attn || both) {
    a.q_pre = A.take_n<float>(T * HD);
    a.k_pre = A.take_n<float>(T * KW);
    a.rstd_q = A.take_n<float>(T * H);
    a.rstd_k = A.take_n<float>(T * KVH);
    a.q_hat = A.take_n<float>(T * HD);
    a.k_hat = A.take_n<float>(T * KW);
    a.v = A.take_n<float>(T * KW);
    a.o = A.take_n<float>(T * HD);
    a.lse = A.take_n<float>(T * H);
  }
  if (!attn || both) {
    a.z = A.take_n<float>(T * 3 * C);
    a.y_bf = A.take_n<__nv_bfloat16>(T * C);
  }
  a.r = A.take_n<float>(T * C);
  a.rstd_ffn = A.take_n<float>(T);
  a.g_bf = A.take_n<__nv_bfloat16>(T * C);
  a.a = A.take_n<float>(T * F);
  a.b = A.take_n<float>(T * F);
}

// Layer l from a.x_in: fills a's activations and writes the residual stream leaving the layer into x_next.
// ai: index of l among the attention layers (its k/v pointer table).
void layer_forward(CudaModel::Impl& m, const TrainForward& f, int64_t l, int64_t ai, TrainLayerActs& a,
                   float* x_next, Arena& A) {
  const Lfm2Config& c = m.cfg;
  const int64_t T = f.T, nseq = f.nseq, C = c.hidden_size, H = c.num_heads, KVH = c.num_kv_heads;
  const int64_t D = c.head_dim, F = c.ff_dim, HD = H * D, KW = KVH * D;
  const float eps = float(c.norm_eps);
  const CudaLora* lora = f.lora;
  cudaStream_t st = m.stream;
  const DevLayer& L = m.layers[size_t(l)];
  float* h = f.s_h;
  rmsnorm_forward(a.x_in, f32(L.op_norm), h, a.rstd_op, T, C, eps, st);
  f32_to_bf16(h, a.h_bf, T * C, st);
  CUDA_CHECK(cudaMemcpyAsync(a.r, a.x_in, size_t(T * C) * 4, cudaMemcpyDeviceToDevice, st));  // r = x_in + Op(h)
  if (!L.attn) {
    train_linear(m, L.conv_in, a.h_bf, T, 3 * C, C, a.z, 0.f, l, LinearKind::ConvIn, lora, A);
    shortconv_forward(a.z, f32(L.conv_kernel), f.s_y, f.d_row0, nullptr, nseq, C, st);
    f32_to_bf16(f.s_y, a.y_bf, T * C, st);
    train_linear(m, L.conv_out, a.y_bf, T, C, C, a.r, 1.f, l, LinearKind::ConvOut, lora, A);
  } else {
    train_linear(m, L.q, a.h_bf, T, HD, C, a.q_pre, 0.f, l, LinearKind::Q, lora, A);
    train_linear(m, L.k, a.h_bf, T, KW, C, a.k_pre, 0.f, l, LinearKind::K, lora, A);
    train_linear(m, L.v, a.h_bf, T, KW, C, a.v, 0.f, l, LinearKind::V, lora, A);
    rmsnorm_forward(a.q_pre, f32(L.q_norm), a.q_hat, a.rstd_q, T * H, D, eps, st);
    rmsnorm_forward(a.k_pre, f32(L.k_norm), a.k_hat, a.rstd_k, T * KVH, D, eps, st);
    rope_forward(a.q_hat, f.d_pos, T, H, D, c.rope_theta, st);
    rope_forward(a.k_hat, f.d_pos, T, KVH, D, c.rope_theta, st);
    const AttentionBatch b = f.attention_batch(c, ai);
    attention_forward(b, a.q_hat, a.o, a.lse, st);
    f32_to_bf16(a.o, f.s_wide_bf, T * HD, st);
    train_linear(m, L.o, f.s_wide_bf, T, C, HD, a.r, 1.f, l, LinearKind::O, lora, A);
  }
  rmsnorm_forward(a.r, f32(L.ffn_norm), h, a.rstd_ffn, T, C, eps, st);
  f32_to_bf16(h, a.g_bf, T * C, st);
  train_linear(m, L.w1, a.g_bf, T, F, C, a.a, 0.f, l, LinearKind::W1, lora, A);
  train_linear(m, L.w3, a.g_bf, T, F, C, a.b, 0.f, l, LinearKind::W3, lora, A);
  swiglu_forward(a.a, a.b, f.s_act, T * F, st);
  f32_to_bf16(f.s_act, f.s_wide_bf, T * F, st);
  CUDA_CHECK(cudaMemcpyAsync(x_next, a.r, size_t(T * C) * 4, cudaMemcpyDeviceToDevice, st));
  train_linear(m, L.w2, f.s_wide_bf, T, C, F, x_next, 1.f, l, LinearKind::W2, lora, A);
}

int64_t attention_index(const Lfm2Config& c, int64_t l) {
  int64_t ai = 0;
  for (int64_t j = 0; j < l; ++j) ai += c.is_attention[size_t(j)] ? 1 : 0;
  return ai;
}

}  // namespace

void train_forward(CudaModel::Impl& m, const int32_t* tokens, const std::vector<int64_t>& seq_len,
                   const CudaLora* lora, bool checkpointed, Arena& A, TrainForward& f) {
  const Lfm2Config& c = m.cfg;
  const int64_t C = c.hidden_size, HD = c.num_heads * c.head_dim, KW = c.num_kv_heads * c.head_dim;
  const int64_t F = c.ff_dim, V = c.vocab_size;
  const int64_t nseq = int64_t(seq_len.size());
  const int64_t n_attn = c.num_attention_layers();
  cudaStream_t st = m.stream;
  int64_t T = 0;
  for (int64_t n : seq_len) T += n;
  LFM2_CHECK(T >= 1 && T < 0x7fffffff, "training forward: bad token count ", T);
  f.T = T, f.nseq = nseq;
  f.lora = lora;
  f.checkpointed = checkpointed;

  // ---- batch description (host → one upload each)
  std::vector<int32_t> pos(static_cast<size_t>(T)), row_seq(static_cast<size_t>(T)), pos0(static_cast<size_t>(nseq), 0);
  f.row0.assign(size_t(nseq + 1), 0);
  for (int64_t i = 0, r = 0; i < nseq; ++i) {
    f.row0[size_t(i)] = int32_t(r);
    for (int64_t j = 0; j < seq_len[size_t(i)]; ++j, ++r) {
      pos[size_t(r)] = int32_t(j);
      row_seq[size_t(r)] = int32_t(i);
    }
    f.row0[size_t(i + 1)] = int32_t(r);
  }
  f.d_tokens = A.take_n<int32_t>(T);
  f.d_pos = A.take_n<int32_t>(T);
  f.d_row0 = A.take_n<int32_t>(nseq + 1);
  f.d_pos0 = A.take_n<int32_t>(nseq);
  f.d_row_seq = A.take_n<int32_t>(T);
  auto up = [&](void* d, const void* h, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, st));
  };
  up(f.d_tokens, tokens, size_t(T) * 4);
  up(f.d_pos, pos.data(), size_t(T) * 4);
  up(f.d_row0, f.row0.data(), size_t(nseq + 1) * 4);
  up(f.d_pos0, pos0.data(), size_t(nseq) * 4);
  up(f.d_row_seq, row_seq.data(), size_t(T) * 4);

  // ---- per-layer activations (checkpointed: one shared set, each layer keeping only its input)
  f.layers.assign(size_t(c.num_layers), TrainLayerActs{});
  TrainLayerActs shared;
  if (checkpointed) take_layer(c, false, true, T, A, shared);
  std::vector<float*> kv_ptrs;  // [n_attn][2][nseq]
  for (int64_t l = 0; l < c.num_layers; ++l) {
    TrainLayerActs& a = f.layers[size_t(l)];
    const bool attn = m.layers[size_t(l)].attn;
    if (checkpointed)
      a = shared;
    else
      take_layer(c, attn, false, T, A, a);
    a.x_in = A.take_n<float>(T * C);
    if (attn)
      for (int kv = 0; kv < 2; ++kv)
        for (int64_t i = 0; i < nseq; ++i)
          kv_ptrs.push_back((kv == 0 ? a.k_hat : a.v) + int64_t(f.row0[size_t(i)]) * KW);
  }
  LFM2_CHECK(int64_t(kv_ptrs.size()) == n_attn * 2 * nseq, "training forward: attention layer count mismatch");
  float** d_kv = A.take_n<float*>(std::max<int64_t>(int64_t(kv_ptrs.size()), 1));
  up(d_kv, kv_ptrs.data(), kv_ptrs.size() * sizeof(float*));
  f.d_kv_ptrs = d_kv;
  f.x_final = A.take_n<float>(T * C);
  f.rstd_final = A.take_n<float>(T);
  f.hidden = A.take_n<float>(T * C);
  f.s_h = A.take_n<float>(T * C);
  f.s_y = A.take_n<float>(T * std::max(C, HD));
  f.s_wide_bf = A.take_n<__nv_bfloat16>(T * std::max(F, HD));
  f.s_act = A.take_n<float>(T * F);
  f.s_x_next = checkpointed ? A.take_n<float>(T * C) : nullptr;

  // ---- layers (each layer's x_in is its own copy of the residual stream)
  embedding_forward(f.d_tokens, T, bf(m.embed), V, C, c.num_layers > 0 ? f.layers[0].x_in : f.x_final, st);
  int64_t ai = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    float* x_next = l + 1 < c.num_layers ? f.layers[size_t(l + 1)].x_in : f.x_final;
    layer_forward(m, f, l, ai, f.layers[size_t(l)], x_next, A);
    if (m.layers[size_t(l)].attn) ++ai;
  }
  rmsnorm_forward(f.x_final, f32(m.final_norm), f.hidden, f.rstd_final, T, C, float(c.norm_eps), st);
}

const TrainLayerActs& train_layer_acts(CudaModel::Impl& m, TrainForward& f, int64_t l, Arena& A) {
  TrainLayerActs& a = f.layers[size_t(l)];
  if (f.checkpointed) layer_forward(m, f, l, attention_index(m.cfg, l), a, f.s_x_next, A);
  return a;
}

}  // namespace lfm2::cuda
