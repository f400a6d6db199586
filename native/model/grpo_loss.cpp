#include "model/grpo_loss.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cpu/backward/softmax_rows.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

GrpoLossType parse_grpo_loss_type(const char* name) {
  const std::string s = name ? name : "";
  if (s == "grpo") return GrpoLossType::Grpo;
  if (s == "bnpo") return GrpoLossType::Bnpo;
  if (s == "dr_grpo") return GrpoLossType::DrGrpo;
  if (s == "dapo") return GrpoLossType::Dapo;
  if (s == "sft") return GrpoLossType::Sft;
  fail("unknown loss_type '", s, "' (expected grpo, bnpo, dr_grpo, dapo or sft)");
}

void check_sft_options(const GrpoLossOptions& opt, const char* prefix) {
  if (opt.loss_type != GrpoLossType::Sft) return;
  // The cross-entropy of the demonstrations is on the model's own distribution: no KL term, no temperature.
  LFM2_CHECK(opt.beta == 0.f, prefix, "loss_type sft: beta must be 0 (the cross-entropy has no KL term), got ",
             opt.beta);
  LFM2_CHECK(opt.temperature == 1.f, prefix, "loss_type sft: temperature must be 1 (the cross-entropy is on the "
             "unscaled logits), got ", opt.temperature);
}

void check_mask_value(float m, GrpoLossType type, const char* what, int64_t index) {
  if (type == GrpoLossType::Sft)
    LFM2_CHECK(std::isfinite(m) && m >= 0.f, what, index, " must be a finite weight >= 0 for loss_type sft, got ", m);
  else
    LFM2_CHECK(m == 0.f || m == 1.f, what, index, " must be 0 or 1, got ", m);
}

namespace {

// Checks every input and returns c_n, the weight of row n's per-token loss in the aggregated loss ([N]).
std::vector<double> validate_and_weights(const GrpoLossInputs& in, const GrpoLossOptions& opt) {
  const int64_t N = in.rows;
  LFM2_CHECK(N >= 0 && in.vocab > 0 && in.dim > 0, "grpo_loss: bad shape rows=", N, " vocab=", in.vocab,
             " dim=", in.dim);
  const bool sft = opt.loss_type == GrpoLossType::Sft;
  LFM2_CHECK(in.hidden && in.head && in.targets && in.mask && in.seq_ids,
             "grpo_loss: hidden, head, targets, mask and seq_ids are required");
  LFM2_CHECK(sft || in.advantages, "grpo_loss: advantages are required (only sft goes without)");
  LFM2_CHECK(!(sft && in.is_weight), "grpo_loss: loss_type sft takes no importance weights");
  LFM2_CHECK(std::isfinite(opt.temperature) && opt.temperature > 0.f, "grpo_loss: temperature must be > 0, got ",
             opt.temperature);
  check_sft_options(opt, "grpo_loss: ");
  LFM2_CHECK(opt.epsilon_low >= 0.f && opt.epsilon_low < 1.f, "grpo_loss: epsilon_low must be in [0, 1), got ",
             opt.epsilon_low);
  LFM2_CHECK(opt.epsilon_high >= 0.f, "grpo_loss: epsilon_high must be >= 0, got ", opt.epsilon_high);
  LFM2_CHECK(std::isfinite(opt.beta) && opt.beta >= 0.f, "grpo_loss: beta must be >= 0, got ", opt.beta);
  LFM2_CHECK(opt.beta == 0.f || in.ref_logp, "grpo_loss: beta != 0 needs reference log-probs");
  LFM2_CHECK(opt.chunk_rows >= 1, "grpo_loss: chunk_rows must be >= 1");
  if (opt.loss_type == GrpoLossType::DrGrpo)
    LFM2_CHECK(opt.max_completion_length > 0, "grpo_loss: dr_grpo needs max_completion_length > 0");
  for (int64_t n = 0; n < N; ++n) {
    LFM2_CHECK(in.targets[n] >= 0 && in.targets[n] < in.vocab, "grpo_loss: target id ", in.targets[n], " at row ",
               n, " is outside the vocabulary [0, ", in.vocab, ")");
    if (in.advantages)
      LFM2_CHECK(std::isfinite(in.advantages[n]), "grpo_loss: advantage at row ", n, " is not finite (",
                 in.advantages[n], ")");
    check_mask_value(in.mask[n], opt.loss_type, "grpo_loss: mask at row ", n);
    LFM2_CHECK(in.seq_ids[n] >= 0, "grpo_loss: negative sequence id at row ", n);
    if (in.mask[n] != 0.f) {
      if (in.old_logp && !sft)
        LFM2_CHECK(std::isfinite(in.old_logp[n]), "grpo_loss: old log-prob at unmasked row ", n, " is not finite");
      if (in.ref_logp && opt.beta != 0.f)
        LFM2_CHECK(std::isfinite(in.ref_logp[n]), "grpo_loss: ref log-prob at unmasked row ", n, " is not finite");
      if (in.is_weight)
        LFM2_CHECK(std::isfinite(in.is_weight[n]) && in.is_weight[n] >= 0.f, "grpo_loss: importance weight at row ",
                   n, " must be finite and >= 0");
    }
  }
  std::unordered_map<int32_t, double> seq_tokens;  // sequence id → |o_i|
  double tokens = 0;
  for (int64_t n = 0; n < N; ++n) {
    seq_tokens[in.seq_ids[n]] += in.mask[n];
    tokens += in.mask[n];
  }
  const double nseq = opt.sequence_normalizer > 0 ? opt.sequence_normalizer : double(seq_tokens.size());
  const double ntok = opt.token_normalizer > 0 ? opt.token_normalizer : std::max(1.0, tokens);
  std::vector<double> c(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) {
    switch (opt.loss_type) {
      case GrpoLossType::Grpo: c[size_t(n)] = 1.0 / (std::max(1.0, seq_tokens[in.seq_ids[n]]) * nseq); break;
      case GrpoLossType::Bnpo:
      case GrpoLossType::Dapo:
      case GrpoLossType::Sft: c[size_t(n)] = 1.0 / ntok; break;
      case GrpoLossType::DrGrpo: c[size_t(n)] = 1.0 / (nseq * double(opt.max_completion_length)); break;
    }
  }
  return c;
}

// Per-token terms once logp is known. Masked rows force logp/old/ref to 0 before any exp.
struct TokenTerms {
  double weighted_loss = 0;  // c·m·l
  double g = 0;              // d(weighted loss)/d logp
  double kl = 0;
  bool low = false, high = false;
};

TokenTerms token_terms(const GrpoLossInputs& in, const GrpoLossOptions& opt, int64_t n, double logp, double c) {
  TokenTerms t;
  if (in.mask[n] == 0.f) return t;
  const double lp = logp;
  double l, dl;  // per-token loss and dl/dlogp
  if (opt.loss_type == GrpoLossType::Sft) {
    l = -lp;
    dl = -1.0;
  } else {
    const double old = in.old_logp ? double(in.old_logp[n]) : lp;
    const double A = in.advantages[n];
    const double w = in.is_weight ? double(in.is_weight[n]) : 1.0;
    const double rho = std::exp(lp - old);
    const double lo = 1.0 - double(opt.epsilon_low), hi = 1.0 + double(opt.epsilon_high);
    const double clipped = std::min(std::max(rho, lo), hi);
    const double unclipped_obj = rho * A, clipped_obj = clipped * A;
    const bool in_range = rho >= lo && rho <= hi;  // clamp passes the gradient at the bounds, like torch.clamp
    double ds;  // ∂s/∂logp
    if (unclipped_obj < clipped_obj) ds = rho * A;
    else if (unclipped_obj > clipped_obj) ds = in_range ? rho * A : 0.0;
    else ds = 0.5 * rho * A + 0.5 * (in_range ? rho * A : 0.0);  // torch.min splits the gradient at ties
    l = -std::min(unclipped_obj, clipped_obj) * w;
    dl = -ds * w;
    t.low = rho < lo && A < 0;
    t.high = rho > hi && A > 0;
  }
  if (opt.beta != 0.f) {
    const double d = double(in.ref_logp[n]) - lp;
    t.kl = std::exp(d) - d - 1.0;
    l += double(opt.beta) * t.kl;
    dl += double(opt.beta) * (1.0 - std::exp(d));
  } else if (in.ref_logp) {
    const double d = double(in.ref_logp[n]) - lp;
    t.kl = std::isfinite(d) ? std::exp(d) - d - 1.0 : 0.0;  // metric only
  }
  // m is 1 except for sft token weights.
  t.weighted_loss = c * in.mask[n] * l;
  t.g = c * in.mask[n] * dl;
  return t;
}

struct RowResult {
  double logp = 0, entropy = 0;
  bool correct = false;  // argmax of the logits is the target
  TokenTerms terms;
};

// First index of the row's maximum `m` (one of its values): the argmax, the lowest index winning a tie.
int64_t first_argmax(const float* z, int64_t V, float m) {
  int64_t v = 0;
  while (v < V && !(z[v] == m)) ++v;
  return v;
}

GrpoLossStats reduce(const GrpoLossInputs& in, const std::vector<RowResult>& rows, const GrpoLossOutputs& out) {
  GrpoLossStats st;
  for (int64_t n = 0; n < in.rows; ++n) {
    const RowResult& r = rows[size_t(n)];
    const double m = in.mask[n];
    st.loss += r.terms.weighted_loss;
    st.tokens += m;
    st.kl_sum += m * r.terms.kl;
    st.entropy_sum += m * r.entropy;
    st.clip_low += m * double(r.terms.low);
    st.clip_high += m * double(r.terms.high);
    st.clip_region += m * double(r.terms.low || r.terms.high);
    st.correct += m * double(r.correct);
    if (out.logp) out.logp[n] = float(r.logp);
    if (out.entropy) out.entropy[n] = float(r.entropy);
  }
  return st;
}

// Turns one raw logits row (h·Eᵀ, [V]) into dlogits in place and fills the row's result. One exp per logit: the
// row holds exp(z − max) after the statistics pass and is rescaled into the gradient.
void fused_row(const GrpoLossInputs& in, const GrpoLossOptions& opt, int64_t n, double c, float* row,
               RowResult& res) {
  const int64_t V = in.vocab;
  const float inv_t = 1.f / opt.temperature;
  const float m = cpu::row_scale_max(row, V, inv_t);  // row = z
  const float zy = row[in.targets[n]];
  res.correct = first_argmax(row, V, m) == in.targets[n];
  double sum = 0, sum_ez = 0;
  cpu::row_exp_stats(row, V, m, &sum, &sum_ez);  // row = exp(z − m)
  const double lse = double(m) + std::log(sum);
  res.logp = double(zy) - lse;
  res.entropy = lse - sum_ez / sum;
  LFM2_CHECK(std::isfinite(res.logp) && std::isfinite(res.entropy), "grpo_loss: non-finite logits at row ", n,
             " (NaN or Inf in the hidden states or the head)");
  res.terms = token_terms(in, opt, n, res.logp, c);
  // dlogits = g·(onehot − p)/τ
  const float k = float(-res.terms.g / sum) * inv_t;
  for (int64_t v = 0; v < V; ++v) row[v] *= k;
  row[in.targets[n]] += float(res.terms.g) * inv_t;
}

}  // namespace

GrpoLossStats grpo_loss_fused(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out) {
  const std::vector<double> c = validate_and_weights(in, opt);
  const int64_t N = in.rows, V = in.vocab, C = in.dim;
  const int64_t chunk = std::min<int64_t>(opt.chunk_rows, std::max<int64_t>(N, 1));
  std::vector<float> logits(static_cast<size_t>(chunk * V));  // [chunk, V]
  std::vector<RowResult> rows(static_cast<size_t>(N));
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t R = std::min(chunk, N - r0);
    const float* Hc = in.hidden + r0 * C;  // [R, C]
    gemm_nt(R, V, C, Hc, C, in.head, in.head_dtype, C, logits.data(), V, 0.f, in.head_precision);  // [R, V]
    parallel_for(R, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i)
        fused_row(in, opt, r0 + i, c[size_t(r0 + i)], logits.data() + i * V, rows[size_t(r0 + i)]);
    });
    if (out.dhidden) gemm_nn(R, C, V, logits.data(), V, in.head, in.head_dtype, C, out.dhidden + r0 * C, C, 0.f, in.head_precision);
    if (out.dhead) gemm_tn(V, C, R, logits.data(), V, Hc, C, out.dhead, C, 1.f, in.head_precision);
  }
  GrpoLossStats st = reduce(in, rows, out);
  st.workspace_bytes = int64_t(logits.size() * sizeof(float) + rows.size() * sizeof(RowResult) +
                               c.size() * sizeof(double));
  return st;
}

GrpoLossStats grpo_loss_unfused(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out) {
  const std::vector<double> c = validate_and_weights(in, opt);
  const int64_t N = in.rows, V = in.vocab, C = in.dim;
  const float inv_t = 1.f / opt.temperature;
  std::vector<float> logits(static_cast<size_t>(N * V));    // [N, V]  z = h·Eᵀ/τ
  std::vector<float> logprobs(static_cast<size_t>(N * V));  // [N, V]  log_softmax(z)
  std::vector<float> dlogits(static_cast<size_t>(N * V));   // [N, V]
  std::vector<RowResult> rows(static_cast<size_t>(N));
  gemm_nt(N, V, C, in.hidden, C, in.head, in.head_dtype, C, logits.data(), V, 0.f, in.head_precision);  // [N, V]
  parallel_for(N, [&](int64_t n0, int64_t n1, int) {
    for (int64_t n = n0; n < n1; ++n) {
      float* z = logits.data() + n * V;
      float* lp = logprobs.data() + n * V;
      float* dz = dlogits.data() + n * V;
      // Eager-style: z = logits/τ; log_softmax(z) materialised; entropy and the gradient read exp(log_softmax).
      const float m = cpu::row_scale_max(z, V, inv_t);
      rows[size_t(n)].correct = first_argmax(z, V, m) == in.targets[n];
      std::memcpy(lp, z, size_t(V) * sizeof(float));
      double sum = 0, sum_ez = 0;
      cpu::row_exp_stats(lp, V, m, &sum, &sum_ez);
      const float lse = float(double(m) + std::log(sum));
      for (int64_t v = 0; v < V; ++v) lp[v] = z[v] - lse;
      RowResult& r = rows[size_t(n)];
      r.logp = lp[in.targets[n]];
      r.entropy = double(lse) - sum_ez / sum;
      LFM2_CHECK(std::isfinite(r.logp) && std::isfinite(r.entropy), "grpo_loss: non-finite logits at row ", n,
                 " (NaN or Inf in the hidden states or the head)");
      r.terms = token_terms(in, opt, n, r.logp, c[size_t(n)]);
      const float g = float(r.terms.g) * inv_t;
      cpu::row_exp_scaled(lp, dz, V, 0.f, -g);
      dz[in.targets[n]] += g;
    }
  });
  if (out.dhidden) gemm_nn(N, C, V, dlogits.data(), V, in.head, in.head_dtype, C, out.dhidden, C, 0.f, in.head_precision);
  if (out.dhead) gemm_tn(V, C, N, dlogits.data(), V, in.hidden, C, out.dhead, C, 1.f, in.head_precision);
  GrpoLossStats st = reduce(in, rows, out);
  st.workspace_bytes = int64_t((logits.size() + logprobs.size() + dlogits.size()) * sizeof(float) +
                               rows.size() * sizeof(RowResult) + c.size() * sizeof(double));
  return st;
}

}  // namespace lfm2
