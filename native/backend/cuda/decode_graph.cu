#include "backend/cuda/decode_graph.cuh"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "backend/cuda/convert.cuh"
#include "backend/cuda/cuda_train_kernels.cuh"
#include "backend/cuda/decode_kernels.cuh"

namespace lfm2::cuda {

namespace {
constexpr int64_t kMaxPad = 7;  // bucket(B) − B ≤ 7
size_t align8(size_t n) { return (n + 7) & ~size_t(7); }
}  // namespace

// Input block: [P] pointer table (PassInputs::ptrs layout, T = nseq = Bb) | [Bb] SampleRowParams | [Bb] tokens |
// [Bb] positions | [Bb] seen pushes. Output block: [Bb] tokens | [Bb] logq | [Bb] logp | [Bb] temp logp |
// [Bb] masked logp.
struct DecodeRunner::Layout {
  size_t ptrs = 0, params = 0, tokens = 0, positions = 0, push = 0, in_bytes = 0;
  size_t o_token = 0, o_logq = 0, o_logp = 0, o_tlp = 0, o_mlp = 0, out_bytes = 0;
};

DecodeRunner::Layout DecodeRunner::layout(int64_t Bb) const {
  Layout L;
  const size_t n = size_t(Bb);
  L.ptrs = 0;
  L.params = align8(size_t(pass_pointer_count(m_.cfg, Bb, Bb)) * sizeof(void*));
  L.tokens = align8(L.params + n * sizeof(SampleRowParams));
  L.positions = align8(L.tokens + n * 4);
  L.push = align8(L.positions + n * 4);
  L.in_bytes = align8(L.push + n * 4);
  L.o_token = 0;
  L.o_logq = n * 4;
  L.o_logp = 2 * n * 4;
  L.o_tlp = 3 * n * 4;
  L.o_mlp = 4 * n * 4;
  L.out_bytes = 5 * n * 4;
  return L;
}

int64_t DecodeRunner::bucket(int64_t rows) { return rows <= 8 ? rows : (rows + 7) / 8 * 8; }

DecodeRunner::DecodeRunner(CudaModel::Impl& m) : m_(m) {}

DecodeRunner::~DecodeRunner() {
  drop_graphs();
  if (in_host_) cudaFreeHost(in_host_);
  if (out_host_) cudaFreeHost(out_host_);
}

void DecodeRunner::drop_graphs() {
  for (auto& [b, g] : graphs_) cudaGraphExecDestroy(g);
  graphs_.clear();
  warmed_.clear();
}

DecodeGraphStats DecodeRunner::stats() const {
  DecodeGraphStats s = stats_;
  s.graphs = int64_t(graphs_.size());
  return s;
}

void DecodeRunner::reserve(int64_t rows, int64_t seen_ids, int64_t allowed_ids) {
  LFM2_CHECK(rows >= 1, "decode: no rows");
  const Lfm2Config& c = m_.cfg;
  const int64_t C = c.hidden_size, V = c.vocab_size, KW = m_.kv_width();
  const int64_t n_attn = c.num_attention_layers(), n_conv = c.num_layers - n_attn;
  bool moved = false;
  auto ensure = [&](DeviceBuffer& b, size_t bytes) {
    bytes = std::max<size_t>(bytes, 256);
    if (b.bytes() >= bytes) return;
    b.resize(bytes);
    moved = true;
  };
  const int64_t Bb = bucket(rows);
  if (Bb > rows_cap_) {
    const Layout L = layout(Bb);
    ensure(in_dev_, L.in_bytes);
    ensure(out_dev_, L.out_bytes);
    if (in_host_bytes_ < L.in_bytes) {
      if (in_host_) CUDA_CHECK(cudaFreeHost(in_host_));
      in_host_ = nullptr;
      CUDA_CHECK(cudaMallocHost(&in_host_, L.in_bytes));
      in_host_bytes_ = L.in_bytes;
    }
    if (out_host_bytes_ < L.out_bytes) {
      if (out_host_) CUDA_CHECK(cudaFreeHost(out_host_));
      out_host_ = nullptr;
      CUDA_CHECK(cudaMallocHost(&out_host_, L.out_bytes));
      out_host_bytes_ = L.out_bytes;
    }
    ensure(iota_, size_t(Bb + 1) * 4);
    std::vector<int32_t> iota(size_t(Bb + 1));
    std::iota(iota.begin(), iota.end(), 0);
    upload(iota_.get(), iota.data(), iota.size() * 4, m_.stream);
    ensure(kbuf_, size_t(Bb * KW) * 4);
    ensure(vbuf_, size_t(Bb * KW) * 4);
    // Activation scratch carved from one buffer: measure, allocate, carve.
    size_t total = 0;
    PassScratch::take(c, Bb, [&](size_t bytes) {
      total += (bytes + 255) & ~size_t(255);
      return static_cast<void*>(nullptr);
    });
    ensure(scratch_, total);
    size_t off = 0;
    pass_ = PassScratch::take(c, Bb, [&](size_t bytes) {
      void* p = static_cast<char*>(scratch_.get()) + off;
      off += (bytes + 255) & ~size_t(255);
      return p;
    });
    ensure(hr_, size_t(Bb * C) * 2);
    ensure(logits_, size_t(Bb * V) * 4);
    ensure(sample_scratch_, size_t(Bb * V) * 4);
    if (!pad_kv_.get()) {
      pad_kv_.resize(size_t(std::max<int64_t>(kMaxPad * n_attn * 2 * KW, 1)) * 4);
      pad_conv_.resize(size_t(std::max<int64_t>(kMaxPad * n_conv * 2 * C, 1)) * 4);
      CUDA_CHECK(cudaMemsetAsync(pad_kv_.get(), 0, pad_kv_.bytes(), m_.stream));
      CUDA_CHECK(cudaMemsetAsync(pad_conv_.get(), 0, pad_conv_.bytes(), m_.stream));
      CUDA_CHECK(cudaStreamSynchronize(m_.stream));
    }
    rows_cap_ = Bb;
    moved = true;  // the scratch was re-carved
  }
  ensure(seen_, size_t(std::max<int64_t>(seen_ids, 1)) * 4);
  ensure(allowed_, size_t(std::max<int64_t>(allowed_ids, 1)) * 4);
  if (moved) drop_graphs();
}

void DecodeRunner::set_tables(const std::vector<int32_t>& seen, const std::vector<int32_t>& allowed) {
  LFM2_CHECK(seen.size() * 4 <= seen_.bytes() && allowed.size() * 4 <= allowed_.bytes(),
             "decode: seen/allowed tables larger than reserved");
  if (!seen.empty()) upload(seen_.get(), seen.data(), seen.size() * 4, m_.stream);
  if (!allowed.empty()) upload(allowed_.get(), allowed.data(), allowed.size() * 4, m_.stream);
}

void DecodeRunner::fill_inputs(const std::vector<DecodeRow>& rows, int64_t Bb, bool forward) {
  const Lfm2Config& c = m_.cfg;
  const int64_t C = c.hidden_size, KW = m_.kv_width();
  const int64_t n_attn = c.num_attention_layers(), n_conv = c.num_layers - n_attn;
  const int64_t B = int64_t(rows.size());
  const Layout L = layout(Bb);
  char* h = static_cast<char*>(in_host_);
  auto* params = reinterpret_cast<SampleRowParams*>(h + L.params);
  auto* tokens = reinterpret_cast<int32_t*>(h + L.tokens);
  auto* positions = reinterpret_cast<int32_t*>(h + L.positions);
  auto* push = reinterpret_cast<int32_t*>(h + L.push);
  for (int64_t r = 0; r < Bb; ++r) {
    if (r < B) {
      const DecodeRow& row = rows[size_t(r)];
      params[r] = row.params;
      tokens[r] = row.token;
      positions[r] = forward ? int32_t(row.state->length) : 0;
      push[r] = row.seen_push;
    } else {  // padding: greedy, unconstrained, no penalty
      params[r] = SampleRowParams{};
      params[r].temperature = 0.f;
      tokens[r] = forward ? 0 : rows[0].token;
      positions[r] = 0;
      push[r] = -1;
    }
  }
  if (forward) {
    void** p = reinterpret_cast<void**>(h + L.ptrs);
    float* pad_kv = pad_kv_.as<float>();
    float* pad_conv = pad_conv_.as<float>();
    for (int64_t a = 0; a < n_attn; ++a) {
      for (int kv = 0; kv < 2; ++kv) {  // context bases, then append targets (one row each)
        for (int64_t r = 0; r < Bb; ++r) {
          float* pad = pad_kv + (((r - B) * n_attn + a) * 2 + kv) * KW;
          *p++ = r < B ? (kv == 0 ? rows[size_t(r)].state->k : rows[size_t(r)].state->v)[size_t(a)].get()
                       : static_cast<void*>(pad);
        }
      }
      for (int kv = 0; kv < 2; ++kv)
        for (int64_t r = 0; r < Bb; ++r) {
          if (r >= B) {
            *p++ = pad_kv + (((r - B) * n_attn + a) * 2 + kv) * KW;
            continue;
          }
          const CudaGenerationState& s = *rows[size_t(r)].state;
          *p++ = (kv == 0 ? s.k : s.v)[size_t(a)].as<float>() + s.length * KW;
        }
    }
    for (int64_t l = 0; l < n_conv; ++l)
      for (int64_t r = 0; r < Bb; ++r)
        *p++ = r < B ? rows[size_t(r)].state->conv.as<float>() + l * 2 * C
                     : pad_conv + ((r - B) * n_conv + l) * 2 * C;
  }
  const size_t from = forward ? 0 : L.params;  // sampling alone reads no pointer table
  CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(in_dev_.get()) + from, h + from, L.in_bytes - from,
                             cudaMemcpyHostToDevice, m_.stream));
}

void DecodeRunner::enqueue_sampling(int64_t Bb, const float* logits) {
  const Layout L = layout(Bb);
  char* d = static_cast<char*>(in_dev_.get());
  char* o = static_cast<char*>(out_dev_.get());
  const auto* params = reinterpret_cast<const SampleRowParams*>(d + L.params);
  const int64_t V = m_.cfg.vocab_size;
  auto* token = reinterpret_cast<int32_t*>(o + L.o_token);
  auto* logq = reinterpret_cast<float*>(o + L.o_logq);
  auto* logp = reinterpret_cast<float*>(o + L.o_logp);
  seen_push(params, reinterpret_cast<const int32_t*>(d + L.push), seen_.as<int32_t>(), Bb, m_.stream);
  sample_rows(logits, sample_scratch_.as<float>(), Bb, V, params, seen_.as<int32_t>(), allowed_.as<int32_t>(), token,
              logq, logp, m_.stream);
  extra_logprobs(logits, Bb, V, params, allowed_.as<int32_t>(), token, logp, reinterpret_cast<float*>(o + L.o_tlp),
                 reinterpret_cast<float*>(o + L.o_mlp), m_.stream);
}

void DecodeRunner::enqueue_forward_and_sample(int64_t Bb) {
  const Layout L = layout(Bb);
  char* d = static_cast<char*>(in_dev_.get());
  PassInputs in;
  in.T = Bb, in.nseq = Bb;
  in.tokens = reinterpret_cast<const int32_t*>(d + L.tokens);
  in.positions = reinterpret_cast<const int32_t*>(d + L.positions);
  in.pos0 = in.positions;  // one row per sequence: its first row's position is its only position
  in.row0 = iota_.as<int32_t>();
  in.row_seq = iota_.as<int32_t>();
  in.ptrs = reinterpret_cast<void* const*>(d + L.ptrs);
  in.kbuf = kbuf_.as<float>();
  in.vbuf = vbuf_.as<float>();
  m_.run_layers(in, pass_);
  f32_to_bf16(pass_.h, hr_.as<__nv_bfloat16>(), Bb * m_.cfg.hidden_size, m_.stream);
  m_.lm_head(hr_.as<__nv_bfloat16>(), Bb, logits_.as<float>());
  enqueue_sampling(Bb, logits_.as<float>());
}

void DecodeRunner::finish(int64_t Bb, int64_t B, std::vector<TokenChoice>& out) {
  const Layout L = layout(Bb);
  CUDA_CHECK(cudaMemcpyAsync(out_host_, out_dev_.get(), L.out_bytes, cudaMemcpyDeviceToHost, m_.stream));
  CUDA_CHECK(cudaStreamSynchronize(m_.stream));
  const char* o = static_cast<const char*>(out_host_);
  out.resize(size_t(B));
  for (int64_t r = 0; r < B; ++r) {
    TokenChoice& x = out[size_t(r)];
    std::memcpy(&x.token, o + L.o_token + size_t(r) * 4, 4);
    std::memcpy(&x.sample_logprob, o + L.o_logq + size_t(r) * 4, 4);
    std::memcpy(&x.logprob, o + L.o_logp + size_t(r) * 4, 4);
    std::memcpy(&x.temp_logprob, o + L.o_tlp + size_t(r) * 4, 4);
    std::memcpy(&x.masked_logprob, o + L.o_mlp + size_t(r) * 4, 4);
  }
}

void DecodeRunner::sample_only(const float* logits, const std::vector<DecodeRow>& rows,
                               std::vector<TokenChoice>& out) {
  const int64_t B = int64_t(rows.size()), Bb = bucket(B);
  LFM2_CHECK(B >= 1 && Bb <= rows_cap_, "decode: ", B, " rows, reserved ", rows_cap_);
  fill_inputs(rows, Bb, false);
  const Layout L = layout(Bb);
  const auto* idx = reinterpret_cast<const int32_t*>(static_cast<char*>(in_dev_.get()) + L.tokens);
  gather_rows_f32(logits, idx, Bb, m_.cfg.vocab_size, logits_.as<float>(), m_.stream);
  enqueue_sampling(Bb, logits_.as<float>());
  finish(Bb, B, out);
}

void DecodeRunner::step(const std::vector<DecodeRow>& rows, bool use_graph, std::vector<TokenChoice>& out) {
  const int64_t B = int64_t(rows.size()), Bb = bucket(B);
  LFM2_CHECK(B >= 1 && Bb <= rows_cap_, "decode: ", B, " rows, reserved ", rows_cap_);
  for (const DecodeRow& r : rows) {
    LFM2_CHECK(r.state && r.state->owner == &m_, "decode: a row has no state of this model");
    LFM2_CHECK(r.state->length < r.state->capacity, "decode: a state has no room for another token (length ",
               r.state->length, ", capacity ", r.state->capacity, ")");
    LFM2_CHECK(r.state->length < m_.cfg.max_position_embeddings, "decode: position ", r.state->length,
               " beyond max_position_embeddings");
  }
  if (m_.adapter != graph_adapter_ || m_.graph_epoch != graph_epoch_) {
    drop_graphs();
    graph_adapter_ = m_.adapter;
    graph_epoch_ = m_.graph_epoch;
  }
  fill_inputs(rows, Bb, true);
  auto it = graphs_.find(Bb);
  // A bucket's first step runs directly: whatever sizes itself on first use (an adapter's scratch, cuBLASLt's
  // heuristics) does so outside a capture; a resize there bumps graph_epoch and is seen by the next step.
  const bool warm = it != graphs_.end() || warmed_.count(Bb) > 0;
  if (!use_graph || !warm) {
    enqueue_forward_and_sample(Bb);
    ++stats_.direct_steps;
    if (use_graph) warmed_.insert(Bb);
  } else {
    if (it == graphs_.end()) {
      // Thread-local capture: CUDA calls made meanwhile by other threads (another model, an allocation) are not
      // swept into this graph and do not invalidate it.
      CUDA_CHECK(cudaStreamBeginCapture(m_.stream, cudaStreamCaptureModeThreadLocal));
      cudaGraph_t g = nullptr;
      try {
        enqueue_forward_and_sample(Bb);
      } catch (...) {
        if (cudaStreamEndCapture(m_.stream, &g) == cudaSuccess && g) cudaGraphDestroy(g);
        cudaGetLastError();
        throw;
      }
      CUDA_CHECK(cudaStreamEndCapture(m_.stream, &g));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
      cudaGraphDestroy(g);
      CUDA_CHECK(e);
      it = graphs_.emplace(Bb, exec).first;
      ++stats_.captures;
    }
    CUDA_CHECK(cudaGraphLaunch(it->second, m_.stream));
    ++stats_.replays;
  }
  finish(Bb, B, out);
  for (const DecodeRow& r : rows) r.state->length += 1;
}

}  // namespace lfm2::cuda
