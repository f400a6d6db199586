#pragma once
// A packed batch through the model for the training losses: forward passes over whole sequences, the fused loss
// (grpo_loss.h) on the completion rows, and optionally the backward into gradients. The trainer's micro-steps and
// log-probs and the frozen model's per-token log-probs (the KL reference of full fine-tuning) all run here, so they
// give the same numbers for the same weights.
//
// Batch layout: sequences packed back to back (tokens [T], offsets [S+1]); mask[t] ≠ 0 marks token t as a scored
// completion token, predicted by the hidden state of row t−1 of the same sequence (so a sequence's first token can
// never be scored); old/ref log-probs are per token, aligned with tokens; one advantage per sequence.
#include <cstdint>
#include <vector>

#include "model/grpo_loss.h"
#include "model/lfm2.h"
#include "model/lfm2_backward.h"
#include "model/lfm2_backward_checkpoint.h"
#include "model/lora.h"

namespace lfm2 {

struct TrainBatch {
  std::vector<int32_t> tokens;      // [T]
  std::vector<int64_t> offsets;     // [S + 1], offsets[0] = 0, offsets[S] = T
  std::vector<float> mask;          // [T] 0 or 1 (sft: a token weight >= 0)
  std::vector<float> advantages;    // [S] (may be empty for sft)
  std::vector<float> old_logp;      // [T] or empty (ratio 1)
  std::vector<float> ref_logp;      // [T] or empty (needed when beta ≠ 0)
  int64_t sequences() const { return int64_t(offsets.size()) - 1; }
};

struct MicroStepResult {
  GrpoLossStats stats;
  std::vector<float> logp;     // [T] log-prob of each scored token (0 where mask = 0)
  std::vector<float> entropy;  // [T] entropy of the distribution that scored it (0 where mask = 0)
};

// Throws a clear error (nothing touched) when the batch does not fit a model of `vocab` tokens or the loss settings
// are inconsistent; for_loss = false checks only what scoring needs (layout, token ids, mask, temperature).
void validate_train_batch(const TrainBatch& b, int64_t vocab, const GrpoLossOptions& lo, bool for_loss);

// The loss options with the batch's own normalisers where none is given (≤ 0): its scored tokens (token_normalizer)
// and its sequences with a scored token (sequence_normalizer), at least 1 each.
GrpoLossOptions with_batch_normalizers(const GrpoLossOptions& lo, const TrainBatch& b);

struct PassSettings {
  Precision precision = Precision::Exact;  // the linears' GEMMs, forward and backward, and the LM head's
  int64_t max_pass_tokens = 0;             // > 0: passes of whole sequences of at most this many tokens
  const LinearHook* hook = nullptr;        // adapter applied in the forward (nullptr = the plain weights)
};

// Where a backward pass puts its gradients; absent = log-probs and statistics only.
struct PassBackward {
  GradMap& grads;
  LoraAdapter* lora;
  BackwardScratch& scratch;
  bool checkpointing;
  CheckpointedActivations& ckpt;
};

// Runs the batch (validated) in passes; the loss normalisers are fixed for the whole batch first, so splitting into
// passes changes nothing. Statistics are sums over the batch's scored tokens.
void run_loss_passes(Lfm2Model& model, const TrainBatch& b, const GrpoLossOptions& lo, const PassSettings& ps,
                     ForwardActivations& acts, PassBackward* backward, MicroStepResult& res);

// Per-token log-probs and entropies of the masked tokens under the model's own weights at `temperature`, no
// gradient: what a trainer's logprobs() gives with no adapter (validates the batch first).
MicroStepResult token_logprobs(Lfm2Model& model, const TrainBatch& b, float temperature, Precision precision,
                               ForwardActivations& acts);

}  // namespace lfm2
