#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "model/sampler_row.h"

namespace lfm2 {

void SamplingParams::validate(int64_t vocab) const {
  LFM2_CHECK(std::isfinite(temperature) && temperature >= 0, "temperature must be a finite number ≥ 0 (0 = greedy), got ",
             temperature);
  LFM2_CHECK(top_k >= 0, "topK must be ≥ 0 (0 = off), got ", top_k);
  LFM2_CHECK(top_p > 0 && top_p <= 1, "topP must be in (0, 1] (1 = off), got ", top_p);
  LFM2_CHECK(min_p >= 0 && min_p < 1, "minP must be in [0, 1) (0 = off), got ", min_p);
  LFM2_CHECK(std::isfinite(repetition_penalty) && repetition_penalty > 0,
             "repetitionPenalty must be a finite number > 0 (1 = off), got ", repetition_penalty);
  LFM2_CHECK(max_new_tokens >= 1, "maxNewTokens must be ≥ 1, got ", max_new_tokens);
  for (int32_t t : stop_ids)
    LFM2_CHECK(t >= 0 && t < vocab, "stop token id ", t, " is not in the vocabulary (0..", vocab - 1, ")");
  for (const auto& s : stop_strings) LFM2_CHECK(!s.empty(), "stop strings must not be empty");
}

void TokenTrie::validate(int64_t vocab) const {
  const int64_t n = nodes(), edges = int64_t(child_token.size());
  LFM2_CHECK(n >= 1, "action trie has no nodes");
  LFM2_CHECK(int64_t(child_start.size()) == n + 1, "action trie: childStart has ", child_start.size(),
             " entries, expected nodeCount + 1 = ", n + 1);
  LFM2_CHECK(int64_t(child_node.size()) == edges, "action trie: childToken and childNode differ in length");
  LFM2_CHECK(child_start[0] == 0 && child_start[size_t(n)] == edges, "action trie: childStart must run from 0 to ",
             edges);
  LFM2_CHECK(!terminal[0], "action trie: the root cannot be terminal (empty action)");
  for (int64_t v = 0; v < n; ++v) {
    const int32_t a = child_start[size_t(v)], b = child_start[size_t(v) + 1];
    LFM2_CHECK(a <= b, "action trie: childStart decreases at node ", v);
    LFM2_CHECK(b > a || terminal[size_t(v)], "action trie: node ", v, " is a dead end (no children, not terminal)");
    for (int32_t e = a; e < b; ++e) {
      LFM2_CHECK(child_token[size_t(e)] >= 0 && child_token[size_t(e)] < vocab, "action trie: token id ",
                 child_token[size_t(e)], " is not in the vocabulary (0..", vocab - 1, ")");
      LFM2_CHECK(e == a || child_token[size_t(e)] > child_token[size_t(e) - 1], "action trie: children of node ", v,
                 " are not sorted by token id");
      LFM2_CHECK(child_node[size_t(e)] > 0 && child_node[size_t(e)] < n, "action trie: edge ", e,
                 " points to node ", child_node[size_t(e)], " outside 1..", n - 1);
    }
  }
}

int32_t TokenTrie::next(int32_t node, int32_t token) const {
  const int32_t* b = child_token.data() + child_start[size_t(node)];
  const int32_t* e = child_token.data() + child_start[size_t(node) + 1];
  const int32_t* it = std::lower_bound(b, e, token);
  if (it == e || *it != token) return -1;
  return child_node[size_t(it - child_token.data())];
}

void SeenSet::reset(int64_t vocab) {
  bits_.assign(size_t((vocab + 63) / 64), 0);
  ids_.clear();
}

void SeenSet::add(int32_t tok) {
  uint64_t& w = bits_[size_t(tok) >> 6];
  const uint64_t m = uint64_t(1) << (tok & 63);
  if (w & m) return;
  w |= m;
  ids_.push_back(tok);
}

namespace {

uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

double sampler_uniform(uint64_t seed, uint64_t seq, uint64_t step) {
  const uint64_t x = mix64(mix64(mix64(seed) ^ seq) ^ step);
  return double(x >> 11) * 0x1.0p-53;
}

namespace {

// Steps 1–2: s.a[j] = penalised logit of candidate j (id = allowed[j], or j for the whole vocabulary). Returns the
// candidate count and whether any penalty was applied.
int64_t load_candidates(const float* logits, int64_t vocab, const SamplingParams& p, const SeenSet* seen,
                        const int32_t* allowed, int64_t n_allowed, SamplerScratch& s, bool* penalised) {
  const int64_t n = allowed ? n_allowed : vocab;
  LFM2_CHECK(n >= 1, "sampler: no candidate tokens");
  s.a.resize(size_t(n));
  for (int64_t j = 0; j < n; ++j) s.a[size_t(j)] = double(logits[allowed ? allowed[j] : j]);
  *penalised = false;
  if (p.repetition_penalty != 1.0 && seen && !seen->ids().empty()) {
    *penalised = true;
    const double r = p.repetition_penalty;
    auto penalise = [&](size_t j) { s.a[j] = s.a[j] > 0 ? s.a[j] / r : s.a[j] * r; };
    for (int32_t id : seen->ids()) {
      if (!allowed) {
        penalise(size_t(id));
      } else {
        const int32_t* it = std::lower_bound(allowed, allowed + n, id);
        if (it != allowed + n && *it == id) penalise(size_t(it - allowed));
      }
    }
  }
  return n;
}

// Steps 4–8 when a filter is on, touching as few tokens as possible. Every rule compares probabilities of one row, so
// it works on unnormalised weights e_j = exp(a_j / T − m) (m = the largest a_j / T): the order of p is the order of
// the penalised logits a_j, top-k is a partial selection on a_j (a k-entry heap), top-p and min-p only need the
// tokens above a logit threshold, and q = e / Σ kept e. Only top-p without top-k needs the whole row's mass, taken
// with the FP32 row kernel (relative error ~1e-7, which can move the nucleus edge only by that much).
void filtered_distribution(const SamplingParams& p, int64_t n, SamplerScratch& s) {
  const std::vector<double>& a = s.a;  // [n] penalised logits
  const double inv_t = 1.0 / p.temperature;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, a[size_t(j)] * inv_t);
  LFM2_CHECK(std::isfinite(m), "sampler: logits give no finite probability mass");
  // Probability order: larger logit first, lower id first on ties (a strict total order, so the kept sets are unique).
  auto before = [&](int32_t i, int32_t j) { return a[size_t(i)] > a[size_t(j)] || (a[size_t(i)] == a[size_t(j)] && i < j); };
  auto weight = [&](int32_t j) { return std::exp(a[size_t(j)] * inv_t - m); };
  std::vector<int32_t>& kept = s.order;  // candidate indices
  kept.clear();
  double total = 0;   // Σ e over the tokens that survive top-k (the mass top-p is relative to)
  if (p.top_k > 0 && p.top_k < n) {
    // 5. top-k: a heap whose front is the worst of the k best so far.
    const size_t k = size_t(p.top_k);
    for (int64_t j = 0; j < n; ++j) {
      if (kept.size() < k) {
        kept.push_back(int32_t(j));
        if (kept.size() == k) std::make_heap(kept.begin(), kept.end(), before);
      } else if (before(int32_t(j), kept.front())) {
        std::pop_heap(kept.begin(), kept.end(), before);
        kept.back() = int32_t(j);
        std::push_heap(kept.begin(), kept.end(), before);
      }
    }
    for (int32_t j : kept) total += weight(j);
  } else if (p.top_p < 1.0) {
    // Whole-row mass from the FP32 kernel, then the tokens above a logit threshold, lowered until they hold the
    // target mass (the nucleus is a prefix of the probability order, so it lies inside that set).
    s.row.resize(size_t(n));
    for (int64_t j = 0; j < n; ++j) s.row[size_t(j)] = float(a[size_t(j)]);
    const float mf = row_max(s.row.data(), n);
    total = row_sum_exp(s.row.data(), n, mf, inv_t, nullptr, nullptr);
    const double target = p.top_p * total;
    for (double log_t = std::log(0.1);; log_t -= std::log(100.0)) {
      kept.clear();
      double mass = 0;
      for (int64_t j = 0; j < n; ++j)
        if (a[size_t(j)] * inv_t - m >= log_t) kept.push_back(int32_t(j)), mass += weight(int32_t(j));
      if (mass >= target || log_t < -800) break;
    }
  } else {
    // min-p alone: e_j ≥ min_p · e_max = min_p (the largest weight is exp(0) = 1); the margin keeps rounding out.
    const double log_floor = std::log(p.min_p) - 1e-6;
    for (int64_t j = 0; j < n; ++j)
      if (a[size_t(j)] * inv_t - m >= log_floor) kept.push_back(int32_t(j));
  }
  // 6. top-p: the shortest prefix in probability order whose mass reaches top_p of the total.
  if (p.top_p < 1.0) {
    std::sort(kept.begin(), kept.end(), before);
    const double target = p.top_p * total;
    double cum = 0;
    size_t keep = kept.size();
    for (size_t i = 0; i < kept.size(); ++i) {
      const double e = weight(kept[i]);
      if (!(e > 0)) {
        keep = i;
        break;
      }
      cum += e;
      if (cum >= target) {
        keep = i + 1;
        break;
      }
    }
    kept.resize(keep);
  }
  // 7. min-p relative to the most likely kept token.
  s.saved.clear();
  double emax = 0;
  for (int32_t j : kept) emax = std::max(emax, weight(j));
  const double floor = p.min_p > 0 ? p.min_p * emax : 0;
  std::sort(kept.begin(), kept.end());
  // 8. q = e / Σ kept e, ascending id.
  double sum = 0;
  size_t w = 0;
  for (int32_t j : kept) {
    const double e = weight(j);
    if (e > 0 && e >= floor) kept[w++] = j, s.saved.push_back(e), sum += e;
  }
  kept.resize(w);
  LFM2_CHECK(sum > 0 && std::isfinite(sum), "sampler: logits give no finite probability mass");
  for (size_t i = 0; i < kept.size(); ++i) {
    s.dist.ids.push_back(s.cand[size_t(kept[i])]);
    s.dist.probs.push_back(s.saved[i] / sum);
  }
}

}  // namespace

void sampling_distribution(const float* logits, int64_t vocab, const SamplingParams& p, const SeenSet* seen,
                           const int32_t* allowed, int64_t n_allowed, SamplerScratch& s) {
  bool penalised = false;
  const int64_t n = load_candidates(logits, vocab, p, seen, allowed, n_allowed, s, &penalised);
  s.cand.resize(size_t(n));
  for (int64_t j = 0; j < n; ++j) s.cand[size_t(j)] = allowed ? allowed[j] : int32_t(j);
  s.dist.ids.clear();
  s.dist.probs.clear();
  // 3. greedy
  if (p.greedy()) {
    size_t best = 0;
    for (size_t j = 1; j < size_t(n); ++j)
      if (s.a[j] > s.a[best]) best = j;
    s.dist.ids.push_back(s.cand[best]);
    s.dist.probs.push_back(1.0);
    return;
  }
  if ((p.top_k > 0 && p.top_k < n) || p.top_p < 1.0 || p.min_p > 0) {
    filtered_distribution(p, n, s);
    return;
  }
  // 4. softmax(z' / T) over the candidates (no filter: every token with a positive probability is kept)
  const double inv_t = 1.0 / p.temperature;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) m = std::max(m, s.a[size_t(j)] * inv_t);
  double z = 0;
  for (int64_t j = 0; j < n; ++j) z += (s.a[size_t(j)] = std::exp(s.a[size_t(j)] * inv_t - m));
  for (int64_t j = 0; j < n; ++j) s.a[size_t(j)] /= z;
  std::vector<double>& pr = s.a;
  // Order: probability descending, lower id first on ties.
  auto before = [&](int32_t i, int32_t j) { return pr[size_t(i)] > pr[size_t(j)] || (pr[size_t(i)] == pr[size_t(j)] && i < j); };
  // 5. top-k: zero everything after the k-th.
  if (p.top_k > 0 && p.top_k < n) {
    s.order.resize(size_t(n));
    for (int64_t j = 0; j < n; ++j) s.order[size_t(j)] = int32_t(j);
    std::nth_element(s.order.begin(), s.order.begin() + p.top_k, s.order.end(), before);
    for (size_t j = size_t(p.top_k); j < size_t(n); ++j) pr[size_t(s.order[j])] = 0;
  }
  // 6. top-p: sort only the tokens above a threshold that already holds the target mass (the nucleus is a prefix of
  // the full sort, and every token outside the set is smaller than every token inside).
  if (p.top_p < 1.0) {
    double kept = 0, pmax = 0;
    for (int64_t j = 0; j < n; ++j) kept += pr[size_t(j)], pmax = std::max(pmax, pr[size_t(j)]);
    const double target = p.top_p * kept;
    double t = pmax * 0.1;
    for (;;) {
      s.order.clear();
      double mass = 0;
      for (int64_t j = 0; j < n; ++j)
        if (pr[size_t(j)] > 0 && pr[size_t(j)] >= t) s.order.push_back(int32_t(j)), mass += pr[size_t(j)];
      if (mass >= target || t == 0) break;
      t = t < 1e-280 ? 0 : t * 1e-2;
    }
    std::sort(s.order.begin(), s.order.end(), before);
    double cum = 0;
    size_t keep = s.order.size();
    for (size_t i = 0; i < s.order.size(); ++i) {
      cum += pr[size_t(s.order[i])];
      if (cum >= target) {
        keep = i + 1;
        break;
      }
    }
    // Zero every token outside the kept prefix: save the prefix, clear the row, put the prefix back.
    s.saved.resize(keep);
    for (size_t i = 0; i < keep; ++i) s.saved[i] = pr[size_t(s.order[i])];
    std::fill(pr.begin(), pr.begin() + n, 0.0);
    for (size_t i = 0; i < keep; ++i) pr[size_t(s.order[i])] = s.saved[i];
  }
  // 7. min-p relative to the most likely token
  if (p.min_p > 0) {
    double pmax = 0;
    for (int64_t j = 0; j < n; ++j) pmax = std::max(pmax, pr[size_t(j)]);
    const double floor = p.min_p * pmax;
    for (int64_t j = 0; j < n; ++j)
      if (pr[size_t(j)] < floor) pr[size_t(j)] = 0;
  }
  // 8. renormalise the kept tokens
  double kept = 0;
  for (int64_t j = 0; j < n; ++j) kept += pr[size_t(j)];
  LFM2_CHECK(kept > 0 && std::isfinite(kept), "sampler: logits give no finite probability mass");
  for (int64_t j = 0; j < n; ++j)
    if (pr[size_t(j)] > 0) {
      s.dist.ids.push_back(s.cand[size_t(j)]);
      s.dist.probs.push_back(pr[size_t(j)] / kept);
    }
}

namespace {

// Steps 1–2 in FP32 for the fast paths: the raw logits row itself when nothing alters it, else the candidates'
// penalised logits gathered into s.row (the penalty computed in double, then rounded once to FP32).
const float* candidate_row(const float* logits, int64_t vocab, const SamplingParams& p, const SeenSet* seen,
                           const int32_t* allowed, int64_t n_allowed, SamplerScratch& s, int64_t* n_out,
                           bool* penalised) {
  const int64_t n = allowed ? n_allowed : vocab;
  LFM2_CHECK(n >= 1, "sampler: no candidate tokens");
  *n_out = n;
  *penalised = p.repetition_penalty != 1.0 && seen && !seen->ids().empty();
  if (!allowed && !*penalised) return logits;
  s.row.resize(size_t(n));
  if (allowed) {
    for (int64_t j = 0; j < n; ++j) s.row[size_t(j)] = logits[allowed[j]];
  } else {
    std::copy(logits, logits + n, s.row.begin());
  }
  if (*penalised) {
    const double r = p.repetition_penalty;
    for (int32_t id : seen->ids()) {
      int64_t j = id;
      if (allowed) {
        const int32_t* it = std::lower_bound(allowed, allowed + n, id);
        if (it == allowed + n || *it != id) continue;
        j = int64_t(it - allowed);
      }
      const double z = double(logits[id]);
      s.row[size_t(j)] = float(z > 0 ? z / r : z * r);
    }
  }
  return s.row.data();
}

}  // namespace

TokenChoice choose_token(const float* logits, int64_t vocab, const SamplingParams& p, const SeenSet* seen,
                         const int32_t* allowed, int64_t n_allowed, double u, SamplerScratch& s) {
  TokenChoice c;
  const bool unfiltered = !p.greedy() && p.top_k <= 0 && p.top_p >= 1.0 && p.min_p <= 0;
  bool penalised = false;
  float raw_max = 0;       // max of the raw logits row, when a fast path already found it
  bool have_raw_max = false;
  double raw_lse = 0;      // log Σ exp(logits) over the raw row, when a fast path already found it
  bool have_raw_lse = false;
  if (p.greedy()) {
    int64_t n = 0;
    const float* x = candidate_row(logits, vocab, p, seen, allowed, n_allowed, s, &n, &penalised);
    const int64_t j = row_argmax(x, n);
    c.token = allowed ? allowed[j] : int32_t(j);
    c.sample_logprob = 0;
    if (x == logits) raw_max = x[j], have_raw_max = true;
  } else if (unfiltered) {
    // Common rollout case (no filter): one max pass and one exp pass that stores the weights and their block sums;
    // the draw walks the unnormalised weights against u·Z (step 8 without building the kept list), skipping whole
    // blocks whose sum stays below the target.
    int64_t n = 0;
    const float* x = candidate_row(logits, vocab, p, seen, allowed, n_allowed, s, &n, &penalised);
    const double inv_t = 1.0 / p.temperature;
    const float m = row_max(x, n);
    const int64_t nb = (n + kRowBlock - 1) / kRowBlock;
    s.w.resize(size_t(n));
    s.block.resize(size_t(nb));
    // Sampling at T ≠ 1 from the raw row: the temperature-1 mass for `logprob` comes from the same pass.
    const bool pair = x == logits && inv_t != 1.0;
    double z_unit = 0;
    const double z = pair ? row_sum_exp_pair(x, n, m, inv_t, s.w.data(), s.block.data(), &z_unit)
                          : row_sum_exp(x, n, m, inv_t, s.w.data(), s.block.data());
    const double target = u * z;
    const float* w = s.w.data();
    int64_t pick = -1;
    double cum = 0;
    for (int64_t b = 0; b < nb && pick < 0; ++b) {
      if (cum + s.block[size_t(b)] <= target) {
        cum += s.block[size_t(b)];
        continue;
      }
      const int64_t j1 = std::min(n, (b + 1) * kRowBlock);
      for (int64_t j = b * kRowBlock; j < j1; ++j) {
        cum += double(w[j]);
        if (cum > target && w[j] > 0) {
          pick = j;
          break;
        }
      }
    }
    // Rounding left cum ≤ target: the last positive weight (the max itself has weight 1, so one exists).
    if (pick < 0)
      for (pick = n - 1; pick > 0 && !(w[pick] > 0); --pick) {
      }
    c.token = allowed ? allowed[pick] : int32_t(pick);
    c.sample_logprob = float((double(x[pick]) - double(m)) * inv_t - std::log(z));
    if (x == logits) raw_max = m, have_raw_max = true;
    if (pair) raw_lse = double(m) + std::log(z_unit), have_raw_lse = true;
  } else {
    sampling_distribution(logits, vocab, p, seen, allowed, n_allowed, s);
    const auto& d = s.dist;
    size_t pick = d.ids.size() - 1;
    double cum = 0;
    for (size_t i = 0; i < d.ids.size(); ++i) {
      cum += d.probs[i];
      if (cum > u) {
        pick = i;
        break;
      }
    }
    c.token = d.ids[pick];
    c.sample_logprob = float(std::log(d.probs[pick]));
  }
  // Whole-vocabulary log-probs; the sampled distribution already is that one when nothing altered the logits.
  const bool plain = unfiltered && !allowed && !penalised;
  if (plain && p.temperature == 1.0) {
    c.logprob = c.sample_logprob;
  } else {
    const double lse = have_raw_lse ? raw_lse
                       : have_raw_max
                           ? double(raw_max) + std::log(row_sum_exp(logits, vocab, raw_max, 1.0, nullptr, nullptr))
                           : row_log_sum_exp(logits, vocab, 1.0);
    c.logprob = float(double(logits[c.token]) - lse);
  }
  if (p.temperature > 0 && p.temperature != 1.0) {
    const double inv_t = 1.0 / p.temperature;
    c.temp_logprob = plain ? c.sample_logprob
                           : float(double(logits[c.token]) * inv_t - row_log_sum_exp(logits, vocab, inv_t));
  } else {
    c.temp_logprob = c.logprob;
  }
  if (allowed) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n_allowed; ++j) m = std::max(m, double(logits[allowed[j]]));
    double z = 0;
    for (int64_t j = 0; j < n_allowed; ++j) z += std::exp(double(logits[allowed[j]]) - m);
    c.masked_logprob = float(double(logits[c.token]) - m - std::log(z));
  } else {
    c.masked_logprob = c.logprob;
  }
  return c;
}

}  // namespace lfm2
