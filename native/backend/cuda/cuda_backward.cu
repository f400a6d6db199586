#include "backend/cuda/cuda_backward.cuh"

#include <cmath>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/convert.cuh"
#include "backend/cuda/cuda_train_kernels.cuh"
#include "backend/cuda/rmsnorm.cuh"
#include "backend/cuda/rope.cuh"
#include "backend/cuda/shortconv.cuh"
#include "backend/cuda/swiglu.cuh"

namespace lfm2::cuda {
namespace {

struct Ctx {
  CudaModel::Impl& m;
  CudaLora* lora;
  Arena& arena;
  int64_t T;
};

// Backward of y = x·Wᵀ (W [out, in]) (+ the adapter term): dx = beta·dx + dy·W (+ adapter share); dW += dyᵀ·x.
void linear_backward(const Ctx& c, const DeviceBuffer& W, const __nv_bfloat16* x, const __nv_bfloat16* dy,
                     int64_t out, int64_t in, float* dx, float beta, float* dW, int64_t layer, LinearKind kind) {
  Gemm& g = *c.m.gemm;
  g.run(GemmShape{c.T, in, out, false, false, 1.f, beta}, dy, bf(W), dx, c.m.stream);   // [T, in]
  if (dW) g.run(GemmShape{out, in, c.T, true, false, 1.f, 1.f}, dy, x, dW, c.m.stream);  // [out, in]
  if (c.lora)
    if (const CudaLoraModule* lm = c.lora->find(layer, kind))
      c.lora->backward(const_cast<CudaLoraModule&>(*lm), x, dy, c.T, dx, g, c.arena, c.m.stream);
}

}  // namespace

void train_backward(CudaModel::Impl& m, TrainForward& f, const float* dhidden, const CudaGrads& grads,
                    CudaLora* lora, Arena& A) {
  const Lfm2Config& cfg = m.cfg;
  const int64_t T = f.T, nseq = f.nseq, C = cfg.hidden_size, F = cfg.ff_dim, H = cfg.num_heads;
  const int64_t KVH = cfg.num_kv_heads, D = cfg.head_dim, HD = H * D, KW = KVH * D, V = cfg.vocab_size;
  cudaStream_t st = m.stream;
  const Ctx c{m, lora, A, T};
  static const CudaGrads::Layer kFrozen{};
  auto lg = [&](int64_t l) -> const CudaGrads::Layer& {
    return grads.layers.empty() ? kFrozen : grads.layers[size_t(l)];
  };

  float* dx = A.take_n<float>(T * C);                           // [T, C] residual-stream gradient
  float* dh = A.take_n<float>(T * C);                           // [T, C] norm-output gradient
  float* dh2 = A.take_n<float>(T * C);                          // [T, C] norm-input gradient
  float* dwide = A.take_n<float>(T * std::max({F, 3 * C, HD}));  // [T, F] d(silu(a)⊙b), [T, 3C] dz, [T, HD] dO
  float* da = A.take_n<float>(T * F);                           // [T, F]
  float* db = A.take_n<float>(T * F);                           // [T, F]
  float* act = A.take_n<float>(T * F);                          // [T, F] silu(a)⊙b recomputed
  float* dyc = A.take_n<float>(T * C);                          // [T, C] conv-output gradient
  float* dq = A.take_n<float>(T * HD);
  float* dq2 = A.take_n<float>(T * HD);
  float* dk = A.take_n<float>(T * KW);
  float* dk2 = A.take_n<float>(T * KW);
  float* dv = A.take_n<float>(T * KW);
  __nv_bfloat16* dy_bf = A.take_n<__nv_bfloat16>(T * std::max({F, 3 * C, HD}));  // BF16 of the current dy
  __nv_bfloat16* db_bf = A.take_n<__nv_bfloat16>(T * std::max(F, KW));           // second BF16 dy (w3 / k)
  __nv_bfloat16* dv_bf = A.take_n<__nv_bfloat16>(T * KW);
  __nv_bfloat16* x_bf = A.take_n<__nv_bfloat16>(T * std::max(F, HD));           // recomputed BF16 GEMM input
  float* dummy_kernel = A.take_n<float>(C * 3);                                  // sink of a frozen conv kernel
  // dk/dv row pointers per sequence (the same buffers serve every attention layer).
  std::vector<float*> dkv(size_t(2 * nseq));
  for (int64_t i = 0; i < nseq; ++i) {
    dkv[size_t(i)] = dk + int64_t(f.row0[size_t(i)]) * KW;
    dkv[size_t(nseq + i)] = dv + int64_t(f.row0[size_t(i)]) * KW;
  }
  float** d_dkv = A.take_n<float*>(2 * nseq);
  CUDA_CHECK(cudaMemcpyAsync(d_dkv, dkv.data(), dkv.size() * sizeof(float*), cudaMemcpyHostToDevice, st));

  // x_out = RMSNorm(x_final; final_norm)
  rmsnorm_backward(f.x_final, f32(m.final_norm), f.rstd_final, dhidden, dx, grads.final_norm, T, C, st);

  int64_t ai = cfg.num_attention_layers();
  for (int64_t l = cfg.num_layers - 1; l >= 0; --l) {
    const DevLayer& L = m.layers[size_t(l)];
    const TrainLayerActs& a = train_layer_acts(m, f, l, A);
    const CudaGrads::Layer& G = lg(l);
    // ---- FFN: x_next = r + (silu(a) ⊙ b)·W2ᵀ, a = g·W1ᵀ, b = g·W3ᵀ, g = RMSNorm(r; ffn_norm)
    f32_to_bf16(dx, dy_bf, T * C, st);
    swiglu_forward(a.a, a.b, act, T * F, st);
    f32_to_bf16(act, x_bf, T * F, st);
    linear_backward(c, L.w2, x_bf, dy_bf, C, F, dwide, 0.f, G.w2, l, LinearKind::W2);  // d act [T, F]
    swiglu_backward(a.a, a.b, dwide, da, db, T * F, st);
    f32_to_bf16(da, dy_bf, T * F, st);
    f32_to_bf16(db, db_bf, T * F, st);
    linear_backward(c, L.w1, a.g_bf, dy_bf, F, C, dh, 0.f, G.w1, l, LinearKind::W1);
    linear_backward(c, L.w3, a.g_bf, db_bf, F, C, dh, 1.f, G.w3, l, LinearKind::W3);
    rmsnorm_backward(a.r, f32(L.ffn_norm), a.rstd_ffn, dh, dh2, G.ffn_norm, T, C, st);
    add_into(dx, dh2, T * C, st);  // dx = dr
    // ---- operator: r = x_in + Op(h), h = RMSNorm(x_in; operator_norm)
    f32_to_bf16(dx, dy_bf, T * C, st);
    if (L.attn) {
      --ai;
      float* dO = dwide;  // [T, H·D]
      f32_to_bf16(a.o, x_bf, T * HD, st);
      linear_backward(c, L.o, x_bf, dy_bf, C, HD, dO, 0.f, G.o, l, LinearKind::O);
      CUDA_CHECK(cudaMemsetAsync(dk, 0, size_t(T * KW) * 4, st));
      CUDA_CHECK(cudaMemsetAsync(dv, 0, size_t(T * KW) * 4, st));
      const AttentionBatch b = f.attention_batch(cfg, ai);
      attention_backward(b, a.q_hat, a.o, a.lse, dO, dq, d_dkv, d_dkv + nseq, st);
      rope_backward(dq, f.d_pos, T, H, D, cfg.rope_theta, st);
      rope_backward(dk, f.d_pos, T, KVH, D, cfg.rope_theta, st);
      rmsnorm_backward(a.q_pre, f32(L.q_norm), a.rstd_q, dq, dq2, G.q_norm, T * H, D, st);
      rmsnorm_backward(a.k_pre, f32(L.k_norm), a.rstd_k, dk, dk2, G.k_norm, T * KVH, D, st);
      f32_to_bf16(dq2, dy_bf, T * HD, st);
      f32_to_bf16(dk2, db_bf, T * KW, st);
      f32_to_bf16(dv, dv_bf, T * KW, st);
      linear_backward(c, L.q, a.h_bf, dy_bf, HD, C, dh, 0.f, G.q, l, LinearKind::Q);
      linear_backward(c, L.k, a.h_bf, db_bf, KW, C, dh, 1.f, G.k, l, LinearKind::K);
      linear_backward(c, L.v, a.h_bf, dv_bf, KW, C, dh, 1.f, G.v, l, LinearKind::V);
    } else {
      float* dz = dwide;  // [T, 3C]
      linear_backward(c, L.conv_out, a.y_bf, dy_bf, C, C, dyc, 0.f, G.conv_out, l, LinearKind::ConvOut);
      shortconv_backward(a.z, f32(L.conv_kernel), dyc, dz, G.conv_kernel ? G.conv_kernel : dummy_kernel, f.d_row0,
                         nseq, C, st);
      f32_to_bf16(dz, dy_bf, T * 3 * C, st);
      linear_backward(c, L.conv_in, a.h_bf, dy_bf, 3 * C, C, dh, 0.f, G.conv_in, l, LinearKind::ConvIn);
    }
    rmsnorm_backward(a.x_in, f32(L.op_norm), a.rstd_op, dh, dh2, G.op_norm, T, C, st);
    add_into(dx, dh2, T * C, st);  // dx = d x_in
  }
  // x_0 = E[ids]: the lookup term of the embedding (the tied head term comes from the loss).
  if (grads.embed) embedding_backward_padded(f.d_tokens, T, dx, V, C, cfg.pad_token_id, grads.embed, st);
}

}  // namespace lfm2::cuda
