#include "backend/cuda/cuda_generate.cuh"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "backend/cuda/cuda_model_impl.cuh"
#include "backend/cuda/cuda_prefix_cache.cuh"
#include "backend/cuda/decode_graph.cuh"
#include "core/error.h"
#include "model/generate_loop.h"

namespace lfm2::cuda {

struct CudaGenerator::Impl {
  CudaModel& model;
  CudaModel::Impl& m;
  DecodeRunner runner;
  CudaPrefixCache cache;

  Impl(CudaModel& mod, size_t cache_bytes) : model(mod), m(mod.impl()), runner(mod.impl()), cache(cache_bytes) {}
};

namespace {

// One call's device side: states and the prompt slots' last logits [slots, V] stay on the GPU; each draw builds
// decode rows for the runner, and only sampled ids and log-probs come back.
class CudaBackend final : public GenerateBackend {
 public:
  CudaBackend(CudaGenerator::Impl& g, const SamplingParams& params, const CudaGenerateOptions& opts)
      : g_(g), m_(g.m), P_(params), opts_(opts), V_(g.m.cfg.vocab_size) {}

  void check_config(int64_t max_ctx) const override {
    LFM2_CHECK(max_ctx <= m_.cfg.max_position_embeddings, "generate: maxContext ", max_ctx,
               " exceeds the model's max_position_embeddings ", m_.cfg.max_position_embeddings);
  }

  void begin(int64_t slots, int64_t seqs) override {
    states_.resize(size_t(slots + seqs));
    logits_.resize(size_t(slots) * size_t(V_) * 4);
  }

  int64_t start(int64_t id, const std::vector<int32_t>& tokens) override {
    const CudaPrefixEntry* e = g_.cache.longest_prefix(tokens.data(), int64_t(tokens.size()));
    if (!e) {
      states_[size_t(id)] = g_.model.new_state();
      return 0;
    }
    states_[size_t(id)] = g_.model.fork(*e->state, int64_t(tokens.size()) - int64_t(e->key.size()));
    std::lock_guard<std::mutex> lock(m_.mu);
    copy_row(slot_logits(id), e->logits.as<float>());
    return int64_t(e->key.size());
  }

  void prefill(const std::vector<PrefillChunk>& chunks) override {
    chunks_.clear();
    for (const PrefillChunk& c : chunks) chunks_.push_back(CudaChunk{c.tokens, c.n, states_[size_t(c.id)].get()});
    std::lock_guard<std::mutex> lock(m_.mu);
    DeviceLogits d = m_.forward_device(chunks_, LogitsMode::Last, nullptr);
    for (size_t i = 0; i < chunks.size(); ++i)
      if (chunks[i].last)
        CUDA_CHECK(cudaMemcpyAsync(slot_logits(chunks[i].id), d.logits + int64_t(i) * V_, size_t(V_) * 4,
                                   cudaMemcpyDeviceToDevice, m_.stream));
    CUDA_CHECK(cudaStreamSynchronize(m_.stream));  // the arena rows are reused by the next forward
  }

  // Room is reserved up front so no KV buffer moves while decoding (and the decode graphs stay valid).
  void fork(int64_t from, int64_t to, int64_t room, bool take) override {
    CudaStatePtr& s = states_[size_t(from)];
    if (take) {
      reserve_room(*s, room);
      states_[size_t(to)] = std::move(s);
    } else {
      states_[size_t(to)] = g_.model.fork(*s, room);
    }
  }

  void copy_logits(int64_t from, int64_t to) override {
    std::lock_guard<std::mutex> lock(m_.mu);
    copy_row(slot_logits(to), slot_logits(from));
  }

  void cache(int64_t id, const std::vector<int32_t>& tokens) override {
    const CudaGenerationState& s = *states_[size_t(id)];
    const int64_t n = int64_t(tokens.size());
    if (g_.cache.capacity() == 0 || g_.cache.contains(tokens.data(), n)) return;
    if (CudaPrefixCache::entry_bytes(size_t(n), s, V_) > g_.cache.capacity()) return;
    // A cached copy is an optimisation: skip it rather than fail the call when it would pass the state memory cap
    // (the copy holds at most the bytes of the state it copies).
    if (m_.used->load() + s.bytes > m_.cap) return;
    CudaStatePtr copy = g_.model.fork(s, 0);
    DeviceBuffer lg(size_t(V_) * 4);
    {
      std::lock_guard<std::mutex> lock(m_.mu);
      copy_row(lg.as<float>(), slot_logits(id));
    }
    g_.cache.insert(tokens, std::move(copy), std::move(lg));
  }

  void release(int64_t id) override { states_[size_t(id)].reset(); }

  // Cached prefix states share the state memory cap with the samples: make room by evicting them (LRU) first.
  void plan_forks(const std::vector<ForkPlan>& plan) override {
    const Lfm2Config& mc = m_.cfg;
    const int64_t n_conv = mc.num_layers - mc.num_attention_layers();
    const int64_t conv_bytes = std::max<int64_t>(n_conv, 1) * 2 * mc.hidden_size * 4;
    int64_t need = 0;
    for (size_t p = 0; p < plan.size(); ++p) {
      const int64_t rows = plan[p].len + plan[p].room;
      need += (plan[p].uses - 1) * (conv_bytes + std::max<int64_t>(rows, 64) * m_.kv_bytes_per_token());
      need += m_.growth_bytes(*states_[p], rows);
    }
    while (m_.used->load() + need > m_.cap && g_.cache.evict_one()) {
    }
  }

  // Device tables: the concatenated child_token arrays of the distinct tries, and one seen list per sequence.
  void begin_decode(const std::vector<GenSeq>& seqs) override {
    std::map<const TokenTrie*, int64_t> offset_of;
    std::vector<int32_t> allowed;
    trie_offset_.assign(seqs.size(), 0);
    for (size_t g = 0; g < seqs.size(); ++g) {
      const TokenTrie* t = seqs[g].trie;
      if (!t) continue;
      auto [it, fresh] = offset_of.emplace(t, int64_t(allowed.size()));
      if (fresh) allowed.insert(allowed.end(), t->child_token.begin(), t->child_token.end());
      trie_offset_[g] = it->second;
    }
    std::vector<int32_t> seen_table;
    if (P_.repetition_penalty != 1.0) {
      for (const GenSeq& s : seqs) seen_cap_ = std::max(seen_cap_, int64_t(s.seen.ids().size()) + P_.max_new_tokens);
      seen_table.assign(seqs.size() * size_t(seen_cap_), 0);
      for (size_t g = 0; g < seqs.size(); ++g)
        std::copy(seqs[g].seen.ids().begin(), seqs[g].seen.ids().end(), seen_table.begin() + int64_t(g) * seen_cap_);
    }
    std::lock_guard<std::mutex> lock(m_.mu);
    g_.runner.reserve(int64_t(seqs.size()), int64_t(seen_table.size()), int64_t(allowed.size()));
    g_.runner.set_tables(seen_table, allowed);
  }

  void sample_first(const std::vector<GenSeq*>& live, std::vector<TokenChoice>& out) override {
    rows_.clear();
    for (GenSeq* s : live) rows_.push_back(row_for(*s, int32_t(s->slot)));
    {
      std::lock_guard<std::mutex> lock(m_.mu);
      g_.runner.sample_only(logits_.as<float>(), rows_, out);
    }
    check_tokens(out);
  }

  void step(const std::vector<GenSeq*>& live, std::vector<TokenChoice>& out) override {
    rows_.clear();
    for (GenSeq* s : live) rows_.push_back(row_for(*s, s->r.tokens.back()));
    {
      std::lock_guard<std::mutex> lock(m_.mu);
      g_.runner.step(rows_, opts_.graphs, out);
    }
    check_tokens(out);
  }

 private:
  float* slot_logits(int64_t id) { return logits_.as<float>() + id * V_; }

  // Caller holds the model's mutex.
  void copy_row(float* to, const float* from) {
    CUDA_CHECK(cudaMemcpyAsync(to, from, size_t(V_) * 4, cudaMemcpyDeviceToDevice, m_.stream));
    CUDA_CHECK(cudaStreamSynchronize(m_.stream));
  }

  // Grows a state's KV buffers (keeping their rows) to hold `extra` more tokens, under the state memory cap.
  void reserve_room(CudaGenerationState& s, int64_t extra) {
    std::lock_guard<std::mutex> lock(m_.mu);
    const int64_t need = s.length + extra;
    LFM2_CHECK(m_.used->load() + m_.growth_bytes(s, need) <= m_.cap, "CUDA state memory cap of ", m_.cap,
               " bytes reached (", m_.used->load(), " in use)");
    m_.grow(s, need);
  }

  void check_tokens(const std::vector<TokenChoice>& out) const {
    for (const TokenChoice& c : out)
      LFM2_CHECK(c.token >= 0 && c.token < V_, "generate: internal error: the sampling kernel returned token ",
                 c.token);
  }

  DecodeRow row_for(const GenSeq& s, int32_t token) const {
    DecodeRow row;
    row.state = states_[size_t(s.id)].get();
    row.token = token;
    SampleRowParams& q = row.params;
    q.temperature = float(P_.temperature);
    q.top_k = int32_t(P_.top_k);
    q.top_p = float(P_.top_p);
    q.min_p = float(P_.min_p);
    q.repetition_penalty = float(P_.repetition_penalty);
    // FP32 rounding may carry a double just below 1 up to 1; the draw needs u < 1.
    const float u = float(sampler_uniform(P_.seed, uint64_t(s.index), uint64_t(s.r.tokens.size())));
    q.uniform = std::min(u, std::nextafter(1.f, 0.f));
    if (P_.repetition_penalty != 1.0) {
      q.seen_begin = int32_t(s.index * seen_cap_);
      q.seen_end = q.seen_begin + int32_t(s.seen.ids().size());
      row.seen_push = s.seen_push;
    }
    if (s.trie) {
      const int32_t b = s.trie->child_start[size_t(s.node)], e = s.trie->child_start[size_t(s.node) + 1];
      q.allowed_begin = int32_t(trie_offset_[size_t(s.index)] + b);
      q.allowed_end = int32_t(trie_offset_[size_t(s.index)] + e);
    }
    return row;
  }

  CudaGenerator::Impl& g_;
  CudaModel::Impl& m_;
  const SamplingParams& P_;
  const CudaGenerateOptions& opts_;
  const int64_t V_;
  std::vector<CudaStatePtr> states_;
  DeviceBuffer logits_;               // [slots, V]: last logits of each prompt slot
  std::vector<int64_t> trie_offset_;  // [seqs] where its trie's child_token array starts in the allowed table
  int64_t seen_cap_ = 0;              // entries per sequence in the device seen table
  std::vector<CudaChunk> chunks_;
  std::vector<DecodeRow> rows_;
};

}  // namespace

CudaGenerator::CudaGenerator(CudaModel& model, size_t cache_bytes)
    : impl_(std::make_unique<Impl>(model, cache_bytes)) {}

CudaGenerator::~CudaGenerator() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->m.mu);  // graphs and buffers go while no forward uses the stream
  impl_->runner.drop_graphs();
}

GenerateOutput CudaGenerator::generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                                       const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                                       const CudaGenerateOptions& opts) {
  CudaBackend be(*impl_, cfg.params, opts);
  return run_generation(be, impl_->m.cfg, requests, cfg, token_bytes, cancel);
}

CudaDecodeStats CudaGenerator::decode_stats() const {
  const DecodeGraphStats s = impl_->runner.stats();
  return CudaDecodeStats{s.graphs, s.captures, s.replays, s.direct_steps};
}

void CudaGenerator::clear_cache() { impl_->cache.clear(); }
void CudaGenerator::set_cache_bytes(size_t bytes) { impl_->cache.set_capacity(bytes); }
PrefixCacheStats CudaGenerator::cache_stats() const { return impl_->cache.stats(); }

}  // namespace lfm2::cuda
