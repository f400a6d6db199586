#pragma once
// Fused GRPO loss over the tied LM head (docs/grpo.md §4, TRL v0.26.2 semantics), and the supervised
// cross-entropy (sft) on the same fused head.
//
// Rows are the completion tokens to score. For row n with final hidden state h_n, head E [V, C], temperature τ:
//   z_n    = (h_n · Eᵀ) / τ                                  logits, [V]
//   logp_n = z_n[y_n] − logsumexp(z_n)                       target log-prob
//   H_n    = logsumexp(z_n) − Σ_v softmax(z_n)_v z_n,v       entropy (reported only)
// Masked rows (mask 0) get logp, old and ref forced to 0 BEFORE any exp, so junk there can never become inf·0 = NaN.
//   ρ      = exp(logp − old)                                 (old = nullptr: old = logp detached, so ρ = 1)
//   s      = min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A)
//   KL     = exp(ref − logp) − (ref − logp) − 1              (k3; only when β ≠ 0)
//   l      = −s·w + β·KL                                     (w = optional importance-sampling weight, default 1)
// Aggregation (mask m, sequence i of row n, |o_i| = Σ m over the rows of sequence i):
//   grpo    L = Σ_n m_n l_n / (max(1, |o_i|) · Nseq)
//   bnpo    L = Σ_n m_n l_n / Ntok
//   dr_grpo L = Σ_n m_n l_n / (Nseq · max_completion_length)
//   dapo    L = Σ_n m_n l_n / Ntok
// sft (supervised fine-tuning on demonstrations): l_n = −logp_n, aggregated like dapo, L = Σ_n m_n l_n / Ntok, so
// micro-batches given the step's Ntok sum to the exact mean cross-entropy over the step's completion tokens. For sft
// alone the mask may hold any finite weights ≥ 0 (the other losses take 0 or 1): a weighted mean cross-entropy with
// Ntok = Σ m (e.g. the prompt's tokens weighted below the action's); tokens and correct are then weighted sums too. It has no
// ratio, clip, KL term or temperature: τ must be 1 and β 0 (checked); advantages may be absent; old log-probs and
// importance weights are not used (the latter are rejected); a reference only feeds the kl metric, as with β = 0.
// Nseq and Ntok are given explicitly (so gradient accumulation over micro-batches sums to the exact full-batch
// loss); ≤ 0 means "this call's own count" (distinct sequence ids / Σ m, clamped to ≥ 1).
//
// Backward: with c_n the row's aggregation weight, g_n = c_n · m_n · dl/dlogp where
//   dl/dlogp = −w · (∂s/∂logp) + β · (1 − exp(ref − logp)),  ∂s/∂logp = ρA on the unclipped branch, 0 on the clipped
//   one (ties split evenly, as torch.min does); for sft dl/dlogp = −1, so g_n = −c_n · m_n;
//   dz_n = g_n (onehot(y_n) − softmax(z_n)),  dlogits_n = dz_n / τ
//   dH   = dlogits · E            (written, =)
//   dE  += dlogitsᵀ · H           (accumulated, +=; full fine-tune only)
// The head is evaluated chunk_rows rows at a time, so at most one [chunk_rows, V] logits block exists at once.
//
// Clip statistics follow TRL: low = ρ < 1−ε_low with A < 0; high = ρ > 1+ε_high with A > 0; region = either.
// Statistics are masked sums so micro-batches add up exactly; TRL's metrics are ratios over masked tokens:
//   clip_ratio/low_mean = clip_low / tokens, clip_ratio/high_mean = clip_high / tokens,
//   clip_ratio/region_mean = clip_region / tokens, entropy = entropy_sum / tokens, kl = kl_sum / tokens.
// Token accuracy (every loss type): correct = Σ_n m_n · [argmax_v z_n,v = y_n], the first index winning a tie, taken
// from the logits row while the loss pass has it; accuracy = correct / tokens.
#include <cstdint>

#include "backend/cpu/gemm.h"

namespace lfm2 {

enum class GrpoLossType : int { Grpo = 0, Bnpo = 1, DrGrpo = 2, Dapo = 3, Sft = 4 };

// Parses "grpo" | "bnpo" | "dr_grpo" | "dapo" | "sft"; throws on anything else.
GrpoLossType parse_grpo_loss_type(const char* name);

struct GrpoLossOptions {
  GrpoLossType loss_type = GrpoLossType::Dapo;
  float epsilon_low = 0.2f;
  float epsilon_high = 0.2f;
  float beta = 0.f;
  float temperature = 1.f;
  int64_t max_completion_length = 0;  // dr_grpo only (> 0)
  double token_normalizer = 0;        // Ntok for bnpo / dapo; ≤ 0 → Σ mask of this call
  double sequence_normalizer = 0;     // Nseq for grpo / dr_grpo; ≤ 0 → distinct sequence ids of this call
  int64_t chunk_rows = 256;           // rows of logits materialised at once (fused version only)
};

struct GrpoLossInputs {
  int64_t rows = 0;   // N
  int64_t vocab = 0;  // V
  int64_t dim = 0;    // C
  const float* hidden = nullptr;      // [N, C]
  const void* head = nullptr;         // [V, C], FP32 or BF16
  DType head_dtype = DType::F32;
  // Precision of the logits GEMM h·Eᵀ and of its two gradient products. A trainer scores in its forward's
  // precision, so that fast training reads the same BF16-rounded hidden states the sampler's LM head used for the
  // rollout's log-probs.
  Precision head_precision = Precision::Exact;
  const int32_t* targets = nullptr;   // [N]
  const float* old_logp = nullptr;    // [N] or nullptr
  const float* ref_logp = nullptr;    // [N], required when beta ≠ 0
  const float* advantages = nullptr;  // [N]; may be nullptr for sft
  const float* mask = nullptr;        // [N], each 0 or 1 (sft: any finite weight >= 0)
  const int32_t* seq_ids = nullptr;   // [N], ≥ 0 (rows of one sequence need not be contiguous)
  const float* is_weight = nullptr;   // [N] or nullptr (vLLM-style importance-sampling weight on the surrogate)
};

struct GrpoLossOutputs {
  float* dhidden = nullptr;  // [N, C] written; nullptr → no backward into H
  float* dhead = nullptr;    // [V, C] FP32, accumulated; nullptr → no head gradient (LoRA)
  float* logp = nullptr;     // [N] per-token log-probs (all rows, masked ones included); optional
  float* entropy = nullptr;  // [N] per-token entropies; optional
};

struct GrpoLossStats {
  double loss = 0;           // aggregated loss L
  double tokens = 0;         // Σ mask
  double kl_sum = 0;         // Σ m·KL (0 when β = 0 and no ref given)
  double entropy_sum = 0;    // Σ m·H
  double clip_low = 0;       // Σ m·[low-clipped]
  double clip_high = 0;      // Σ m·[high-clipped]
  double clip_region = 0;    // Σ m·[low or high]
  double correct = 0;        // Σ m·[argmax_v z_v = target] (first index on ties)
  int64_t workspace_bytes = 0;  // peak bytes this call allocated for its own work buffers
};

// The sft options check (β = 0, τ = 1), shared by the loss and the trainers' batch checks; no-op for other types.
// `prefix` starts the error message (e.g. "grpo_loss: ").
void check_sft_options(const GrpoLossOptions& opt, const char* prefix = "");

// One completion-mask entry: 0 or 1, or for sft any finite token weight >= 0. `what` names it in the error (e.g.
// "completion mask at token "), followed by `index`.
void check_mask_value(float m, GrpoLossType type, const char* what, int64_t index);

// Fused, chunked version (the one training uses).
GrpoLossStats grpo_loss_fused(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out);

// Unfused version: materialises logits, log-softmax and dlogits for all rows at once (as an eager PyTorch loss
// would). Same results; exists to measure what the fused version saves.
GrpoLossStats grpo_loss_unfused(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out);

}  // namespace lfm2
