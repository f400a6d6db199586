#include "model/generate_loop.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/error.h"

namespace lfm2 {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void check_cancel(const std::atomic<bool>* cancel) {
  LFM2_CHECK(!(cancel && cancel->load()), "generation cancelled");
}

// One distinct prompt (or the batch's common prefix) in its slot.
struct PromptWork {
  const std::vector<int32_t>* tokens = nullptr;
  int64_t id = 0;
  int64_t done = 0;  // tokens already in its state
};

// Feeds tokens[done, size) of every job in forwards of at most `budget` rows.
void prefill(GenerateBackend& be, const std::vector<PromptWork*>& jobs, int64_t budget,
             const std::atomic<bool>* cancel, GenerateStats& st) {
  std::vector<PrefillChunk> chunks;
  for (;;) {
    chunks.clear();
    int64_t rows = 0;
    for (PromptWork* j : jobs) {
      const int64_t left = int64_t(j->tokens->size()) - j->done;
      if (left <= 0) continue;
      const int64_t take = std::min(left, budget - rows);
      if (take <= 0) break;
      chunks.push_back(PrefillChunk{j->id, j->tokens->data() + j->done, take, take == left});
      j->done += take;
      rows += take;
    }
    if (chunks.empty()) return;
    check_cancel(cancel);
    be.prefill(chunks);
    st.prefill_tokens += rows;
  }
}

}  // namespace

GenerateOutput run_generation(GenerateBackend& be, const Lfm2Config& mc, const std::vector<GenerateRequest>& requests,
                              const GenerateConfig& cfg, const std::vector<std::string>* token_bytes,
                              const std::atomic<bool>* cancel) {
  const auto t0 = Clock::now();
  const int64_t V = mc.vocab_size;
  const SamplingParams& P = cfg.params;
  const int64_t max_ctx = cfg.max_context > 0 ? cfg.max_context : mc.max_position_embeddings;
  // ---- validate everything before any work
  LFM2_CHECK(!requests.empty(), "generate: no requests");
  P.validate(V);
  LFM2_CHECK(cfg.prefill_chunk_tokens >= 1, "generate: prefillChunkTokens must be ≥ 1");
  LFM2_CHECK(P.stop_strings.empty() || (token_bytes && int64_t(token_bytes->size()) == V),
             "generate: stop strings need the tokenizer's token bytes (give the Sampler a tokenizer)");
  be.check_config(max_ctx);
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
    if (fresh) prompts.push_back(PromptWork{&it->first, int64_t(prompts.size()), 0});
    prompt_of[r] = it->second;
  }
  st.distinct_prompts = int64_t(prompts.size());
  for (const auto& p : prompts) st.prompt_tokens += int64_t(p.tokens->size());
  int64_t total = 0;
  for (const auto& q : requests) total += q.n;
  const int64_t slots = int64_t(prompts.size()) + 1;  // + the common prefix
  be.begin(slots, total);

  // ---- starting states: the longest cached prefix of each prompt
  for (auto& p : prompts) {
    p.done = be.start(p.id, *p.tokens);
    st.cached_tokens += p.done;
  }
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
      PromptWork common{&shared, slots - 1, 0};
      common.done = be.start(common.id, shared);
      prefill(be, {&common}, cfg.prefill_chunk_tokens, cancel, st);
      be.cache(common.id, shared);
      for (auto& p : prompts) {
        if (p.done >= lcp) continue;
        const int64_t len = int64_t(p.tokens->size());
        be.fork(common.id, p.id, len - lcp, false);
        p.done = lcp;
        if (lcp == len) be.copy_logits(common.id, p.id);  // nothing left to prefill
        st.shared_tokens += lcp;
      }
      be.release(common.id);
    }
  }
  // ---- the rest of every prompt, batched
  {
    std::vector<PromptWork*> jobs;
    for (auto& p : prompts) jobs.push_back(&p);
    prefill(be, jobs, cfg.prefill_chunk_tokens, cancel, st);
  }
  if (cfg.cache_prompts)
    for (auto& p : prompts) be.cache(p.id, *p.tokens);
  st.prefill_ms = ms_since(t0);

  // ---- one sequence per sample, with room for every token it may still feed; a prompt's last sample takes the
  // prompt's own state, the others a fork
  std::vector<ForkPlan> plan(prompts.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    plan[p].len = int64_t(prompts[p].tokens->size());
    plan[p].room = std::min<int64_t>(P.max_new_tokens, max_ctx - plan[p].len);
  }
  for (size_t r = 0; r < requests.size(); ++r) plan[prompt_of[r]].uses += requests[r].n;
  be.plan_forks(plan);
  std::vector<GenSeq> seqs(static_cast<size_t>(total));
  {
    std::vector<int64_t> remaining(prompts.size());
    for (size_t p = 0; p < prompts.size(); ++p) remaining[p] = plan[p].uses;
    size_t g = 0;
    for (size_t r = 0; r < requests.size(); ++r) {
      const size_t p = prompt_of[r];
      for (int64_t j = 0; j < requests[r].n; ++j, ++g) {
        GenSeq& s = seqs[g];
        s.r.request = int64_t(r);
        s.r.index = j;
        s.index = int64_t(g);
        s.id = slots + int64_t(g);
        s.slot = prompts[p].id;
        s.prompt_len = plan[p].len;
        be.fork(s.slot, s.id, plan[p].room, --remaining[p] == 0);
        s.trie = requests[r].trie.get();
        if (penalty) {
          s.seen.reset(V);
          for (int32_t t : *prompts[p].tokens) s.seen.add(t);
        }
      }
    }
  }
  be.begin_decode(seqs);

  // ---- first tokens from the prompts' logits, then one batched decode step per token
  const auto td = Clock::now();
  std::vector<GenSeq*> live, next;
  for (auto& s : seqs) live.push_back(&s);
  std::vector<TokenChoice> res;
  be.sample_first(live, res);
  for (;;) {
    const double now = ms_since(t0);
    next.clear();
    for (size_t i = 0; i < live.size(); ++i) {
      GenSeq& s = *live[i];
      const TokenChoice& c = res[i];
      s.r.tokens.push_back(c.token);
      s.r.logprobs.push_back(c.logprob);
      s.r.temp_logprobs.push_back(c.temp_logprob);
      s.r.sample_logprobs.push_back(c.sample_logprob);
      if (s.trie) s.r.masked_logprobs.push_back(c.masked_logprob);
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
      const int64_t used = s.prompt_len + int64_t(s.r.tokens.size());
      if (!s.done && (int64_t(s.r.tokens.size()) >= P.max_new_tokens || used >= max_ctx))
        s.done = true, s.r.finish = FinishReason::Length;
      if (s.done) {
        s.r.finish_ms = now;
        be.release(s.id);
      } else {
        next.push_back(&s);
      }
    }
    live.swap(next);
    if (live.empty()) break;
    check_cancel(cancel);
    be.step(live, res);
    ++st.decode_steps;
  }
  st.decode_ms = ms_since(td);
  st.total_ms = ms_since(t0);
  out.samples.reserve(seqs.size());
  for (auto& s : seqs) out.samples.push_back(std::move(s.r));
  return out;
}

}  // namespace lfm2
