// The CPU backend of the op table (backend/backend_ops.h): each op runs the kernel the CPU engine runs, on the
// caller's arrays. Ops with several builds (GEMM, attention, SwiGLU, AdamW, the softmax row) take the build by name.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/backend_ops.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/backward/attention_backward.h"
#include "backend/cpu/backward/embedding_backward.h"
#include "backend/cpu/backward/rmsnorm_backward.h"
#include "backend/cpu/backward/rope_backward.h"
#include "backend/cpu/backward/shortconv_backward.h"
#include "backend/cpu/backward/softmax_rows.h"
#include "backend/cpu/backward/swiglu_backward.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/shortconv.h"
#include "backend/cpu/swiglu.h"
#include "core/error.h"
#include "model/lora_math.h"

namespace lfm2 {
namespace {

SimdIsa isa_named(const std::string& impl, const char* op) {
  SimdIsa isa = SimdIsa::Auto;
  LFM2_CHECK(simd_isa_from_name(impl.c_str(), &isa), op, ": impl must be one of auto, portable, avx2, avx512; got '",
             impl, "'");
  return isa;
}

GemmImpl gemm_impl_named(const std::string& impl) {
  for (GemmImpl i : {GemmImpl::Auto, GemmImpl::Portable, GemmImpl::Avx2, GemmImpl::Avx512, GemmImpl::Amx})
    if (impl == gemm_impl_name(i)) return i;
  fail("gemm: impl must be one of auto, portable, avx2, avx512, amx; got '", impl, "'");
}

// The builds of the attention tile loops this CPU runs (portable, AVX2 and AVX-512 families).
std::vector<std::string> attention_builds() {
  std::vector<std::string> out{"portable"};
  if (cpu_features().has_avx2_fma()) out.push_back("avx2");
  if (cpu_features().has_avx512()) out.push_back("avx512");
  return out;
}

// Element kernels that come portable and AVX-512 only (SwiGLU, AdamW, the softmax row).
std::vector<std::string> portable_and_avx512() {
  std::vector<std::string> out{"portable"};
  if (cpu_features().avx512f) out.push_back("avx512");
  return out;
}

class CpuOps final : public BackendOps {
 public:
  const char* name() const override { return "cpu"; }

  bool supports(Op op, DType a, DType b) const override {
    switch (op) {
      case Op::GemmNN:
      case Op::GemmNT:
      case Op::GemmMulti:
        return a == DType::F32;  // B in FP32 or BF16
      case Op::GemmTN:
        return a == DType::F32 && b == DType::F32;
      case Op::GemmTT:
      case Op::Sample:
        return false;
      case Op::Embedding:
      case Op::GrpoLoss:
        return true;  // FP32 or BF16 table / head
      default:
        return a == DType::F32 && b == DType::F32;
    }
  }

  std::vector<std::string> impls(Op op) const override {
    switch (op) {
      case Op::GemmNN:
      case Op::GemmNT:
      case Op::GemmTN:
      case Op::GemmMulti: {
        std::vector<std::string> out;
        for (GemmImpl i : gemm_supported_impls()) out.push_back(gemm_impl_name(i));
        return out;
      }
      case Op::Attention:
      case Op::AttentionPacked:
      case Op::AttentionBackward:
        return attention_builds();
      case Op::SwiGlu:
      case Op::SwiGluBackward:
      case Op::AdamW:
      case Op::RowExpStats:
        return portable_and_avx512();
      case Op::GrpoLoss:
        return {"fused", "unfused"};
      default:
        return {"auto"};
    }
  }

  void gemm(Op layout, const GemmCall& c, const std::string& impl) override {
    const GemmImpl gi = gemm_impl_named(impl);
    LFM2_CHECK(c.a_type == DType::F32, "gemm: the CPU backend takes an FP32 A");
    LFM2_CHECK(layout != Op::GemmTT, "gemm: layout 'tt' is not available on the CPU backend");
    LFM2_CHECK(layout != Op::GemmTN || c.b_type == DType::F32, "gemm: layout 'tn' needs an FP32 B");
    if (c.alpha == 1.f) return run_gemm(layout, gi, c, c.C, c.ldc, c.beta);
    // alpha ≠ 1: the product into scratch, then C = beta·C + alpha·product (beta = 0 never reads C).
    std::vector<float> prod(size_t(std::max<int64_t>(c.M * c.N, 1)));
    run_gemm(layout, gi, c, prod.data(), c.N, 0.f);
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t j = 0; j < c.N; ++j) {
        float& out = c.C[i * c.ldc + j];
        out = (c.beta == 0.f ? 0.f : c.beta * out) + c.alpha * prod[size_t(i * c.N + j)];
      }
  }

  void gemm_multi(int64_t M, int64_t K, const float* A, int64_t lda, DType b_type,
                  const std::vector<GemmNtPart>& parts, Precision precision, const std::string& impl) override {
    LFM2_CHECK(parts.size() <= size_t(kGemmMaxParts), "gemmMulti: at most ", kGemmMaxParts, " parts");
    gemm_nt_multi_with(gemm_impl_named(impl), M, K, A, lda, b_type, parts.data(), int(parts.size()), precision);
  }

  void rmsnorm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps) override {
    rmsnorm_forward(x, n, w, y, n, rstd, rows, n, eps);
  }
  void rmsnorm_backward(int64_t rows, int64_t n, const float* x, const float* w, const float* dy, float eps,
                        float* dx, float* dw) override {
    cpu::rmsnorm_backward(rows, n, x, w, dy, eps, dx, dw);
  }
  void rmsnorm_heads_backward(int64_t T, int64_t H, int64_t D, const float* x, const float* w, const float* dy,
                              float eps, float* dx, float* dw) override {
    cpu::rmsnorm_heads_backward(T, H, D, x, w, dy, eps, dx, dw);
  }

  void rope(float* x, const int32_t* pos, int64_t T, int64_t H, int64_t D, double theta) override {
    LFM2_CHECK(D % 2 == 0, "rope: head_dim must be even, got ", D);
    std::vector<float> c(size_t(T * D / 2)), s(size_t(T * D / 2));
    rope_table(pos, T, D, theta, c.data(), s.data());
    rope_forward(x, H * D, T, H, D, c.data(), s.data());
  }
  void rope_backward(int64_t T, int64_t H, int64_t D, const int32_t* pos, double theta, const float* dy,
                     float* dx) override {
    cpu::rope_backward(T, H, D, pos, theta, dy, dx);
  }

  void attention(const float* q, const float* k, const float* v, float* out, float* lse,
                 const std::vector<int64_t>& n_q, const std::vector<int64_t>& n_kv, int64_t H, int64_t KVH,
                 int64_t D, const std::string& impl) override {
    LFM2_CHECK(n_q.size() == n_kv.size(), "attention: ", n_q.size(), " query lengths but ", n_kv.size(),
               " context lengths");
    std::vector<AttentionSeq> seqs;
    int64_t oq = 0, okv = 0;
    for (size_t i = 0; i < n_q.size(); ++i) {
      LFM2_CHECK(n_q[i] <= n_kv[i], "attention: sequence ", i, " has ", n_kv[i], " keys for ", n_q[i], " queries");
      seqs.push_back({q + oq * H * D, k + okv * KVH * D, v + okv * KVH * D, out + oq * H * D,
                      lse ? lse + oq * H : nullptr, n_q[i], n_kv[i]});
      oq += n_q[i];
      okv += n_kv[i];
    }
    AttentionShape shape{H, KVH, D, H * D, KVH * D, H * D, 1.0f / std::sqrt(float(D))};
    shape.isa = isa_named(impl, "attention");
    attention_forward(seqs, shape);
  }
  void attention_packed(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::vector<int32_t>& cu, const float* q,
                        const float* k, const float* v, float* o, float* lse, const std::string& impl) override {
    cpu::attention_forward_stats(packed_shape(T, H, KVH, D, impl), int64_t(cu.size()) - 1, cu.data(), q, k, v, o,
                                 lse);
  }
  void attention_backward(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::vector<int32_t>& cu,
                          const float* q, const float* k, const float* v, const float* o, const float* lse,
                          const float* dout, float* dq, float* dk, float* dv, const std::string& impl) override {
    cpu::attention_backward(packed_shape(T, H, KVH, D, impl), int64_t(cu.size()) - 1, cu.data(), q, k, v, o, lse,
                            dout, dq, dk, dv);
  }

  void shortconv(const float* z, const float* kernel, float* y, const std::vector<int64_t>& lengths, float* states,
                 int64_t C) override {
    std::vector<ShortConvSeq> seqs;
    int64_t off = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      LFM2_CHECK(lengths[i] >= 1, "shortconv: sequence ", i, " has length ", lengths[i], " (must be ≥ 1)");
      seqs.push_back({z + off * 3 * C, y + off * C, states ? states + i * 2 * C : nullptr, lengths[i]});
      off += lengths[i];
    }
    shortconv_forward(seqs, kernel, C, 3 * C, C);
  }
  void shortconv_packed(int64_t C, const std::vector<int32_t>& cu, const float* z, const float* kernel,
                        float* y) override {
    cpu::shortconv_forward(C, int64_t(cu.size()) - 1, cu.data(), z, kernel, y);
  }
  void shortconv_backward(int64_t C, const std::vector<int32_t>& cu, const float* z, const float* kernel,
                          const float* dy, float* dz, float* dkernel) override {
    cpu::shortconv_backward(C, int64_t(cu.size()) - 1, cu.data(), z, kernel, dy, dz, dkernel);
  }

  void swiglu(const float* a, const float* b, float* out, int64_t n, const std::string& impl) override {
    swiglu_forward(a, b, out, n, isa_named(impl, "swiglu"));
  }
  void swiglu_backward(int64_t rows, int64_t F, const float* a, const float* b, const float* dh, float* da,
                       float* db, const std::string& impl) override {
    cpu::swiglu_backward(rows, F, a, b, F, dh, F, da, db, isa_named(impl, "swigluBackward"));
  }

  void embedding(const int32_t* ids, int64_t T, const void* table, DType type, int64_t V, int64_t C,
                 float* out) override {
    embedding_forward(ids, T, table, type, V, C, out);
  }
  void embedding_backward(int64_t T, int64_t V, int64_t C, const int32_t* ids, const float* dx, float* dE,
                          int64_t padding_idx) override {
    cpu::embedding_backward(T, V, C, ids, dx, dE, padding_idx);
  }

  GrpoLossStats grpo_loss(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out,
                          const std::string& impl) override {
    LFM2_CHECK(impl == "auto" || impl == "fused" || impl == "unfused",
               "grpoLoss: impl must be one of auto, fused, unfused; got '", impl, "'");
    return impl == "unfused" ? grpo_loss_unfused(in, opt, out) : grpo_loss_fused(in, opt, out);
  }
  AdamWResult adamw(const std::vector<AdamWTensor>& tensors, const AdamWConfig& cfg, int64_t step,
                    const std::string& impl) override {
    AdamWConfig c = cfg;
    c.isa = isa_named(impl, "adamw");
    return adamw_step(tensors, c, step);
  }

  void lora_forward(int64_t N, int64_t in, int64_t out, int64_t r, float s, const float* x, const float* A,
                    const float* B, float* xa, float* y) override {
    std::vector<float> scratch(xa ? 0 : size_t(N * r));
    lfm2::lora_forward(N, in, out, r, s, x, A, B, xa ? xa : scratch.data(), y);
  }
  void lora_backward(int64_t N, int64_t in, int64_t out, int64_t r, float s, const float* dy, const float* x,
                     const float* A, const float* B, float* dA, float* dB, float* dx) override {
    std::vector<float> xa(size_t(std::max<int64_t>(N * r, 1)));  // x·Aᵀ [N, r], as the forward kept it
    gemm_nt(N, r, in, x, in, A, DType::F32, in, xa.data(), r, 0.f);
    lfm2::lora_backward(N, in, out, r, s, dy, x, xa.data(), A, B, dA, dB, dx);
  }

  void gather_rows(const float* src, int64_t src_rows, const int32_t* rows, int64_t R, int64_t C,
                   float* dst) override {
    check_row_list("gather_rows", rows, R, src_rows, false);
    for (int64_t i = 0; i < R; ++i) std::copy(src + rows[i] * C, src + (rows[i] + 1) * C, dst + i * C);
  }
  void scatter_rows(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst,
                    int64_t dst_rows) override {
    check_row_list("scatter_rows", rows, R, dst_rows, true);
    for (int64_t i = 0; i < R; ++i) std::copy(src + i * C, src + (i + 1) * C, dst + rows[i] * C);
  }

  void row_exp_stats(float* z, int64_t V, float shift, double* sum, double* sum_ez, const std::string& impl) override {
    const SimdIsa isa = isa_named(impl, "rowExpStats");
    LFM2_CHECK(isa != SimdIsa::Avx2, "rowExpStats: there is no AVX2 build");
    LFM2_CHECK(isa != SimdIsa::Avx512 || cpu_features().avx512f, "rowExpStats: this CPU lacks AVX-512F");
    if (isa == SimdIsa::Portable) cpu::row_exp_stats_portable(z, V, shift, sum, sum_ez);
    else if (isa == SimdIsa::Avx512) cpu::row_exp_stats_avx512(z, V, shift, sum, sum_ez);
    else cpu::row_exp_stats(z, V, shift, sum, sum_ez);
  }

  SampleResult sample(const float*, int64_t, int64_t, const std::vector<SampleParams>&, const std::vector<float>&,
                      const std::vector<std::vector<int32_t>>&, const std::vector<std::vector<int32_t>>&,
                      const std::vector<bool>&) override {
    fail("sample: not available on the CPU backend (the CPU sampler runs inside Sampler)");
  }

 private:
  static void run_gemm(Op layout, GemmImpl gi, const GemmCall& c, float* C, int64_t ldc, float beta) {
    if (layout == Op::GemmNT)
      gemm_nt_with(gi, c.M, c.N, c.K, static_cast<const float*>(c.A), c.lda, c.B, c.b_type, c.ldb, C, ldc, beta,
                   c.precision);
    else if (layout == Op::GemmNN)
      gemm_nn_with(gi, c.M, c.N, c.K, static_cast<const float*>(c.A), c.lda, c.B, c.b_type, c.ldb, C, ldc, beta,
                   c.precision);
    else
      gemm_tn_with(gi, c.M, c.N, c.K, static_cast<const float*>(c.A), c.lda, static_cast<const float*>(c.B), c.ldb,
                   C, ldc, beta, c.precision);
  }
  static cpu::AttentionShape packed_shape(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::string& impl) {
    cpu::AttentionShape s;
    s.tokens = T, s.q_heads = H, s.kv_heads = KVH, s.head_dim = D;
    s.isa = isa_named(impl, "attention");
    return s;
  }
};

}  // namespace

BackendOps& cpu_backend_ops() {
  static CpuOps ops;
  return ops;
}

}  // namespace lfm2
