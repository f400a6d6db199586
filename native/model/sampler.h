#pragma once
// Token selection for rollouts: logits filters, per-sequence random streams, constrained-action tries, and the log-probs
// GRPO needs. No model here: the generation loop (generate_loop.h) feeds these one logits row at a time.
//
// The sampling distribution q for one row of raw logits z[V] is defined step by step (the TypeScript reference in
// test/ref/sampler-ref.ts follows the same steps in float64):
//   1. candidates A = every token, or the trie node's children when the sequence is constrained;
//   2. repetition penalty r (HF/CTRL rule) on every token already seen (prompt + generated):
//      z'_i = z_i / r if z_i > 0 else z_i · r;
//   3. temperature T = 0 → greedy: argmax of z' over A (lowest id on ties), q = one-hot;
//   4. p = softmax(z' / T) over A;
//   5. top-k (k > 0): keep the k largest p (lower id first on ties);
//   6. top-p (< 1): sort the kept tokens by p descending (lower id first on ties) and keep the shortest prefix whose
//      mass, renormalised over the kept tokens, reaches top_p;
//   7. min-p (> 0): keep tokens with p ≥ min_p · max p;
//   8. q = p renormalised over the kept tokens. A draw u ∈ [0, 1) picks the first kept token, in ascending id order,
//      whose cumulative q exceeds u.
// Each draw's u comes from a counter-based stream: u = hash(seed, sequence index, step), so a sequence's tokens depend
// only on the seed, its index in the call and its own logits, never on which other sequences share the batch.
//
// Log-probs returned per chosen token (all from the same raw logits row z):
//   logprob        log softmax(z)[tok] over the whole vocabulary: the model's own distribution at temperature 1, no
//                  penalty, no filter, no mask. This is what the GRPO loss recomputes by default (old log-probs).
//   temp_logprob   log softmax(z / T)[tok] over the whole vocabulary (= logprob when T is 0 or 1): what a loss run
//                  with the same temperature recomputes (TRL divides logits by the sampling temperature).
//   sample_logprob log q[tok]: the distribution the token was actually drawn from (0 for greedy).
//   masked_logprob log softmax(z over A)[tok] at temperature 1, for constrained sequences: the masked policy, for a
//                  trainer that chooses to train the constrained distribution (it must then mask the same way).
#include <cstdint>
#include <string>
#include <vector>

namespace lfm2 {

struct SamplingParams {
  double temperature = 1.0;         // 0 = greedy
  int64_t top_k = 0;                // 0 = off
  double top_p = 1.0;               // 1 = off
  double min_p = 0.0;               // 0 = off
  double repetition_penalty = 1.0;  // 1 = off
  int64_t max_new_tokens = 256;
  std::vector<int32_t> stop_ids;
  std::vector<std::string> stop_strings;  // raw bytes (UTF-8), matched against generated token bytes
  uint64_t seed = 0;

  // Throws lfm2::Error naming the bad field.
  void validate(int64_t vocab) const;
  bool greedy() const { return temperature == 0.0; }
};

// Flat token trie of lib/rl/action-trie.ts (CSR; node 0 = root; children sorted by token id).
struct TokenTrie {
  std::vector<int32_t> child_start;  // [nodes + 1]
  std::vector<int32_t> child_token;  // [edges]
  std::vector<int32_t> child_node;   // [edges]
  std::vector<uint8_t> terminal;     // [nodes]

  int64_t nodes() const { return int64_t(terminal.size()); }
  // Checks the CSR invariants (offsets, sorted edges, ids in range, every non-terminal node has children).
  void validate(int64_t vocab) const;
  // Child of `node` along `token`, −1 if not allowed.
  int32_t next(int32_t node, int32_t token) const;
  const int32_t* allowed(int32_t node, int64_t* n) const {
    *n = child_start[size_t(node) + 1] - child_start[size_t(node)];
    return child_token.data() + child_start[size_t(node)];
  }
};

// Tokens already seen by one sequence, for the repetition penalty.
class SeenSet {
 public:
  void reset(int64_t vocab);
  void add(int32_t tok);
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  std::vector<uint64_t> bits_;
  std::vector<int32_t> ids_;
};

// u ∈ [0, 1) for draw `step` of sequence `seq` (splitmix64 finaliser over the three counters).
double sampler_uniform(uint64_t seed, uint64_t seq, uint64_t step);

// The kept tokens and their probabilities q (ascending id, Σ q = 1), computed by steps 1–8 above.
struct SamplingDistribution {
  std::vector<int32_t> ids;
  std::vector<double> probs;
};

struct TokenChoice {
  int32_t token = -1;
  float logprob = 0, temp_logprob = 0, sample_logprob = 0, masked_logprob = 0;
};

// Reusable scratch for one sequence's processing (one per worker thread).
struct SamplerScratch {
  std::vector<double> a;        // [V] penalised scaled logits / probabilities over the candidates
  std::vector<int32_t> cand;    // candidate ids
  std::vector<int32_t> order;   // sort buffer (candidate indices)
  std::vector<double> saved;    // top-p: probabilities of the kept prefix
  std::vector<float> row;       // [n] penalised candidate logits (only when they differ from the raw row)
  std::vector<float> w;         // [n] exp weights of the row (unfiltered draw)
  std::vector<double> block;    // [ceil(n / kRowBlock)] sums of w per block, so a draw skips whole blocks
  SamplingDistribution dist;
};

// Steps 1–8: the distribution a token is drawn from. `allowed` (sorted ids) = nullptr means the whole vocabulary;
// `seen` may be nullptr when the repetition penalty is off.
void sampling_distribution(const float* logits, int64_t vocab, const SamplingParams& p, const SeenSet* seen,
                           const int32_t* allowed, int64_t n_allowed, SamplerScratch& s);

// Draws one token with uniform u (ignored for greedy) and fills every log-prob of TokenChoice.
TokenChoice choose_token(const float* logits, int64_t vocab, const SamplingParams& p, const SeenSet* seen,
                         const int32_t* allowed, int64_t n_allowed, double u, SamplerScratch& s);

}  // namespace lfm2
