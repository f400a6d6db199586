#include "backend/cuda/cuda_generate.cuh"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>

#include "backend/cuda/cuda_model_impl.cuh"
#include "backend/cuda/cuda_prefix_cache.cuh"
#include "backend/cuda/decode_graph.cuh"
#include "core/error.h"

namespace lfm2::cuda {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void check_cancel(const std::atomic<bool>* cancel) {
  LFM2_CHECK(!(cancel && cancel->load()), "generation cancelled");
}

// One distinct prompt (or the batch's common prefix): its state and where its last logits live. After prefill the
// prompt's last sample takes the state itself; its other samples get forks.
struct PromptWork {
  const std::vector<int32_t>* tokens = nullptr;
  CudaStatePtr state;
  int64_t done = 0;    // tokens already in `state`
  int64_t slot = 0;    // row of the call's prompt-logits buffer [slots, V]
};

// One sample being generated.
struct Seq {
  SampleResult r;
  int64_t global_index = 0;  // RNG stream id: position in the call's sample order
  const PromptWork* prompt = nullptr;
  CudaStatePtr state;
  SeenSet seen;              // prompt + generated, when the repetition penalty is on (mirrors the device list)
  int32_t seen_push = -1;    // id the device list must append before the next draw
  const TokenTrie* trie = nullptr;
  int64_t trie_offset = 0;   // where its trie's child_token array starts in the device allowed-id table
  int32_t node = 0;
  std::string text;
  bool done = false;
};

}  // namespace

struct CudaGenerator::Impl {
  CudaModel& model;
  CudaModel::Impl& m;
  DecodeRunner runner;
  CudaPrefixCache cache;

  Impl(CudaModel& mod, size_t cache_bytes) : model(mod), m(mod.impl()), runner(mod.impl()), cache(cache_bytes) {}

  // Feeds tokens[done, size) of every job in forwards of at most `budget` rows; copies each finishing job's last
  // logits into its slot of `logits` [slots, V] (device).
  void prefill(std::vector<PromptWork*> jobs, int64_t budget, float* logits, const std::atomic<bool>* cancel,
               GenerateStats& st) {
    const int64_t V = m.cfg.vocab_size;
    for (;;) {
      std::vector<CudaChunk> chunks;
      std::vector<PromptWork*> finishing;  // job of each chunk if this chunk ends it, else null
      int64_t rows = 0;
      for (PromptWork* j : jobs) {
        const int64_t left = int64_t(j->tokens->size()) - j->done;
        if (left <= 0) continue;
        const int64_t take = std::min(left, budget - rows);
        if (take <= 0) break;
        chunks.push_back(CudaChunk{j->tokens->data() + j->done, take, j->state.get()});
        finishing.push_back(take == left ? j : nullptr);
        j->done += take;
        rows += take;
      }
      if (chunks.empty()) return;
      check_cancel(cancel);
      {
        std::lock_guard<std::mutex> lock(m.mu);
        DeviceLogits d = m.forward_device(chunks, LogitsMode::Last, nullptr);
        for (size_t i = 0; i < chunks.size(); ++i)
          if (finishing[i])
            CUDA_CHECK(cudaMemcpyAsync(logits + finishing[i]->slot * V, d.logits + int64_t(i) * V, size_t(V) * 4,
                                       cudaMemcpyDeviceToDevice, m.stream));
        CUDA_CHECK(cudaStreamSynchronize(m.stream));  // the arena rows are reused by the next forward
      }
      st.prefill_tokens += rows;
    }
  }

  // Starts a work item from the longest cached prefix of its tokens (or a fresh state).
  void start_from_cache(PromptWork& p, float* logits, GenerateStats* st) {
    const int64_t V = m.cfg.vocab_size;
    const CudaPrefixEntry* e = cache.longest_prefix(p.tokens->data(), int64_t(p.tokens->size()));
    if (!e) {
      p.state = model.new_state();
      p.done = 0;
      return;
    }
    p.state = model.fork(*e->state, int64_t(p.tokens->size()) - int64_t(e->key.size()));
    p.done = int64_t(e->key.size());
    if (st) st->cached_tokens += p.done;
    std::lock_guard<std::mutex> lock(m.mu);
    CUDA_CHECK(cudaMemcpyAsync(logits + p.slot * V, e->logits.get(), size_t(V) * 4, cudaMemcpyDeviceToDevice, m.stream));
    CUDA_CHECK(cudaStreamSynchronize(m.stream));
  }

  // Grows a state's KV buffers (keeping their rows) to hold `extra` more tokens, under the state memory cap.
  void reserve_room(CudaGenerationState& s, int64_t extra) {
    std::lock_guard<std::mutex> lock(m.mu);
    const int64_t need = s.length + extra;
    LFM2_CHECK(m.used->load() + m.growth_bytes(s, need) <= m.cap, "CUDA state memory cap of ", m.cap,
               " bytes reached (", m.used->load(), " in use)");
    m.grow(s, need);
  }

  void copy_slot(float* logits, int64_t from, int64_t to) {
    const int64_t V = m.cfg.vocab_size;
    std::lock_guard<std::mutex> lock(m.mu);
    CUDA_CHECK(cudaMemcpyAsync(logits + to * V, logits + from * V, size_t(V) * 4, cudaMemcpyDeviceToDevice, m.stream));
    CUDA_CHECK(cudaStreamSynchronize(m.stream));
  }

  void cache_insert(const PromptWork& p, const float* logits) {
    const int64_t V = m.cfg.vocab_size;
    const int64_t n = int64_t(p.tokens->size());
    if (cache.capacity() == 0 || cache.contains(p.tokens->data(), n)) return;
    if (CudaPrefixCache::entry_bytes(size_t(n), *p.state, V) > cache.capacity()) return;
    // A cached copy is an optimisation: skip it rather than fail the call when it would pass the state memory cap
    // (the copy holds at most the bytes of the state it copies).
    if (m.used->load() + p.state->bytes > m.cap) return;
    CudaStatePtr copy = model.fork(*p.state, 0);
    DeviceBuffer lg(size_t(V) * 4);
    {
      std::lock_guard<std::mutex> lock(m.mu);
      CUDA_CHECK(cudaMemcpyAsync(lg.get(), logits + p.slot * V, size_t(V) * 4, cudaMemcpyDeviceToDevice, m.stream));
      CUDA_CHECK(cudaStreamSynchronize(m.stream));
    }
    cache.insert(*p.tokens, std::move(copy), std::move(lg));
  }

  GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                          const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                          const CudaGenerateOptions& opts);
};

GenerateOutput CudaGenerator::Impl::generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                                             const std::vector<std::string>* token_bytes,
                                             const std::atomic<bool>* cancel, const CudaGenerateOptions& opts) {
  const auto t0 = Clock::now();
  const Lfm2Config& mc = m.cfg;
  const int64_t V = mc.vocab_size;
  const SamplingParams& P = cfg.params;
  const int64_t max_ctx = cfg.max_context > 0 ? cfg.max_context : mc.max_position_embeddings;
  // ---- validate everything before any work (the CPU generator's checks and messages)
  LFM2_CHECK(!requests.empty(), "generate: no requests");
  P.validate(V);
  LFM2_CHECK(cfg.prefill_chunk_tokens >= 1, "generate: prefillChunkTokens must be ≥ 1");
  LFM2_CHECK(P.stop_strings.empty() || (token_bytes && int64_t(token_bytes->size()) == V),
             "generate: stop strings need the tokenizer's token bytes (give the Sampler a tokenizer)");
  LFM2_CHECK(max_ctx <= mc.max_position_embeddings, "generate: maxContext ", max_ctx,
             " exceeds the model's max_position_embeddings ", mc.max_position_embeddings);
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto& q = requests[r];
    LFM2_CHECK(!q.prompt.empty(), "generate: request ", r, " has an empty prompt");
    LFM2_CHECK(q.n >= 1, "generate: request ", r, " asks for n = ", q.n, " samples (must be ≥ 1)");
    LFM2_CHECK(int64_t(q.prompt.size()) < max_ctx, "generate: request ", r, " prompt has ", q.prompt.size(),
               " tokens, which leaves no room in the context limit of ", max_ctx, " tokens");
    for (size_t i = 0; i < q.prompt.size(); ++i)
      LFM2_CHECK(q.prompt[i] >= 0 && q.prompt[i] < V, "generate: request ", r, " prompt[", i, "] = ", q.prompt[i],
                 " is not in the vocabulary (0..", V - 1, ")");
    if (q.trie) q.trie->validate(V);
  }
  const bool penalty = P.repetition_penalty != 1.0;

  GenerateOutput out;
  GenerateStats& st = out.stats;
  // ---- distinct prompts
  std::map<std::vector<int32_t>, size_t> index_of;
  std::vector<PromptWork> prompts;
  std::vector<size_t> prompt_of(requests.size());
  prompts.reserve(requests.size());
  for (size_t r = 0; r < requests.size(); ++r) {
    auto [it, fresh] = index_of.emplace(requests[r].prompt, prompts.size());
    if (fresh) {
      prompts.emplace_back();
      prompts.back().tokens = &it->first;
      prompts.back().slot = int64_t(prompts.size()) - 1;
    }
    prompt_of[r] = it->second;
  }
  st.distinct_prompts = int64_t(prompts.size());
  for (const auto& p : prompts) st.prompt_tokens += int64_t(p.tokens->size());
  // Last logits of every prompt, plus one slot for the common prefix: [P + 1, V] on the device.
  DeviceBuffer prompt_logits(size_t(prompts.size() + 1) * size_t(V) * 4);
  float* plog = prompt_logits.as<float>();

  // ---- starting states: the longest cached prefix of each prompt
  for (auto& p : prompts) start_from_cache(p, plog, &st);
  // ---- the batch's longest common prefix, computed once when some prompt would otherwise recompute it
  if (prompts.size() >= 2) {
    const auto& first = *prompts[0].tokens;
    int64_t lcp = int64_t(first.size());
    for (const auto& p : prompts) {
      int64_t k = 0;
      const int64_t lim = std::min(lcp, int64_t(p.tokens->size()));
      while (k < lim && (*p.tokens)[size_t(k)] == first[size_t(k)]) ++k;
      lcp = k;
    }
    bool worth = false;
    for (const auto& p : prompts) worth = worth || p.done < lcp;
    if (lcp >= cfg.min_shared_prefix && worth) {
      std::vector<int32_t> shared(first.begin(), first.begin() + lcp);
      PromptWork common;
      common.tokens = &shared;
      common.slot = int64_t(prompts.size());
      start_from_cache(common, plog, nullptr);
      prefill({&common}, cfg.prefill_chunk_tokens, plog, cancel, st);
      cache_insert(common, plog);
      for (auto& p : prompts) {
        if (p.done >= lcp) continue;
        p.state = model.fork(*common.state, int64_t(p.tokens->size()) - lcp);
        p.done = lcp;
        if (lcp == int64_t(p.tokens->size())) copy_slot(plog, common.slot, p.slot);  // nothing left to prefill
        st.shared_tokens += lcp;
      }
    }
  }
  // ---- the rest of every prompt, batched
  {
    std::vector<PromptWork*> jobs;
    for (auto& p : prompts) jobs.push_back(&p);
    prefill(jobs, cfg.prefill_chunk_tokens, plog, cancel, st);
  }
  if (cfg.cache_prompts)
    for (auto& p : prompts) cache_insert(p, plog);
  st.prefill_ms = ms_since(t0);

  // ---- one sequence per sample, each a fork with room for every token it may still feed
  int64_t total = 0;
  for (const auto& q : requests) total += q.n;
  std::vector<Seq> seqs(static_cast<size_t>(total));
  std::map<const TokenTrie*, int64_t> trie_offset;
  std::vector<int32_t> allowed;  // concatenated child_token arrays of the distinct tries
  for (const auto& q : requests)
    if (q.trie && trie_offset.emplace(q.trie.get(), int64_t(allowed.size())).second)
      allowed.insert(allowed.end(), q.trie->child_token.begin(), q.trie->child_token.end());
  int64_t seen_cap = 0;  // entries per sequence in the device seen table
  {
    // Cached prefix states share the state memory cap with the samples: make room by evicting them (LRU) first.
    // Each prompt's last sample takes the prompt's own state (grown in place when short of room), the others a fork.
    const int64_t n_conv = mc.num_layers - mc.num_attention_layers();
    const int64_t conv_bytes = std::max<int64_t>(n_conv, 1) * 2 * mc.hidden_size * 4;
    std::vector<int64_t> uses(prompts.size(), 0);
    for (size_t r = 0; r < requests.size(); ++r) uses[prompt_of[r]] += requests[r].n;
    int64_t need = 0;
    for (size_t p = 0; p < prompts.size(); ++p) {
      const int64_t len = int64_t(prompts[p].tokens->size());
      const int64_t rows = len + std::min<int64_t>(P.max_new_tokens, max_ctx - len);
      need += (uses[p] - 1) * (conv_bytes + std::max<int64_t>(rows, 64) * m.kv_bytes_per_token());
      need += m.growth_bytes(*prompts[p].state, rows);
    }
    while (m.used->load() + need > m.cap && cache.evict_one()) {
    }
  }
  {
    std::vector<int64_t> remaining(prompts.size(), 0);
    for (size_t r = 0; r < requests.size(); ++r) remaining[prompt_of[r]] += requests[r].n;
    size_t g = 0;
    for (size_t r = 0; r < requests.size(); ++r) {
      PromptWork& pw = prompts[prompt_of[r]];
      const int64_t room = std::min<int64_t>(P.max_new_tokens, max_ctx - int64_t(pw.tokens->size()));
      for (int64_t j = 0; j < requests[r].n; ++j, ++g) {
        Seq& s = seqs[g];
        s.r.request = int64_t(r);
        s.r.index = j;
        s.global_index = int64_t(g);
        s.prompt = &pw;
        if (--remaining[prompt_of[r]] == 0) {
          reserve_room(*pw.state, room);
          s.state = std::move(pw.state);
        } else {
          s.state = model.fork(*pw.state, room);
        }
        s.trie = requests[r].trie.get();
        if (s.trie) s.trie_offset = trie_offset[s.trie];
        if (penalty) {
          s.seen.reset(V);
          for (int32_t t : *pw.tokens) s.seen.add(t);
          seen_cap = std::max(seen_cap, int64_t(s.seen.ids().size()) + P.max_new_tokens);
        }
      }
    }
  }
  std::vector<int32_t> seen_table;
  if (penalty) {
    seen_table.assign(size_t(total * seen_cap), 0);
    for (int64_t g = 0; g < total; ++g) {
      const auto& ids = seqs[size_t(g)].seen.ids();
      std::copy(ids.begin(), ids.end(), seen_table.begin() + g * seen_cap);
    }
  }
  {
    std::lock_guard<std::mutex> lock(m.mu);
    runner.reserve(total, int64_t(seen_table.size()), int64_t(allowed.size()));
    runner.set_tables(seen_table, allowed);
  }

  auto row_for = [&](Seq& s, int32_t token) {
    DecodeRow row;
    row.state = s.state.get();
    row.token = token;
    SampleRowParams& q = row.params;
    q.temperature = float(P.temperature);
    q.top_k = int32_t(P.top_k);
    q.top_p = float(P.top_p);
    q.min_p = float(P.min_p);
    q.repetition_penalty = float(P.repetition_penalty);
    // FP32 rounding may carry a double just below 1 up to 1; the draw needs u < 1.
    const float u = float(sampler_uniform(P.seed, uint64_t(s.global_index), uint64_t(s.r.tokens.size())));
    q.uniform = std::min(u, std::nextafter(1.f, 0.f));
    if (penalty) {
      q.seen_begin = int32_t(s.global_index * seen_cap);
      q.seen_end = q.seen_begin + int32_t(s.seen.ids().size());
      row.seen_push = s.seen_push;
    }
    if (s.trie) {
      const int32_t b = s.trie->child_start[size_t(s.node)], e = s.trie->child_start[size_t(s.node) + 1];
      q.allowed_begin = int32_t(s.trie_offset + b);
      q.allowed_end = int32_t(s.trie_offset + e);
    }
    return row;
  };

  // ---- first tokens from the prompts' logits, then one batched decode step per token
  const auto td = Clock::now();
  std::vector<Seq*> live;
  for (auto& s : seqs) live.push_back(&s);
  std::vector<DecodeRow> rows;
  std::vector<DecodeResult> res;
  for (Seq* s : live) rows.push_back(row_for(*s, int32_t(s->prompt->slot)));
  {
    std::lock_guard<std::mutex> lock(m.mu);
    runner.sample_only(plog, rows, res);
  }
  for (;;) {
    const double now = ms_since(t0);
    std::vector<Seq*> next;
    for (size_t i = 0; i < live.size(); ++i) {
      Seq& s = *live[i];
      const DecodeResult& c = res[i];
      LFM2_CHECK(c.token >= 0 && c.token < V, "generate: internal error: the sampling kernel returned token ", c.token);
      s.r.tokens.push_back(c.token);
      s.r.logprobs.push_back(c.logp);
      s.r.temp_logprobs.push_back(c.temp_logp);
      s.r.sample_logprobs.push_back(c.logq);
      if (s.trie) s.r.masked_logprobs.push_back(c.masked_logp);
      if (s.r.tokens.size() == 1) s.r.first_token_ms = now;
      ++st.generated_tokens;
      s.seen_push = -1;
      if (penalty) {
        const size_t before = s.seen.ids().size();
        s.seen.add(c.token);
        if (s.seen.ids().size() > before) s.seen_push = c.token;
      }
      // A constrained sequence ends exactly when its action is complete; stop ids and strings do not apply to it.
      if (s.trie) {
        s.node = s.trie->next(s.node, c.token);
        LFM2_CHECK(s.node >= 0, "generate: internal error: token outside the action trie was chosen");
        if (s.trie->terminal[size_t(s.node)]) s.done = true, s.r.finish = FinishReason::Constraint;
      } else {
        if (std::find(P.stop_ids.begin(), P.stop_ids.end(), c.token) != P.stop_ids.end()) {
          s.done = true, s.r.finish = FinishReason::Stop;
        } else if (!P.stop_strings.empty()) {
          const size_t before = s.text.size();
          s.text += (*token_bytes)[size_t(c.token)];
          for (size_t k = 0; k < P.stop_strings.size() && !s.done; ++k) {
            const std::string& ss = P.stop_strings[k];
            const size_t from = before >= ss.size() ? before - ss.size() + 1 : 0;
            if (s.text.find(ss, from) != std::string::npos)
              s.done = true, s.r.finish = FinishReason::Stop, s.r.stop_string = int32_t(k);
          }
        }
      }
      const int64_t used = int64_t(s.prompt->tokens->size() + s.r.tokens.size());
      if (!s.done && (int64_t(s.r.tokens.size()) >= P.max_new_tokens || used >= max_ctx))
        s.done = true, s.r.finish = FinishReason::Length;
      if (s.done) {
        s.r.finish_ms = now;
        s.state.reset();
      } else {
        next.push_back(&s);
      }
    }
    live.swap(next);
    if (live.empty()) break;
    check_cancel(cancel);
    rows.clear();
    for (Seq* s : live) rows.push_back(row_for(*s, s->r.tokens.back()));
    {
      std::lock_guard<std::mutex> lock(m.mu);
      runner.step(rows, opts.graphs, res);
    }
    ++st.decode_steps;
  }
  st.decode_ms = ms_since(td);
  st.total_ms = ms_since(t0);
  out.samples.reserve(seqs.size());
  for (auto& s : seqs) out.samples.push_back(std::move(s.r));
  return out;
}

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
  return impl_->generate(requests, cfg, token_bytes, cancel, opts);
}

CudaDecodeStats CudaGenerator::decode_stats() const {
  const DecodeGraphStats s = impl_->runner.stats();
  return CudaDecodeStats{s.graphs, s.captures, s.replays, s.direct_steps};
}

void CudaGenerator::clear_cache() { impl_->cache.clear(); }
void CudaGenerator::set_cache_bytes(size_t bytes) { impl_->cache.set_capacity(bytes); }
PrefixCacheStats CudaGenerator::cache_stats() const { return impl_->cache.stats(); }

}  // namespace lfm2::cuda
