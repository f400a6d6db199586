#pragma once
// Batched generation for rollouts: a batch of prompts, each asking for n samples (a GRPO group). Every distinct prompt
// is prefilled once (reusing cached prefix states, and the batch's longest common prefix computed once), its state is
// forked for its samples, and all live sequences decode together, one token each per forward, until each stops.
// Token choice and the log-probs returned are defined in sampler.h; the loop itself is generate_loop.h, shared with
// the GPU generator.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/lfm2.h"
#include "model/prefix_cache.h"
#include "model/sampler.h"

namespace lfm2 {

struct GenerateRequest {
  std::vector<int32_t> prompt;            // ≥ 1 token
  int64_t n = 1;                          // samples (≥ 1)
  std::shared_ptr<const TokenTrie> trie;  // constrained action, or null
};

struct GenerateConfig {
  SamplingParams params;
  int64_t max_context = 0;             // prompt + completion limit; ≤ 0 = the model's max_position_embeddings
  int64_t prefill_chunk_tokens = 2048; // rows per prefill forward (bounds activation memory)
  int64_t min_shared_prefix = 2;       // shortest batch-common prefix worth computing separately
  bool cache_prompts = true;           // also store every whole prompt's state in the prefix cache
};

// Why a sequence ended. Stop: a stop token id or stop string. Length: max_new_tokens or the context limit.
// Constraint: a constrained sequence completed an allowed action (its trie path, which ends with EOS).
enum class FinishReason { Stop, Length, Constraint };
const char* finish_reason_name(FinishReason r);

struct SampleResult {
  int64_t request = 0, index = 0;     // which request, which of its n samples
  std::vector<int32_t> tokens;        // generated ids (a stop token or the trie's EOS included)
  std::vector<float> logprobs, temp_logprobs, sample_logprobs, masked_logprobs;  // see sampler.h
  FinishReason finish = FinishReason::Length;
  int32_t stop_string = -1;           // index into params.stop_strings when a stop string ended it
  double first_token_ms = 0, finish_ms = 0;  // since the call started
};

struct GenerateStats {
  int64_t distinct_prompts = 0;
  int64_t prompt_tokens = 0;    // Σ over distinct prompts
  int64_t cached_tokens = 0;    // prompt tokens taken from the prefix cache
  int64_t shared_tokens = 0;    // prompt tokens taken from this call's common-prefix state
  int64_t prefill_tokens = 0;   // prompt tokens actually run through the model
  int64_t decode_steps = 0, generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0, total_ms = 0;
};

struct GenerateOutput {
  std::vector<SampleResult> samples;  // request order, then sample order
  GenerateStats stats;
};

// Runs one forward over the chunks (LogitsMode::Last) and returns its logits [chunks, V], valid until the next call.
// The binding supplies it so the model lock and adapter options stay there.
using ForwardFn = std::function<const float*(const std::vector<SeqChunk>&)>;

// Validates everything first (clear lfm2::Error messages), then generates. `cache` may be null (no reuse across
// calls); `token_bytes` [V] is needed only for stop strings; `cancel` (may be null) is checked between forwards and
// makes the call throw "generation cancelled".
GenerateOutput generate(const Lfm2Model& model, const ForwardFn& forward, const std::vector<GenerateRequest>& requests,
                        const GenerateConfig& cfg, PrefixCache* cache, const std::vector<std::string>* token_bytes,
                        const std::atomic<bool>* cancel);

}  // namespace lfm2
