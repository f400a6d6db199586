#include "backend/cuda/cuda_model.cuh"
#include "backend/cuda/cuda_model_impl.cuh"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <unordered_set>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/convert.cuh"
#include "backend/cuda/cuda_api.h"
#include "backend/cuda/embedding.cuh"
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/kv_cache.cuh"
#include "backend/cuda/memory.cuh"
#include "backend/cuda/rmsnorm.cuh"
#include "backend/cuda/rope.cuh"
#include "backend/cuda/shortconv.cuh"
#include "backend/cuda/swiglu.cuh"
#include "core/bf16.h"

namespace lfm2::cuda {

void destroy_state(CudaGenerationState* s) {
  if (!s) return;
  if (s->used) s->used->fetch_sub(s->bytes);
  delete s;
}

namespace {

DeviceBuffer upload_bf16(const WeightTensor& t, int64_t& total) {
  LFM2_CHECK(t.buf, "CUDA upload: tensor ", t.name, " is empty");
  DeviceBuffer d(size_t(t.numel()) * 2);
  if (t.dtype == DType::BF16) {
    upload(d.get(), t.data(), size_t(t.numel()) * 2, nullptr);
  } else {
    std::vector<uint16_t> tmp(size_t(t.numel()));
    const float* src = t.f32();
    for (size_t i = 0; i < tmp.size(); ++i) tmp[i] = ::lfm2::f32_to_bf16(src[i]);
    upload(d.get(), tmp.data(), tmp.size() * 2, nullptr);
  }
  total += int64_t(d.bytes());
  return d;
}

DeviceBuffer upload_f32(const WeightTensor& t, int64_t& total) {
  LFM2_CHECK(t.buf && t.dtype == DType::F32, "CUDA upload: tensor ", t.name, " must be FP32");
  DeviceBuffer d(size_t(t.numel()) * 4);
  upload(d.get(), t.data(), size_t(t.numel()) * 4, nullptr);
  total += int64_t(d.bytes());
  return d;
}

}  // namespace

CudaModel::CudaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaModel::~CudaModel() = default;

std::unique_ptr<CudaModel> CudaModel::upload(const Lfm2Model& host, const CudaModelOptions& opts) {
  cuda_api::require_device();
  auto m = std::make_unique<Impl>();
  m->cfg = host.config();
  const Lfm2Config& c = m->cfg;
  LFM2_CHECK(c.head_dim <= 256 && c.head_dim % 2 == 0, "CUDA engine: head_dim ", c.head_dim, " unsupported");
  CUDA_CHECK(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking));
  m->gemm = std::make_unique<Gemm>();
  const Lfm2Weights& w = host.weights();
  int64_t& tot = m->weight_bytes;
  m->embed = upload_bf16(w.embed, tot);
  if (w.lm_head.buf) m->head = upload_bf16(w.lm_head, tot);
  m->final_norm = upload_f32(w.final_norm, tot);
  for (const Lfm2LayerWeights& L : w.layers) {
    DevLayer d;
    d.attn = L.is_attention;
    d.op_norm = upload_f32(L.operator_norm, tot);
    d.ffn_norm = upload_f32(L.ffn_norm, tot);
    if (L.is_attention) {
      d.q = upload_bf16(L.q_proj, tot);
      d.k = upload_bf16(L.k_proj, tot);
      d.v = upload_bf16(L.v_proj, tot);
      d.o = upload_bf16(L.out_proj, tot);
      d.q_norm = upload_f32(L.q_norm, tot);
      d.k_norm = upload_f32(L.k_norm, tot);
    } else {
      d.conv_in = upload_bf16(L.conv_in_proj, tot);
      d.conv_out = upload_bf16(L.conv_out_proj, tot);
      d.conv_kernel = upload_f32(L.conv_kernel, tot);
    }
    d.w1 = upload_bf16(L.w1, tot);
    d.w3 = upload_bf16(L.w3, tot);
    d.w2 = upload_bf16(L.w2, tot);
    m->layers.push_back(std::move(d));
  }
  if (opts.state_bytes_cap > 0) {
    m->cap = opts.state_bytes_cap;
  } else {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    m->cap = int64_t(double(free_b) * 0.9);
  }
  return std::unique_ptr<CudaModel>(new CudaModel(std::move(m)));
}

const Lfm2Config& CudaModel::config() const { return impl_->cfg; }
int64_t CudaModel::weight_bytes() const { return impl_->weight_bytes; }
int64_t CudaModel::state_bytes() const { return impl_->used->load(); }
int64_t CudaModel::state_bytes_cap() const { return impl_->cap; }
int64_t CudaModel::length(const CudaGenerationState& s) { return s.length; }
int64_t CudaModel::bytes(const CudaGenerationState& s) { return s.bytes; }

CudaStatePtr CudaModel::new_state() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  const Lfm2Config& c = m.cfg;
  const int64_t n_conv = c.num_layers - c.num_attention_layers();
  const int64_t conv_bytes = std::max<int64_t>(n_conv, 1) * 2 * c.hidden_size * 4;
  LFM2_CHECK(m.used->load() + conv_bytes <= m.cap, "CUDA state memory cap of ", m.cap, " bytes reached (",
             m.used->load(), " in use)");
  CudaStatePtr s(new CudaGenerationState());
  s->owner = &m;
  s->used = m.used;
  s->conv.resize(size_t(conv_bytes));
  CUDA_CHECK(cudaMemsetAsync(s->conv.get(), 0, size_t(conv_bytes), m.stream));
  CUDA_CHECK(cudaStreamSynchronize(m.stream));
  s->k.resize(size_t(c.num_attention_layers()));
  s->v.resize(size_t(c.num_attention_layers()));
  s->bytes = conv_bytes;
  m.used->fetch_add(conv_bytes);
  return s;
}

CudaStatePtr CudaModel::fork(const CudaGenerationState& src, int64_t extra_tokens) {
  Impl& m = *impl_;
  LFM2_CHECK(src.owner == &m, "fork: the state belongs to another model");
  LFM2_CHECK(extra_tokens >= 0, "fork: extra_tokens must be ≥ 0");
  CudaStatePtr s = new_state();
  std::lock_guard<std::mutex> lock(m.mu);
  const int64_t need = src.length + extra_tokens;
  LFM2_CHECK(m.used->load() + m.growth_bytes(*s, need) <= m.cap, "CUDA state memory cap of ", m.cap,
             " bytes reached (", m.used->load(), " in use)");
  m.grow(*s, std::max<int64_t>(need, 1));
  const size_t rows_bytes = size_t(src.length * m.kv_width() * 4);
  for (size_t i = 0; i < src.k.size(); ++i) {
    if (!rows_bytes) break;
    CUDA_CHECK(cudaMemcpyAsync(s->k[i].get(), src.k[i].get(), rows_bytes, cudaMemcpyDeviceToDevice, m.stream));
    CUDA_CHECK(cudaMemcpyAsync(s->v[i].get(), src.v[i].get(), rows_bytes, cudaMemcpyDeviceToDevice, m.stream));
  }
  CUDA_CHECK(cudaMemcpyAsync(s->conv.get(), src.conv.get(), src.conv.bytes(), cudaMemcpyDeviceToDevice, m.stream));
  CUDA_CHECK(cudaStreamSynchronize(m.stream));
  s->length = src.length;
  return s;
}

void CudaModel::Impl::run_layers(const PassInputs& in, const PassScratch& s) {
  const Lfm2Config& c = cfg;
  const int64_t C = c.hidden_size, H = c.num_heads, KVH = c.num_kv_heads, D = c.head_dim, F = c.ff_dim;
  const int64_t V = c.vocab_size, KW = kv_width(), T = in.T, nseq = in.nseq;
  const int64_t n_attn = c.num_attention_layers();
  const float eps = float(c.norm_eps);
  cudaStream_t st = stream;
  float* x = s.x;
  float* h = s.h;
  __nv_bfloat16* hb = s.hb;
  float* y = s.y;
  float* fa = s.fa;
  float* fb = s.fb;

  embedding_forward(in.tokens, T, bf(embed), V, C, x, st);
  int64_t ai = 0, ci = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const DevLayer& L = layers[size_t(l)];
    rmsnorm_forward(x, f32(L.op_norm), h, nullptr, T, C, eps, st);
    f32_to_bf16(h, hb, T * C, st);
    if (!L.attn) {
      linear(L.conv_in, hb, T, 3 * C, C, s.big, 0.f, l, LinearKind::ConvIn);  // z [T, 3C]
      auto states = reinterpret_cast<float* const*>(in.ptrs + n_attn * (2 * nseq + 2 * T) + ci * nseq);
      shortconv_forward(s.big, f32(L.conv_kernel), y, in.row0, states, nseq, C, st);
      f32_to_bf16(y, hb, T * C, st);
      linear(L.conv_out, hb, T, C, C, x, 1.f, l, LinearKind::ConvOut);  // residual fused: x += y·Woᵀ
      ++ci;
    } else {
      void* const* base = in.ptrs + ai * (2 * nseq + 2 * T);
      float* q = s.big;
      linear(L.q, hb, T, H * D, C, q, 0.f, l, LinearKind::Q);
      linear(L.k, hb, T, KW, C, in.kbuf, 0.f, l, LinearKind::K);
      linear(L.v, hb, T, KW, C, in.vbuf, 0.f, l, LinearKind::V);
      rmsnorm_forward(q, f32(L.q_norm), q, nullptr, T * H, D, eps, st);
      rmsnorm_forward(in.kbuf, f32(L.k_norm), in.kbuf, nullptr, T * KVH, D, eps, st);
      rope_forward(q, in.positions, T, H, D, c.rope_theta, st);
      rope_forward(in.kbuf, in.positions, T, KVH, D, c.rope_theta, st);
      kv_append(in.kbuf, reinterpret_cast<float* const*>(base + 2 * nseq), T, KW, st);
      kv_append(in.vbuf, reinterpret_cast<float* const*>(base + 2 * nseq + T), T, KW, st);
      AttentionBatch b;
      b.T = T, b.nseq = nseq, b.H = H, b.KVH = KVH, b.D = D;
      b.scale = float(1.0 / std::sqrt(double(D)));
      b.q_row0 = in.row0, b.q_pos0 = in.pos0, b.row_seq = in.row_seq;
      b.k = reinterpret_cast<const float* const*>(base);
      b.v = reinterpret_cast<const float* const*>(base + nseq);
      attention_forward(b, q, y, nullptr, st);
      f32_to_bf16(y, hb, T * H * D, st);
      linear(L.o, hb, T, C, H * D, x, 1.f, l, LinearKind::O);
      ++ai;
    }
    rmsnorm_forward(x, f32(L.ffn_norm), h, nullptr, T, C, eps, st);
    f32_to_bf16(h, hb, T * C, st);
    linear(L.w1, hb, T, F, C, fa, 0.f, l, LinearKind::W1);
    linear(L.w3, hb, T, F, C, fb, 0.f, l, LinearKind::W3);
    swiglu_forward(fa, fb, fa, T * F, st);
    f32_to_bf16(fa, hb, T * F, st);
    linear(L.w2, hb, T, C, F, x, 1.f, l, LinearKind::W2);
  }
  rmsnorm_forward(x, f32(final_norm), h, nullptr, T, C, eps, st);
}

void CudaModel::Impl::lm_head(const __nv_bfloat16* hr, int64_t R, float* logits) {
  linear(head.get() ? head : embed, hr, R, cfg.vocab_size, cfg.hidden_size, logits, 0.f, cfg.num_layers,
         LinearKind::Head);
}

DeviceLogits CudaModel::Impl::forward_device(const std::vector<CudaChunk>& chunks, LogitsMode logits_mode,
                                             std::vector<float>* hidden) {
  Impl& m = *this;
  const Lfm2Config& c = m.cfg;
  const int64_t C = c.hidden_size, V = c.vocab_size, KW = m.kv_width();
  const int64_t nseq = int64_t(chunks.size());
  const int64_t n_attn = c.num_attention_layers(), n_conv = c.num_layers - n_attn;

  // ---- validation (nothing changes before it passes)
  LFM2_CHECK(nseq >= 1, "forward: no sequences");
  std::unordered_set<const CudaGenerationState*> seen;
  int64_t T = 0, growth = 0;
  for (int64_t i = 0; i < nseq; ++i) {
    const CudaChunk& ch = chunks[size_t(i)];
    LFM2_CHECK(ch.n >= 1 && ch.tokens, "forward: sequence ", i, " is empty");
    for (int64_t j = 0; j < ch.n; ++j)
      LFM2_CHECK(ch.tokens[j] >= 0 && ch.tokens[j] < V, "forward: sequence ", i, " token ", j, " = ", ch.tokens[j],
                 " outside [0, ", V, ")");
    const int64_t start = ch.state ? ch.state->length : 0;
    LFM2_CHECK(start + ch.n <= c.max_position_embeddings, "forward: sequence ", i, " reaches position ",
               start + ch.n, " beyond max_position_embeddings ", c.max_position_embeddings);
    if (ch.state) {
      LFM2_CHECK(ch.state->owner == &m, "forward: state ", i, " belongs to another model");
      LFM2_CHECK(seen.insert(ch.state).second, "forward: a state appears twice in one call");
      growth += m.growth_bytes(*ch.state, start + ch.n);
    }
    T += ch.n;
  }
  LFM2_CHECK(T < 0x7fffffff, "forward: too many tokens");
  LFM2_CHECK(m.used->load() + growth <= m.cap, "forward: the KV caches would need ", m.used->load() + growth,
             " bytes, over the CUDA state memory cap of ", m.cap);
  for (const CudaChunk& ch : chunks)
    if (ch.state) m.grow(*ch.state, ch.state->length + ch.n);

  // ---- host-side batch description
  std::vector<int32_t> tokens(static_cast<size_t>(T));
  std::vector<int32_t> positions(static_cast<size_t>(T));
  std::vector<int32_t> row0(static_cast<size_t>(nseq + 1));
  std::vector<int32_t> pos0(static_cast<size_t>(nseq));
  std::vector<int32_t> row_seq(static_cast<size_t>(T));
  std::vector<int32_t> logit_rows;
  for (int64_t i = 0, r = 0; i < nseq; ++i) {
    const CudaChunk& ch = chunks[size_t(i)];
    const int64_t start = ch.state ? ch.state->length : 0;
    row0[size_t(i)] = int32_t(r);
    pos0[size_t(i)] = int32_t(start);
    for (int64_t j = 0; j < ch.n; ++j, ++r) {
      tokens[size_t(r)] = ch.tokens[j];
      positions[size_t(r)] = int32_t(start + j);
      row_seq[size_t(r)] = int32_t(i);
      if (logits_mode == LogitsMode::All || (logits_mode == LogitsMode::Last && j == ch.n - 1))
        logit_rows.push_back(int32_t(r));
    }
    row0[size_t(i + 1)] = int32_t(r);
  }
  const int64_t R = int64_t(logit_rows.size());
  Arena& A = m.arena;
  A.reset();
  PassInputs in;
  in.T = T, in.nseq = nseq;
  in.kbuf = A.take_n<float>(T * KW);
  in.vbuf = A.take_n<float>(T * KW);
  std::vector<void*> ptrs;  // device addresses, laid out as PassInputs::ptrs documents
  ptrs.reserve(size_t(pass_pointer_count(c, nseq, T)));
  for (int64_t a = 0; a < n_attn; ++a) {
    for (int kv = 0; kv < 2; ++kv)
      for (int64_t i = 0; i < nseq; ++i) {
        const CudaChunk& ch = chunks[size_t(i)];
        float* fresh = (kv == 0 ? in.kbuf : in.vbuf) + int64_t(row0[size_t(i)]) * KW;
        ptrs.push_back(ch.state ? (kv == 0 ? ch.state->k : ch.state->v)[size_t(a)].get() : static_cast<void*>(fresh));
      }
    for (int kv = 0; kv < 2; ++kv)
      for (int64_t i = 0; i < nseq; ++i) {
        const CudaChunk& ch = chunks[size_t(i)];
        for (int64_t j = 0; j < ch.n; ++j) {
          if (!ch.state) {
            ptrs.push_back(nullptr);
            continue;
          }
          float* base = (kv == 0 ? ch.state->k : ch.state->v)[size_t(a)].as<float>();
          ptrs.push_back(base + (ch.state->length + j) * KW);
        }
      }
  }
  for (int64_t l = 0; l < n_conv; ++l)
    for (int64_t i = 0; i < nseq; ++i) {
      const CudaChunk& ch = chunks[size_t(i)];
      ptrs.push_back(ch.state ? ch.state->conv.as<float>() + l * 2 * C : nullptr);
    }
  void** d_ptrs = A.take_n<void*>(int64_t(ptrs.size()));
  int32_t* d_tokens = A.take_n<int32_t>(T);
  int32_t* d_pos = A.take_n<int32_t>(T);
  int32_t* d_row0 = A.take_n<int32_t>(nseq + 1);
  int32_t* d_pos0 = A.take_n<int32_t>(nseq);
  int32_t* d_row_seq = A.take_n<int32_t>(T);
  int32_t* d_logit_rows = A.take_n<int32_t>(std::max<int64_t>(R, 1));
  cudaStream_t st = m.stream;
  auto up = [&](void* d, const void* h, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, st));
  };
  up(d_ptrs, ptrs.data(), ptrs.size() * sizeof(void*));
  up(d_tokens, tokens.data(), size_t(T) * 4);
  up(d_pos, positions.data(), size_t(T) * 4);
  up(d_row0, row0.data(), size_t(nseq + 1) * 4);
  up(d_pos0, pos0.data(), size_t(nseq) * 4);
  up(d_row_seq, row_seq.data(), size_t(T) * 4);
  up(d_logit_rows, logit_rows.data(), size_t(R) * 4);
  in.tokens = d_tokens, in.positions = d_pos, in.row0 = d_row0, in.pos0 = d_pos0, in.row_seq = d_row_seq;
  in.ptrs = d_ptrs;

  const PassScratch s = PassScratch::take(c, T, [&](size_t bytes) { return A.take(bytes); });
  run_layers(in, s);

  DeviceLogits res;
  if (R > 0) {
    float* logits = A.take_n<float>(R * V);
    __nv_bfloat16* hr = A.take_n<__nv_bfloat16>(R * C);
    gather_rows_to_bf16(s.h, d_logit_rows, R, C, hr, st);
    lm_head(hr, R, logits);
    res.logits = logits;
  }
  if (hidden) {
    hidden->resize(size_t(T * C));
    CUDA_CHECK(cudaMemcpyAsync(hidden->data(), s.h, size_t(T * C) * 4, cudaMemcpyDeviceToHost, st));
  }
  // The host vectors above are pageable: wait so the copies are done before they go out of scope, and so that a
  // failing kernel is reported by this call.
  CUDA_CHECK(cudaStreamSynchronize(st));
  res.rows.assign(logit_rows.begin(), logit_rows.end());
  for (const CudaChunk& ch : chunks)
    if (ch.state) ch.state->length += ch.n;
  return res;
}

CudaForwardResult CudaModel::forward(const std::vector<CudaChunk>& chunks, LogitsMode logits_mode,
                                     bool want_hidden) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  CudaForwardResult res;
  DeviceLogits d = m.forward_device(chunks, logits_mode, want_hidden ? &res.hidden : nullptr);
  const int64_t R = int64_t(d.rows.size()), V = m.cfg.vocab_size;
  if (R > 0) {
    res.logits.resize(size_t(R * V));
    download(res.logits.data(), d.logits, size_t(R * V) * 4, m.stream);
  }
  res.logit_rows = std::move(d.rows);
  return res;
}

}  // namespace lfm2::cuda
