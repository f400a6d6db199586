// The CUDA backend of the op table (backend/backend_ops.h): each op uploads the host arrays, runs the kernel the
// GPU engine runs, on the default stream, and downloads the results.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "backend/backend_ops.h"
#include "backend/cuda/adamw.cuh"
#include "backend/cuda/attention.cuh"
#include "backend/cuda/convert.cuh"
#include "backend/cuda/cuda_api.h"
#include "backend/cuda/cuda_lora.cuh"
#include "backend/cuda/cuda_train_kernels.cuh"
#include "backend/cuda/embedding.cuh"
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/grpo_loss.cuh"
#include "backend/cuda/memory.cuh"
#include "backend/cuda/rmsnorm.cuh"
#include "backend/cuda/rope.cuh"
#include "backend/cuda/sampling.cuh"
#include "backend/cuda/shortconv.cuh"
#include "backend/cuda/swiglu.cuh"

namespace lfm2 {
namespace {

using namespace lfm2::cuda;
using cuda_api::require_device;

// Device copies of host arrays for one call; freed together.
class Staging {
 public:
  template <typename T>
  T* in(const T* host, int64_t n) {
    T* d = alloc<T>(n);
    if (host && n > 0) upload(d, host, size_t(n) * sizeof(T), nullptr);
    return d;
  }
  template <typename T>
  T* alloc(int64_t n) {
    bufs_.emplace_back(size_t(std::max<int64_t>(n, 1)) * sizeof(T));
    return bufs_.back().as<T>();
  }
  template <typename T>
  T* zeros(int64_t n) {
    T* d = alloc<T>(n);
    CUDA_CHECK(cudaMemset(d, 0, size_t(std::max<int64_t>(n, 1)) * sizeof(T)));
    return d;
  }
  // BF16 device copy of host FP32 values, rounded on the device as the engine rounds its GEMM inputs.
  __nv_bfloat16* in_bf16(const float* host, int64_t n) {
    auto* d = reinterpret_cast<__nv_bfloat16*>(alloc<uint16_t>(n));
    f32_to_bf16(in(host, n), d, n, nullptr);
    return d;
  }
  template <typename T>
  void out(T* host, const T* dev, int64_t n) {
    if (host && n > 0) download(host, dev, size_t(n) * sizeof(T), nullptr);
  }

 private:
  std::vector<DeviceBuffer> bufs_;
};

Gemm& shared_gemm() {
  static std::mutex mu;
  static std::unique_ptr<Gemm> g;
  std::lock_guard<std::mutex> lock(mu);
  if (!g) g = std::make_unique<Gemm>();
  return *g;
}

// The kernels take row offsets of non-empty sequences: empty ones (allowed in a packed batch) are dropped.
std::vector<int32_t> nonempty_offsets(const std::vector<int32_t>& cu) {
  std::vector<int32_t> off{cu.empty() ? 0 : cu[0]};
  for (size_t i = 1; i < cu.size(); ++i)
    if (cu[i] > cu[i - 1]) off.push_back(cu[i]);
  return off;
}
std::vector<int64_t> lengths_of(const std::vector<int32_t>& off) {
  std::vector<int64_t> len;
  for (size_t i = 1; i < off.size(); ++i) len.push_back(off[i] - off[i - 1]);
  return len;
}
std::vector<int32_t> offsets_of(const std::vector<int64_t>& lengths, const char* what) {
  std::vector<int32_t> off(lengths.size() + 1, 0);
  for (size_t i = 0; i < lengths.size(); ++i) {
    LFM2_CHECK(lengths[i] >= 1, what, ": sequence ", i, " has length ", lengths[i], " (must be ≥ 1)");
    LFM2_CHECK(int64_t(off[i]) + lengths[i] < 0x7fffffff, what, ": too many rows");
    off[i + 1] = off[i] + int32_t(lengths[i]);
  }
  return off;
}
int64_t total(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

// The device description of a ragged attention batch whose K/V rows are packed in dk/dv.
AttentionBatch make_batch(Staging& s, const std::vector<int64_t>& n_q, const std::vector<int64_t>& n_kv,
                          const float* dk, const float* dv, int64_t H, int64_t KVH, int64_t D) {
  LFM2_CHECK(n_q.size() == n_kv.size(), "attention: ", n_q.size(), " query lengths but ", n_kv.size(),
             " context lengths");
  std::vector<int32_t> qoff = offsets_of(n_q, "attention");
  std::vector<int32_t> qpos0(n_q.size()), row_seq(qoff.back());
  std::vector<const float*> kp(n_q.size()), vp(n_q.size());
  int64_t kv_row = 0;
  for (size_t i = 0; i < n_q.size(); ++i) {
    LFM2_CHECK(n_kv[i] >= n_q[i], "attention: sequence ", i, " has ", n_kv[i], " keys for ", n_q[i], " queries");
    qpos0[i] = int32_t(n_kv[i] - n_q[i]);
    for (int32_t r = qoff[i]; r < qoff[i + 1]; ++r) row_seq[r] = int32_t(i);
    kp[i] = dk + kv_row * KVH * D;
    vp[i] = dv + kv_row * KVH * D;
    kv_row += n_kv[i];
  }
  AttentionBatch b;
  b.T = qoff.back();
  b.nseq = int64_t(n_q.size());
  b.H = H, b.KVH = KVH, b.D = D;
  b.scale = float(1.0 / std::sqrt(double(D)));
  b.q_row0 = s.in(qoff.data(), int64_t(qoff.size()));
  b.q_pos0 = s.in(qpos0.data(), int64_t(qpos0.size()));
  b.row_seq = s.in(row_seq.data(), int64_t(row_seq.size()));
  b.k = s.in(kp.data(), int64_t(kp.size()));
  b.v = s.in(vp.data(), int64_t(vp.size()));
  return b;
}

// A [rows, cols] matrix with row stride ld as a contiguous copy (the GPU GEMM takes packed operands).
template <typename T>
std::vector<T> packed(const T* m, int64_t rows, int64_t cols, int64_t ld) {
  std::vector<T> out(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) std::copy(m + r * ld, m + r * ld + cols, out.data() + r * cols);
  return out;
}

void check_impl(const std::string& impl, std::initializer_list<const char*> allowed, const char* op) {
  for (const char* a : allowed)
    if (impl == a) return;
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  fail(op, ": impl must be one of ", list, " on the CUDA backend; got '", impl, "'");
}

// The fused GRPO loss on the CPU loss's types (BF16 head): checks and per-row aggregation weights on the host, the
// fused kernel on the device, statistics summed back on the host. dhidden written, dhead accumulated (both nullable).
GrpoLossStats grpo_loss_host(const GrpoLossInputs& a, const GrpoLossOptions& opt, const GrpoLossOutputs& o) {
  const int64_t N = a.rows, V = a.vocab, C = a.dim;
  float *dhidden = o.dhidden, *dhead = o.dhead, *logp = o.logp, *entropy = o.entropy;
  LFM2_CHECK(N >= 1 && V >= 1 && C >= 1, "grpo_loss: bad shape rows=", N, " vocab=", V, " dim=", C);
  LFM2_CHECK(a.head_dtype == DType::BF16, "grpo_loss: the GPU loss takes a BF16 head");
  LFM2_CHECK(opt.temperature > 0, "grpo_loss: temperature must be positive, got ", opt.temperature);
  const bool sft = opt.loss_type == GrpoLossType::Sft;
  check_sft_options(opt, "grpo_loss: ");  // the CPU loss's sft checks, same messages
  LFM2_CHECK(sft || a.advantages, "grpo_loss: advantages are required (only sft goes without)");
  LFM2_CHECK(!(sft && a.is_weight), "grpo_loss: loss_type sft takes no importance weights");
  LFM2_CHECK(opt.beta == 0.f || a.ref_logp, "grpo_loss: beta ≠ 0 needs reference log-probs");
  LFM2_CHECK(opt.loss_type != GrpoLossType::DrGrpo || opt.max_completion_length > 0,
             "grpo_loss: dr_grpo needs max_completion_length > 0");
  LFM2_CHECK(opt.chunk_rows >= 1, "grpo_loss: chunk_rows must be ≥ 1");
  std::unordered_map<int32_t, double> seq_tokens;  // sequence id → |o_i|
  double tokens = 0;
  for (int64_t n = 0; n < N; ++n) {
    LFM2_CHECK(a.targets[n] >= 0 && a.targets[n] < V, "grpo_loss: target ", a.targets[n], " at row ", n,
               " outside [0, ", V, ")");
    check_mask_value(a.mask[n], opt.loss_type, "grpo_loss: mask at row ", n);
    LFM2_CHECK(a.seq_ids[n] >= 0, "grpo_loss: seq_ids[", n, "] = ", a.seq_ids[n], " is negative");
    seq_tokens[a.seq_ids[n]] += a.mask[n];
    tokens += a.mask[n];
  }
  // Aggregation weights c_n (grpo_loss.h): the GPU kernel multiplies each row's loss and gradient by them.
  const double nseq = opt.sequence_normalizer > 0 ? opt.sequence_normalizer : double(seq_tokens.size());
  const double ntok = opt.token_normalizer > 0 ? opt.token_normalizer : std::max(1.0, tokens);
  std::vector<double> c(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    if (opt.loss_type == GrpoLossType::Grpo)
      c[size_t(n)] = 1.0 / (std::max(1.0, seq_tokens[a.seq_ids[n]]) * nseq);
    else if (opt.loss_type == GrpoLossType::DrGrpo)
      c[size_t(n)] = 1.0 / (nseq * double(opt.max_completion_length));
    else
      c[size_t(n)] = 1.0 / ntok;
  }
  require_device();
  Gemm& g = shared_gemm();
  Staging s;
  GrpoDeviceInputs in;
  in.rows = N, in.vocab = V, in.dim = C;
  in.hidden = s.in(a.hidden, N * C);
  in.head = reinterpret_cast<const __nv_bfloat16*>(s.in(static_cast<const uint16_t*>(a.head), V * C));
  in.targets = s.in(a.targets, N);
  in.old_logp = a.old_logp ? s.in(a.old_logp, N) : nullptr;
  in.ref_logp = a.ref_logp ? s.in(a.ref_logp, N) : nullptr;
  in.advantages = a.advantages ? s.in(a.advantages, N) : nullptr;
  in.mask = s.in(a.mask, N);
  in.is_weight = a.is_weight ? s.in(a.is_weight, N) : nullptr;
  in.row_weight = s.in(c.data(), N);
  GrpoDeviceOptions dopt;
  dopt.epsilon_low = opt.epsilon_low, dopt.epsilon_high = opt.epsilon_high, dopt.beta = opt.beta;
  dopt.temperature = opt.temperature, dopt.chunk_rows = opt.chunk_rows;
  dopt.sft = sft;
  GrpoDeviceOutputs out;
  out.terms = s.alloc<double>(N * kGrpoTerms);
  out.logp = s.alloc<float>(N);
  out.entropy = s.alloc<float>(N);
  out.dhidden = dhidden ? s.alloc<float>(N * C) : nullptr;
  out.dhead = dhead ? s.in(dhead, V * C) : nullptr;
  Arena arena;
  grpo_loss_forward_backward(in, dopt, out, g, arena, nullptr);
  std::vector<double> terms(size_t(N * kGrpoTerms));
  std::vector<float> lp(static_cast<size_t>(N));
  std::vector<float> ent(static_cast<size_t>(N));
  s.out(terms.data(), out.terms, N * kGrpoTerms);
  s.out(lp.data(), out.logp, N);
  s.out(ent.data(), out.entropy, N);
  if (dhidden) s.out(dhidden, out.dhidden, N * C);
  if (dhead) s.out(dhead, out.dhead, V * C);
  GrpoLossStats st;
  for (int64_t n = 0; n < N; ++n) {
    LFM2_CHECK(std::isfinite(lp[size_t(n)]) && std::isfinite(ent[size_t(n)]), "grpo_loss: non-finite logits at row ",
               n, " (NaN or Inf in the hidden states or the head)");
    const double m = a.mask[n];
    const double* t = terms.data() + n * kGrpoTerms;
    st.loss += t[0];
    st.tokens += m;
    st.kl_sum += t[1];
    st.entropy_sum += m * ent[size_t(n)];
    st.clip_low += t[2];
    st.clip_high += t[3];
    st.clip_region += t[4];
    st.correct += t[5];
  }
  if (logp) std::copy(lp.begin(), lp.end(), logp);
  if (entropy) std::copy(ent.begin(), ent.end(), entropy);
  return st;
}

// One token per row (sampling.cuh): the parameters checked and the id lists flattened on the host.
SampleResult sample_host(const float* logits, int64_t R, int64_t V, const std::vector<SampleParams>& params,
                         const std::vector<float>& uniform, const std::vector<std::vector<int32_t>>& seen,
                         const std::vector<std::vector<int32_t>>& allowed, const std::vector<bool>& all_allowed) {
  LFM2_CHECK(R >= 1 && V >= 1, "sample: bad shape R=", R, " V=", V);
  LFM2_CHECK(int64_t(params.size()) == R && int64_t(uniform.size()) == R && int64_t(seen.size()) == R &&
                 int64_t(allowed.size()) == R && int64_t(all_allowed.size()) == R,
             "sample: every per-row list needs ", R, " entries");
  std::vector<cuda::SampleRowParams> rp(static_cast<size_t>(R));
  std::vector<int32_t> seen_flat, allowed_flat;
  for (int64_t r = 0; r < R; ++r) {
    const SampleParams& q = params[size_t(r)];
    LFM2_CHECK(q.temperature >= 0 && std::isfinite(q.temperature), "sample: row ", r, " temperature ", q.temperature);
    LFM2_CHECK(q.top_k >= 0, "sample: row ", r, " top_k must be ≥ 0");
    LFM2_CHECK(q.top_p > 0 && q.top_p <= 1, "sample: row ", r, " top_p must be in (0, 1]");
    LFM2_CHECK(q.min_p >= 0 && q.min_p <= 1, "sample: row ", r, " min_p must be in [0, 1]");
    LFM2_CHECK(q.repetition_penalty > 0, "sample: row ", r, " repetition_penalty must be positive");
    LFM2_CHECK(uniform[size_t(r)] >= 0 && uniform[size_t(r)] < 1, "sample: row ", r, " uniform must be in [0, 1)");
    cuda::SampleRowParams& d = rp[size_t(r)];
    d.temperature = q.temperature, d.top_k = q.top_k, d.top_p = q.top_p, d.min_p = q.min_p;
    d.repetition_penalty = q.repetition_penalty, d.uniform = uniform[size_t(r)];
    std::set<int32_t> uniq;
    for (int32_t id : seen[size_t(r)]) {
      LFM2_CHECK(id >= 0 && id < V, "sample: row ", r, " seen id ", id, " outside [0, ", V, ")");
      uniq.insert(id);
    }
    d.seen_begin = int32_t(seen_flat.size());
    seen_flat.insert(seen_flat.end(), uniq.begin(), uniq.end());
    d.seen_end = int32_t(seen_flat.size());
    if (all_allowed[size_t(r)]) {
      d.allowed_end = -1;
    } else {
      LFM2_CHECK(!allowed[size_t(r)].empty(), "sample: row ", r, " allows no token");
      d.allowed_begin = int32_t(allowed_flat.size());
      for (int32_t id : allowed[size_t(r)]) {
        LFM2_CHECK(id >= 0 && id < V, "sample: row ", r, " allowed id ", id, " outside [0, ", V, ")");
        allowed_flat.push_back(id);
      }
      d.allowed_end = int32_t(allowed_flat.size());
    }
  }
  require_device();
  Staging s;
  const float* d_logits = s.in(logits, R * V);
  float* d_scratch = s.alloc<float>(R * V);
  auto* d_params = s.in(rp.data(), R);
  const int32_t* d_seen = s.in(seen_flat.data(), int64_t(seen_flat.size()));
  const int32_t* d_allowed = s.in(allowed_flat.data(), int64_t(allowed_flat.size()));
  int32_t* d_tok = s.alloc<int32_t>(R);
  float* d_logq = s.alloc<float>(R);
  float* d_logp = s.alloc<float>(R);
  cuda::sample_rows(d_logits, d_scratch, R, V, d_params, d_seen, d_allowed, d_tok, d_logq, d_logp, nullptr);
  SampleResult res;
  res.token.resize(size_t(R));
  res.logq.resize(size_t(R));
  res.logp.resize(size_t(R));
  s.out(res.token.data(), d_tok, R);
  s.out(res.logq.data(), d_logq, R);
  s.out(res.logp.data(), d_logp, R);
  return res;
}

class CudaOps final : public BackendOps {
 public:
  const char* name() const override { return "cuda"; }

  bool supports(Op op, DType a, DType b) const override {
    switch (op) {
      case Op::GemmNN:
      case Op::GemmNT:
      case Op::GemmTN:
      case Op::GemmTT:
        return a == DType::BF16 && b == DType::BF16;  // BF16 inputs, FP32 accumulation and output
      case Op::GemmMulti:
      case Op::RowExpStats:
        return false;  // CPU kernel structures with no GPU counterpart
      case Op::Embedding:
      case Op::GrpoLoss:
        return a == DType::BF16;  // the GPU engine keeps the table / head in BF16
      default:
        return a == DType::F32 && b == DType::F32;
    }
  }

  std::vector<std::string> impls(Op op) const override {
    if (op == Op::GemmNN || op == Op::GemmNT || op == Op::GemmTN || op == Op::GemmTT) {
      std::vector<std::string> out{"tiled"};  // the fallback kernel, always there
      if (cuda_api::device_status().cublaslt) out.push_back("cublaslt");
      return out;
    }
    return {"auto"};
  }

  void gemm(Op layout, const GemmCall& c, const std::string& impl) override {
    check_impl(impl, {"auto", "tiled", "cublaslt"}, "gemm");
    LFM2_CHECK(c.a_type == DType::BF16 && c.b_type == DType::BF16, "gemm: the CUDA backend takes BF16 A and B");
    const bool ta = layout == Op::GemmTN || layout == Op::GemmTT, tb = layout == Op::GemmNT || layout == Op::GemmTT;
    const int64_t M = c.M, N = c.N, K = c.K;
    if (M == 0 || N == 0) return;
    if (K == 0) {  // an empty product: C = beta·C
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) c.C[i * c.ldc + j] = c.beta == 0.f ? 0.f : c.beta * c.C[i * c.ldc + j];
      return;
    }
    require_device();
    const std::vector<uint16_t> A = packed(static_cast<const uint16_t*>(c.A), ta ? K : M, ta ? M : K, c.lda);
    const std::vector<uint16_t> B = packed(static_cast<const uint16_t*>(c.B), tb ? N : K, tb ? K : N, c.ldb);
    // beta = 0 never reads C: zeros go up instead, so NaN in C stays out of the product.
    std::vector<float> C = c.beta == 0.f ? std::vector<float>(size_t(M * N), 0.f) : packed(c.C, M, N, c.ldc);
    Gemm& g = shared_gemm();
    Staging s;
    auto* dA = reinterpret_cast<__nv_bfloat16*>(s.in(A.data(), M * K));
    auto* dB = reinterpret_cast<__nv_bfloat16*>(s.in(B.data(), K * N));
    float* dC = s.in(C.data(), M * N);
    g.set_force_fallback(impl == "tiled");
    try {
      LFM2_CHECK(impl != "cublaslt" || g.uses_cublaslt(), "gemm: cuBLASLt is not loaded: ", g.cublaslt_status());
      g.run(GemmShape{M, N, K, ta, tb, c.alpha, c.beta}, dA, dB, dC, nullptr);
    } catch (...) {
      g.set_force_fallback(false);
      throw;
    }
    g.set_force_fallback(false);
    s.out(C.data(), dC, M * N);
    for (int64_t i = 0; i < M; ++i) std::copy(C.data() + i * N, C.data() + (i + 1) * N, c.C + i * c.ldc);
  }

  void gemm_multi(int64_t, int64_t, const float*, int64_t, DType, const std::vector<GemmNtPart>&, Precision,
                  const std::string&) override {
    fail("gemmMulti: not available on the CUDA backend");
  }

  void rmsnorm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps) override {
    require_device();
    Staging s;
    float* dy = s.alloc<float>(rows * n);
    float* dr = s.alloc<float>(rows);
    cuda::rmsnorm_forward(s.in(x, rows * n), s.in(w, n), dy, dr, rows, n, eps, nullptr);
    s.out(y, dy, rows * n);
    s.out(rstd, dr, rows);
  }
  void rmsnorm_backward(int64_t rows, int64_t n, const float* x, const float* w, const float* dy, float eps,
                        float* dx, float* dw) override {
    require_device();
    Staging s;
    float *d_x = s.in(x, rows * n), *d_w = s.in(w, n), *d_dy = s.in(dy, rows * n);
    float* d_r = s.alloc<float>(rows);  // rstd from the forward kernel, as the engine keeps it
    float* d_y = s.alloc<float>(rows * n);
    float* d_dx = s.alloc<float>(rows * n);
    float* d_dw = s.in(dw, n);
    cuda::rmsnorm_forward(d_x, d_w, d_y, d_r, rows, n, eps, nullptr);
    cuda::rmsnorm_backward(d_x, d_w, d_r, d_dy, d_dx, d_dw, rows, n, nullptr);
    s.out(dx, d_dx, rows * n);
    s.out(dw, d_dw, n);
  }
  void rmsnorm_heads_backward(int64_t T, int64_t H, int64_t D, const float* x, const float* w, const float* dy,
                              float eps, float* dx, float* dw) override {
    rmsnorm_backward(T * H, D, x, w, dy, eps, dx, dw);  // the GPU engine runs the per-head norm over [T·H, D]
  }

  void rope(float* x, const int32_t* pos, int64_t T, int64_t H, int64_t D, double theta) override {
    rotate(x, x, pos, T, H, D, theta, false);
  }
  void rope_backward(int64_t T, int64_t H, int64_t D, const int32_t* pos, double theta, const float* dy,
                     float* dx) override {
    rotate(dy, dx, pos, T, H, D, theta, true);
  }

  void attention(const float* q, const float* k, const float* v, float* out, float* lse,
                 const std::vector<int64_t>& n_q, const std::vector<int64_t>& n_kv, int64_t H, int64_t KVH,
                 int64_t D, const std::string& impl) override {
    check_impl(impl, {"auto"}, "attention");
    require_device();
    const int64_t T = total(n_q), TK = total(n_kv);
    Staging s;
    float* d_k = s.in(k, TK * KVH * D);
    float* d_v = s.in(v, TK * KVH * D);
    float* d_o = s.alloc<float>(T * H * D);
    float* d_l = s.alloc<float>(T * H);
    AttentionBatch b = make_batch(s, n_q, n_kv, d_k, d_v, H, KVH, D);
    cuda::attention_forward(b, s.in(q, T * H * D), d_o, d_l, nullptr);
    s.out(out, d_o, T * H * D);
    s.out(lse, d_l, T * H);
  }
  void attention_packed(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::vector<int32_t>& cu, const float* q,
                        const float* k, const float* v, float* o, float* lse, const std::string& impl) override {
    const std::vector<int64_t> len = lengths_of(nonempty_offsets(cu));
    attention(q, k, v, o, lse, len, len, H, KVH, D, impl);
  }
  void attention_backward(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::vector<int32_t>& cu,
                          const float* q, const float* k, const float* v, const float* o, const float* lse,
                          const float* dout, float* dq, float* dk, float* dv, const std::string& impl) override {
    check_impl(impl, {"auto"}, "attentionBackward");
    LFM2_CHECK((o == nullptr) == (lse == nullptr), "attentionBackward: give both o and lse, or neither");
    require_device();
    const std::vector<int64_t> lengths = lengths_of(nonempty_offsets(cu));
    Staging s;
    float* d_q = s.in(q, T * H * D);
    float* d_k = s.in(k, T * KVH * D);
    float* d_v = s.in(v, T * KVH * D);
    float* d_do = s.in(dout, T * H * D);
    float* d_dq = s.zeros<float>(T * H * D);
    float* d_dk = s.zeros<float>(T * KVH * D);
    float* d_dv = s.zeros<float>(T * KVH * D);
    if (lengths.empty()) return download_all(s, dq, d_dq, dk, d_dk, dv, d_dv, T * H * D, T * KVH * D);
    AttentionBatch b = make_batch(s, lengths, lengths, d_k, d_v, H, KVH, D);
    float* d_o = o ? s.in(o, T * H * D) : s.alloc<float>(T * H * D);
    float* d_l = lse ? s.in(lse, T * H) : s.alloc<float>(T * H);
    if (!o) cuda::attention_forward(b, d_q, d_o, d_l, nullptr);  // recomputed, as the engine would
    std::vector<float*> dkp(lengths.size()), dvp(lengths.size());
    int64_t row = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      dkp[i] = d_dk + row * KVH * D;
      dvp[i] = d_dv + row * KVH * D;
      row += lengths[i];
    }
    cuda::attention_backward(b, d_q, d_o, d_l, d_do, d_dq, s.in(dkp.data(), int64_t(dkp.size())),
                             s.in(dvp.data(), int64_t(dvp.size())), nullptr);
    download_all(s, dq, d_dq, dk, d_dk, dv, d_dv, T * H * D, T * KVH * D);
  }

  void shortconv(const float* z, const float* kernel, float* y, const std::vector<int64_t>& lengths, float* states,
                 int64_t C) override {
    const std::vector<int32_t> off = offsets_of(lengths, "shortconv");
    const int64_t T = off.back(), nseq = int64_t(lengths.size());
    require_device();
    Staging s;
    float* d_y = s.alloc<float>(T * C);
    float* d_states = states ? s.in(states, nseq * 2 * C) : nullptr;
    float** d_ptrs = nullptr;
    if (d_states) {
      std::vector<float*> ptrs(static_cast<size_t>(nseq));
      for (int64_t i = 0; i < nseq; ++i) ptrs[size_t(i)] = d_states + i * 2 * C;
      d_ptrs = s.in(ptrs.data(), nseq);
    }
    cuda::shortconv_forward(s.in(z, T * 3 * C), s.in(kernel, C * 3), d_y, s.in(off.data(), nseq + 1), d_ptrs, nseq,
                            C, nullptr);
    s.out(y, d_y, T * C);
    if (states) s.out(states, d_states, nseq * 2 * C);
  }
  void shortconv_packed(int64_t C, const std::vector<int32_t>& cu, const float* z, const float* kernel,
                        float* y) override {
    const std::vector<int64_t> len = lengths_of(nonempty_offsets(cu));
    if (!len.empty()) shortconv(z, kernel, y, len, nullptr, C);
  }
  void shortconv_backward(int64_t C, const std::vector<int32_t>& cu, const float* z, const float* kernel,
                          const float* dy, float* dz, float* dkernel) override {
    const std::vector<int32_t> off = nonempty_offsets(cu);
    const int64_t T = cu.back(), nseq = int64_t(off.size()) - 1;
    if (nseq == 0) return;
    require_device();
    Staging s;
    float* d_dz = s.alloc<float>(T * 3 * C);
    float* d_dk = s.in(dkernel, C * 3);
    cuda::shortconv_backward(s.in(z, T * 3 * C), s.in(kernel, C * 3), s.in(dy, T * C), d_dz, d_dk,
                             s.in(off.data(), nseq + 1), nseq, C, nullptr);
    s.out(dz, d_dz, T * 3 * C);
    s.out(dkernel, d_dk, C * 3);
  }

  void swiglu(const float* a, const float* b, float* out, int64_t n, const std::string& impl) override {
    check_impl(impl, {"auto"}, "swiglu");
    require_device();
    Staging s;
    float* d_out = s.alloc<float>(n);
    cuda::swiglu_forward(s.in(a, n), s.in(b, n), d_out, n, nullptr);
    s.out(out, d_out, n);
  }
  void swiglu_backward(int64_t rows, int64_t F, const float* a, const float* b, const float* dh, float* da,
                       float* db, const std::string& impl) override {
    check_impl(impl, {"auto"}, "swigluBackward");
    require_device();
    const int64_t n = rows * F;
    Staging s;
    float* d_da = s.alloc<float>(n);
    float* d_db = s.alloc<float>(n);
    cuda::swiglu_backward(s.in(a, n), s.in(b, n), s.in(dh, n), d_da, d_db, n, nullptr);
    s.out(da, d_da, n);
    s.out(db, d_db, n);
  }

  void embedding(const int32_t* ids, int64_t T, const void* table, DType type, int64_t V, int64_t C,
                 float* out) override {
    LFM2_CHECK(type == DType::BF16, "embedding: the CUDA backend takes a BF16 table");
    check_ids(ids, T, V, "embedding");
    require_device();
    Staging s;
    float* d_out = s.alloc<float>(T * C);
    auto* d_tab = reinterpret_cast<__nv_bfloat16*>(s.in(static_cast<const uint16_t*>(table), V * C));
    cuda::embedding_forward(s.in(ids, T), T, d_tab, V, C, d_out, nullptr);
    s.out(out, d_out, T * C);
  }
  void embedding_backward(int64_t T, int64_t V, int64_t C, const int32_t* ids, const float* dx, float* dE,
                          int64_t padding_idx) override {
    check_ids(ids, T, V, "embedding_backward");
    require_device();
    Staging s;
    float* d_dE = s.in(dE, V * C);
    // Both GPU kernels: the plain scatter-add, and the padding-aware one of the trainer.
    if (padding_idx < 0) cuda::embedding_backward(s.in(ids, T), T, s.in(dx, T * C), V, C, d_dE, nullptr);
    else cuda::embedding_backward_padded(s.in(ids, T), T, s.in(dx, T * C), V, C, padding_idx, d_dE, nullptr);
    s.out(dE, d_dE, V * C);
  }

  GrpoLossStats grpo_loss(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out,
                          const std::string& impl) override {
    check_impl(impl, {"auto"}, "grpoLoss");
    return grpo_loss_host(in, opt, out);
  }

  AdamWResult adamw(const std::vector<AdamWTensor>& tensors, const AdamWConfig& cfg, int64_t step,
                    const std::string& impl) override {
    check_impl(impl, {"auto"}, "adamw");
    check_adamw_args(cfg, step);
    require_device();
    const size_t P = tensors.size();
    Staging s;
    // The global norm as the GPU trainer forms it: one double sum of squares per tensor.
    double* d_sums = s.zeros<double>(int64_t(P));
    std::vector<float*> grads(P);
    for (size_t i = 0; i < P; ++i) {
      grads[i] = s.in(tensors[i].grad, tensors[i].size);
      cuda::grad_sumsq(grads[i], tensors[i].size, d_sums + i, nullptr);
    }
    std::vector<double> sums(P);
    s.out(sums.data(), d_sums, int64_t(P));
    AdamWResult res;
    double sumsq = 0;
    for (size_t i = 0; i < P; ++i) {
      if (!std::isfinite(sums[i]) && res.bad_tensor < 0) res.bad_tensor = int64_t(i);
      sumsq += sums[i];
    }
    if (res.bad_tensor >= 0) {  // non-finite gradient: nothing is written
      res.grad_norm = std::numeric_limits<double>::quiet_NaN();
      res.skipped = true;
      res.clip_coef = 0;
      return res;
    }
    res.grad_norm = std::sqrt(sumsq);
    if (cfg.max_grad_norm > 0) res.clip_coef = std::min(1.0, cfg.max_grad_norm / (res.grad_norm + 1e-6));
    for (size_t i = 0; i < P; ++i) {
      const AdamWTensor& t = tensors[i];
      float *d_w = s.in(t.weight, t.size), *d_m = s.in(t.exp_avg, t.size), *d_v = s.in(t.exp_avg_sq, t.size);
      auto* d_bf = t.bf16_copy ? reinterpret_cast<__nv_bfloat16*>(s.alloc<uint16_t>(t.size)) : nullptr;
      AdamWParams p;
      p.lr = cfg.lr, p.beta1 = cfg.beta1, p.beta2 = cfg.beta2, p.eps = cfg.eps;
      p.weight_decay = t.decay ? cfg.weight_decay : 0.0;
      p.clip_coef = res.clip_coef;
      p.step = step;
      cuda::adamw_update(d_w, grads[i], d_m, d_v, d_bf, t.size, p, nullptr);
      s.out(t.weight, d_w, t.size);
      s.out(t.exp_avg, d_m, t.size);
      s.out(t.exp_avg_sq, d_v, t.size);
      if (d_bf) s.out(t.bf16_copy, reinterpret_cast<uint16_t*>(d_bf), t.size);
    }
    return res;
  }

  // LoRA as the GPU trainer runs it: x, dy, A, B and x·Aᵀ rounded to BF16, FP32 accumulation.
  void lora_forward(int64_t N, int64_t in, int64_t out, int64_t r, float s_, const float* x, const float* A,
                    const float* B, float* xa, float* y) override {
    check_lora(N, in, out, r);
    require_device();
    Staging s;
    float* d_y = s.in(y, N * out);
    float* d_xa = s.alloc<float>(N * r);
    auto* d_xa_bf = reinterpret_cast<__nv_bfloat16*>(s.alloc<uint16_t>(N * r));
    cuda::lora_forward_device(s.in_bf16(x, N * in), s.in_bf16(A, r * in), s.in_bf16(B, out * r), N, in, out, r, s_,
                              d_y, d_xa, d_xa_bf, shared_gemm(), nullptr);
    s.out(y, d_y, N * out);
    s.out(xa, d_xa, N * r);
  }
  void lora_backward(int64_t N, int64_t in, int64_t out, int64_t r, float s_, const float* dy, const float* x,
                     const float* A, const float* B, float* dA, float* dB, float* dx) override {
    check_lora(N, in, out, r);
    require_device();
    Staging s;
    Arena arena;
    float *d_dA = s.in(dA, r * in), *d_dB = s.in(dB, out * r), *d_dx = dx ? s.in(dx, N * in) : nullptr;
    cuda::lora_backward_device(s.in_bf16(x, N * in), s.in_bf16(dy, N * out), s.in_bf16(A, r * in),
                               s.in_bf16(B, out * r), N, in, out, r, s_, d_dA, d_dB, d_dx, shared_gemm(), arena,
                               nullptr);
    s.out(dA, d_dA, r * in);
    s.out(dB, d_dB, out * r);
    s.out(dx, d_dx, N * in);
  }

  void gather_rows(const float* src, int64_t src_rows, const int32_t* rows, int64_t R, int64_t C,
                   float* dst) override {
    check_row_list("gather_rows", rows, R, src_rows, false);
    if (R == 0 || C == 0) return;
    require_device();
    Staging s;
    float* d_dst = s.alloc<float>(R * C);
    cuda::gather_rows_f32(s.in(src, src_rows * C), s.in(rows, R), R, C, d_dst, nullptr);
    s.out(dst, d_dst, R * C);
  }
  void scatter_rows(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst,
                    int64_t dst_rows) override {
    check_row_list("scatter_rows", rows, R, dst_rows, true);
    if (R == 0 || C == 0) return;
    require_device();
    Staging s;
    float* d_dst = s.in(dst, dst_rows * C);
    cuda::scatter_rows_f32(s.in(src, R * C), s.in(rows, R), R, C, d_dst, nullptr);
    s.out(dst, d_dst, dst_rows * C);
  }

  void row_exp_stats(float*, int64_t, float, double*, double*, const std::string&) override {
    fail("rowExpStats: not available on the CUDA backend");
  }

  SampleResult sample(const float* logits, int64_t R, int64_t V, const std::vector<SampleParams>& params,
                      const std::vector<float>& uniform, const std::vector<std::vector<int32_t>>& seen,
                      const std::vector<std::vector<int32_t>>& allowed,
                      const std::vector<bool>& all_allowed) override {
    return sample_host(logits, R, V, params, uniform, seen, allowed, all_allowed);
  }

 private:
  static void rotate(const float* x, float* y, const int32_t* pos, int64_t T, int64_t H, int64_t D, double theta,
                     bool backward) {
    LFM2_CHECK(D % 2 == 0, "rope: head_dim must be even, got ", D);
    for (int64_t t = 0; t < T; ++t) LFM2_CHECK(pos[t] >= 0, "rope: negative position ", pos[t], " at token ", t);
    require_device();
    Staging s;
    float* d = s.in(x, T * H * D);
    if (backward) cuda::rope_backward(d, s.in(pos, T), T, H, D, theta, nullptr);
    else cuda::rope_forward(d, s.in(pos, T), T, H, D, theta, nullptr);
    s.out(y, d, T * H * D);
  }
  static void check_ids(const int32_t* ids, int64_t T, int64_t V, const char* what) {
    for (int64_t t = 0; t < T; ++t)
      LFM2_CHECK(ids[t] >= 0 && ids[t] < V, what, ": token id ", ids[t], " at ", t, " outside the vocabulary [0, ",
                 V, ")");
  }
  static void check_lora(int64_t N, int64_t in, int64_t out, int64_t r) {
    LFM2_CHECK(N >= 1 && in >= 1 && out >= 1 && r >= 1, "lora: bad shape N=", N, " in=", in, " out=", out, " r=", r);
  }
  static void download_all(Staging& s, float* dq, const float* d_dq, float* dk, const float* d_dk, float* dv,
                           const float* d_dv, int64_t nq, int64_t nk) {
    s.out(dq, d_dq, nq);
    s.out(dk, d_dk, nk);
    s.out(dv, d_dv, nk);
  }
};

}  // namespace

BackendOps& cuda_backend_ops() {
  static CudaOps ops;
  return ops;
}

}  // namespace lfm2
