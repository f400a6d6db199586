#include "model/sampler_generate.h"

#include <algorithm>

#include "core/threadpool.h"
#include "model/generate_loop.h"

namespace lfm2 {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Constraint: return "constraint";
  }
  return "?";
}

namespace {

// Host states and logits; tokens are chosen on the host, one thread per block of live rows.
class CpuBackend final : public GenerateBackend {
 public:
  CpuBackend(const Lfm2Model& model, const ForwardFn& forward, PrefixCache* cache, const SamplingParams& params)
      : model_(model), forward_(forward), cache_(cache), P_(params), V_(model.config().vocab_size),
        scratch_(size_t(std::max(1, num_threads()))) {}

  void begin(int64_t slots, int64_t seqs) override {
    states_.resize(size_t(slots + seqs));
    logits_.resize(size_t(slots));
  }

  int64_t start(int64_t id, const std::vector<int32_t>& tokens) override {
    const PrefixCacheEntry* e = cache_ ? cache_->longest_prefix(tokens.data(), int64_t(tokens.size())) : nullptr;
    if (!e) {
      states_[size_t(id)] = model_.new_state();
      return 0;
    }
    states_[size_t(id)] = std::make_unique<GenerationState>(*e->state);
    logits_[size_t(id)] = e->logits;
    return int64_t(e->key.size());
  }

  void prefill(const std::vector<PrefillChunk>& chunks) override {
    chunks_.clear();
    for (const PrefillChunk& c : chunks) chunks_.push_back(SeqChunk{c.tokens, c.n, states_[size_t(c.id)].get()});
    const float* logits = forward_(chunks_);
    for (size_t i = 0; i < chunks.size(); ++i)
      if (chunks[i].last) logits_[size_t(chunks[i].id)].assign(logits + int64_t(i) * V_, logits + int64_t(i + 1) * V_);
  }

  void fork(int64_t from, int64_t to, int64_t, bool take) override {
    auto& s = states_[size_t(from)];
    states_[size_t(to)] = take ? std::move(s) : std::make_unique<GenerationState>(*s);
  }
  void copy_logits(int64_t from, int64_t to) override { logits_[size_t(to)] = logits_[size_t(from)]; }
  void cache(int64_t id, const std::vector<int32_t>& tokens) override {
    if (cache_)
      cache_->insert(tokens.data(), int64_t(tokens.size()), *states_[size_t(id)], logits_[size_t(id)].data(), V_);
  }
  void release(int64_t id) override { states_[size_t(id)].reset(); }

  void sample_first(const std::vector<GenSeq*>& live, std::vector<TokenChoice>& out) override {
    choose(live, out, [&](size_t i) { return logits_[size_t(live[i]->slot)].data(); });
  }

  void step(const std::vector<GenSeq*>& live, std::vector<TokenChoice>& out) override {
    chunks_.clear();
    for (GenSeq* s : live) chunks_.push_back(SeqChunk{&s->r.tokens.back(), 1, states_[size_t(s->id)].get()});
    const float* logits = forward_(chunks_);
    choose(live, out, [&](size_t i) { return logits + int64_t(i) * V_; });
  }

 private:
  template <class RowFn>
  void choose(const std::vector<GenSeq*>& live, std::vector<TokenChoice>& out, const RowFn& row) {
    out.resize(live.size());
    const bool penalty = P_.repetition_penalty != 1.0;
    parallel_for(int64_t(live.size()), [&](int64_t a, int64_t b, int ti) {
      for (int64_t i = a; i < b; ++i) {
        const GenSeq& s = *live[size_t(i)];
        int64_t n_allowed = 0;
        const int32_t* allowed = s.trie ? s.trie->allowed(s.node, &n_allowed) : nullptr;
        const double u = sampler_uniform(P_.seed, uint64_t(s.index), uint64_t(s.r.tokens.size()));
        out[size_t(i)] = choose_token(row(size_t(i)), V_, P_, penalty ? &s.seen : nullptr, allowed, n_allowed, u,
                                      scratch_[size_t(ti)]);
      }
    });
  }

  const Lfm2Model& model_;
  const ForwardFn& forward_;
  PrefixCache* cache_;
  const SamplingParams& P_;
  const int64_t V_;
  std::vector<SamplerScratch> scratch_;
  std::vector<std::unique_ptr<GenerationState>> states_;
  std::vector<std::vector<float>> logits_;  // [slots] × [V]
  std::vector<SeqChunk> chunks_;
};

}  // namespace

GenerateOutput generate(const Lfm2Model& model, const ForwardFn& forward, const std::vector<GenerateRequest>& requests,
                        const GenerateConfig& cfg, PrefixCache* cache, const std::vector<std::string>* token_bytes,
                        const std::atomic<bool>* cancel) {
  CpuBackend be(model, forward, cache, cfg.params);
  return run_generation(be, model.config(), requests, cfg, token_bytes, cancel);
}

}  // namespace lfm2
