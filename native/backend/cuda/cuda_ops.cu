// Host-array wrappers of every kernel family (cuda_api.h): upload, launch, download, on the default stream.
#include <cmath>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "backend/cuda/adamw.cuh"
#include "backend/cuda/attention.cuh"
#include "backend/cuda/cuda_api.h"
#include "backend/cuda/embedding.cuh"
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/grpo_loss.cuh"
#include "backend/cuda/memory.cuh"
#include "backend/cuda/rmsnorm.cuh"
#include "backend/cuda/rope.cuh"
#include "backend/cuda/sampling.cuh"
#include "backend/cuda/shortconv.cuh"
#include "backend/cuda/swiglu.cuh"
#include "model/grpo_loss.h"

namespace lfm2::cuda_api {
namespace {

using namespace lfm2::cuda;

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
  template <typename T>
  void out(T* host, const T* dev, int64_t n) {
    if (host && n > 0) download(host, dev, size_t(n) * sizeof(T), nullptr);
  }

 private:
  std::vector<DeviceBuffer> bufs_;
};

int64_t total(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

Gemm& shared_gemm(bool& fresh) {
  static std::mutex mu;
  static std::unique_ptr<Gemm> g;
  std::lock_guard<std::mutex> lock(mu);
  fresh = !g;
  if (!g) g = std::make_unique<Gemm>();
  return *g;
}

}  // namespace

DeviceStatus device_status() {
  DeviceStatus st;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    st.error = std::string("no usable CUDA device: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
    return st;
  }
  if (n == 0) {
    st.error = "no CUDA device present";
    return st;
  }
  st.device_count = n;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    st.name = prop.name;
    st.cc_major = prop.major;
    st.cc_minor = prop.minor;
    st.total_bytes = prop.totalGlobalMem;
  } else {
    cudaGetLastError();
  }
  st.cublaslt = lt::api(&st.cublaslt_status) != nullptr;
  return st;
}

void require_device() {
  DeviceStatus st = device_status();
  LFM2_CHECK(st.device_count > 0, "device 'cuda' requested but ", st.error);
  LFM2_CHECK(st.cc_major >= 8, "device 'cuda' requires compute capability 8.0+ (BF16 tensor cores); device 0 (",
             st.name, ") is ", st.cc_major, ".", st.cc_minor);
}

void gemm_bf16(const uint16_t* A, const uint16_t* B, float* C, int64_t M, int64_t N, int64_t K, bool trans_a,
               bool trans_b, float alpha, float beta, bool force_fallback) {
  require_device();
  bool fresh = false;
  Gemm& g = shared_gemm(fresh);
  Staging s;
  auto* dA = reinterpret_cast<__nv_bfloat16*>(s.in(A, M * K));
  auto* dB = reinterpret_cast<__nv_bfloat16*>(s.in(B, K * N));
  float* dC = s.in(C, M * N);
  g.set_force_fallback(force_fallback);
  GemmShape sh{M, N, K, trans_a, trans_b, alpha, beta};
  try {
    g.run(sh, dA, dB, dC, nullptr);
  } catch (...) {
    g.set_force_fallback(false);
    throw;
  }
  g.set_force_fallback(false);
  s.out(C, dC, M * N);
}

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps) {
  require_device();
  Staging s;
  float* dx = s.in(x, rows * n);
  float* dw = s.in(w, n);
  float* dy = s.alloc<float>(rows * n);
  float* dr = s.alloc<float>(rows);
  cuda::rmsnorm_forward(dx, dw, dy, dr, rows, n, eps, nullptr);
  s.out(y, dy, rows * n);
  s.out(rstd, dr, rows);
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t n) {
  require_device();
  Staging s;
  float* d_x = s.in(x, rows * n);
  float* d_w = s.in(w, n);
  float* d_r = s.in(rstd, rows);
  float* d_dy = s.in(dy, rows * n);
  float* d_dx = s.alloc<float>(rows * n);
  float* d_dw = s.in(dw, n);  // accumulated into
  cuda::rmsnorm_backward(d_x, d_w, d_r, d_dy, d_dx, d_dw, rows, n, nullptr);
  s.out(dx, d_dx, rows * n);
  s.out(dw, d_dw, n);
}

void rope(float* x, const int32_t* pos, int64_t T, int64_t n_heads, int64_t head_dim, double theta, bool backward) {
  require_device();
  Staging s;
  float* dx = s.in(x, T * n_heads * head_dim);
  int32_t* dp = s.in(pos, T);
  if (backward) cuda::rope_backward(dx, dp, T, n_heads, head_dim, theta, nullptr);
  else cuda::rope_forward(dx, dp, T, n_heads, head_dim, theta, nullptr);
  s.out(x, dx, T * n_heads * head_dim);
}

void swiglu_forward(const float* a, const float* b, float* out, int64_t n) {
  require_device();
  Staging s;
  float* da = s.in(a, n);
  float* db = s.in(b, n);
  float* dout = s.alloc<float>(n);
  cuda::swiglu_forward(da, db, dout, n, nullptr);
  s.out(out, dout, n);
}

void swiglu_backward(const float* a, const float* b, const float* dout, float* da, float* db, int64_t n) {
  require_device();
  Staging s;
  float* d_a = s.in(a, n);
  float* d_b = s.in(b, n);
  float* d_do = s.in(dout, n);
  float* d_da = s.alloc<float>(n);
  float* d_db = s.alloc<float>(n);
  cuda::swiglu_backward(d_a, d_b, d_do, d_da, d_db, n, nullptr);
  s.out(da, d_da, n);
  s.out(db, d_db, n);
}

void embedding_forward(const int32_t* ids, int64_t T, const uint16_t* table_bf16, int64_t vocab, int64_t C,
                       float* out) {
  for (int64_t t = 0; t < T; ++t)
    LFM2_CHECK(ids[t] >= 0 && ids[t] < vocab, "embedding: token id ", ids[t], " at ", t, " outside [0, ", vocab, ")");
  require_device();
  Staging s;
  int32_t* d_ids = s.in(ids, T);
  auto* d_tab = reinterpret_cast<__nv_bfloat16*>(s.in(table_bf16, vocab * C));
  float* d_out = s.alloc<float>(T * C);
  cuda::embedding_forward(d_ids, T, d_tab, vocab, C, d_out, nullptr);
  s.out(out, d_out, T * C);
}

void embedding_backward(const int32_t* ids, int64_t T, const float* dout, int64_t vocab, int64_t C, float* dtable) {
  for (int64_t t = 0; t < T; ++t)
    LFM2_CHECK(ids[t] >= 0 && ids[t] < vocab, "embedding_backward: token id ", ids[t], " at ", t, " outside [0, ",
               vocab, ")");
  require_device();
  Staging s;
  int32_t* d_ids = s.in(ids, T);
  float* d_do = s.in(dout, T * C);
  float* d_tab = s.in(dtable, vocab * C);
  cuda::embedding_backward(d_ids, T, d_do, vocab, C, d_tab, nullptr);
  s.out(dtable, d_tab, vocab * C);
}

namespace {
std::vector<int32_t> offsets_of(const std::vector<int64_t>& lengths, const char* what) {
  std::vector<int32_t> off(lengths.size() + 1, 0);
  for (size_t i = 0; i < lengths.size(); ++i) {
    LFM2_CHECK(lengths[i] >= 1, what, ": sequence ", i, " has length ", lengths[i], " (must be ≥ 1)");
    LFM2_CHECK(int64_t(off[i]) + lengths[i] < 0x7fffffff, what, ": too many rows");
    off[i + 1] = off[i] + int32_t(lengths[i]);
  }
  return off;
}
}  // namespace

void shortconv_forward(const float* z, const float* kernel, float* y, const std::vector<int64_t>& lengths,
                       float* states, int64_t C) {
  std::vector<int32_t> off = offsets_of(lengths, "shortconv");
  const int64_t T = off.back(), nseq = int64_t(lengths.size());
  require_device();
  Staging s;
  float* d_z = s.in(z, T * 3 * C);
  float* d_k = s.in(kernel, C * 3);
  float* d_y = s.alloc<float>(T * C);
  int32_t* d_off = s.in(off.data(), nseq + 1);
  float* d_states = states ? s.in(states, nseq * 2 * C) : nullptr;
  float** d_ptrs = nullptr;
  if (d_states) {
    std::vector<float*> ptrs(nseq);
    for (int64_t i = 0; i < nseq; ++i) ptrs[i] = d_states + i * 2 * C;
    d_ptrs = s.in(ptrs.data(), nseq);
  }
  cuda::shortconv_forward(d_z, d_k, d_y, d_off, d_ptrs, nseq, C, nullptr);
  s.out(y, d_y, T * C);
  if (states) s.out(states, d_states, nseq * 2 * C);
}

void shortconv_backward(const float* z, const float* kernel, const float* dy, float* dz, float* dkernel,
                        const std::vector<int64_t>& lengths, int64_t C) {
  std::vector<int32_t> off = offsets_of(lengths, "shortconv_backward");
  const int64_t T = off.back(), nseq = int64_t(lengths.size());
  require_device();
  Staging s;
  float* d_z = s.in(z, T * 3 * C);
  float* d_k = s.in(kernel, C * 3);
  float* d_dy = s.in(dy, T * C);
  float* d_dz = s.alloc<float>(T * 3 * C);
  float* d_dk = s.in(dkernel, C * 3);
  int32_t* d_off = s.in(off.data(), nseq + 1);
  cuda::shortconv_backward(d_z, d_k, d_dy, d_dz, d_dk, d_off, nseq, C, nullptr);
  s.out(dz, d_dz, T * 3 * C);
  s.out(dkernel, d_dk, C * 3);
}

namespace {
// Builds the device-side description of a ragged attention batch whose K/V rows are packed in k/v.
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
}  // namespace

void attention_forward(const float* q, const float* k, const float* v, float* out, float* lse,
                       const std::vector<int64_t>& n_q, const std::vector<int64_t>& n_kv, int64_t H, int64_t KVH,
                       int64_t D) {
  require_device();
  const int64_t T = total(n_q), TK = total(n_kv);
  Staging s;
  float* d_q = s.in(q, T * H * D);
  float* d_k = s.in(k, TK * KVH * D);
  float* d_v = s.in(v, TK * KVH * D);
  float* d_o = s.alloc<float>(T * H * D);
  float* d_l = s.alloc<float>(T * H);
  AttentionBatch b = make_batch(s, n_q, n_kv, d_k, d_v, H, KVH, D);
  cuda::attention_forward(b, d_q, d_o, d_l, nullptr);
  s.out(out, d_o, T * H * D);
  s.out(lse, d_l, T * H);
}

void attention_backward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv, const std::vector<int64_t>& lengths,
                        int64_t H, int64_t KVH, int64_t D) {
  require_device();
  const int64_t T = total(lengths);
  Staging s;
  float* d_q = s.in(q, T * H * D);
  float* d_k = s.in(k, T * KVH * D);
  float* d_v = s.in(v, T * KVH * D);
  float* d_o = s.in(out, T * H * D);
  float* d_l = s.in(lse, T * H);
  float* d_do = s.in(dout, T * H * D);
  float* d_dq = s.alloc<float>(T * H * D);
  float* d_dk = s.zeros<float>(T * KVH * D);
  float* d_dv = s.zeros<float>(T * KVH * D);
  AttentionBatch b = make_batch(s, lengths, lengths, d_k, d_v, H, KVH, D);
  std::vector<float*> dkp(lengths.size()), dvp(lengths.size());
  int64_t row = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    dkp[i] = d_dk + row * KVH * D;
    dvp[i] = d_dv + row * KVH * D;
    row += lengths[i];
  }
  float** d_dkp = s.in(dkp.data(), int64_t(dkp.size()));
  float** d_dvp = s.in(dvp.data(), int64_t(dvp.size()));
  cuda::attention_backward(b, d_q, d_o, d_l, d_do, d_dq, d_dkp, d_dvp, nullptr);
  s.out(dq, d_dq, T * H * D);
  s.out(dk, d_dk, T * KVH * D);
  s.out(dv, d_dv, T * KVH * D);
}

double adamw_step(float* w, const float* g, float* m, float* v, uint16_t* bf16_copy, int64_t n, double lr,
                  double beta1, double beta2, double eps, double weight_decay, double max_grad_norm, int64_t step) {
  require_device();
  Staging s;
  float* d_w = s.in(w, n);
  float* d_g = s.in(g, n);
  float* d_m = s.in(m, n);
  float* d_v = s.in(v, n);
  auto* d_bf = bf16_copy ? reinterpret_cast<__nv_bfloat16*>(s.alloc<uint16_t>(n)) : nullptr;
  double* d_sq = s.zeros<double>(1);
  cuda::grad_sumsq(d_g, n, d_sq, nullptr);
  double sumsq = 0;
  s.out(&sumsq, d_sq, 1);
  const double norm = std::sqrt(sumsq);
  if (!std::isfinite(norm)) return norm;  // non-finite gradient: nothing is written
  AdamWParams p;
  p.lr = lr, p.beta1 = beta1, p.beta2 = beta2, p.eps = eps;
  p.weight_decay = weight_decay;
  p.clip_coef = max_grad_norm > 0 ? std::min(1.0, max_grad_norm / (norm + 1e-6)) : 1.0;
  p.step = step;
  cuda::adamw_update(d_w, d_g, d_m, d_v, d_bf, n, p, nullptr);
  s.out(w, d_w, n);
  s.out(m, d_m, n);
  s.out(v, d_v, n);
  if (bf16_copy) s.out(bf16_copy, reinterpret_cast<uint16_t*>(d_bf), n);
  return norm;
}

GrpoLossStats grpo_loss(const GrpoLossInputs& a, const GrpoLossOptions& opt, const GrpoLossOutputs& o) {
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
  bool fresh = false;
  Gemm& g = shared_gemm(fresh);
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

SampleResult sample(const float* logits, int64_t R, int64_t V, const std::vector<SampleParams>& params,
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

}  // namespace lfm2::cuda_api
