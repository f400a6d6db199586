#include "model/loss_passes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"

namespace lfm2 {

void validate_train_batch(const TrainBatch& b, int64_t vocab, const GrpoLossOptions& lo, bool for_loss) {
  const int64_t T = int64_t(b.tokens.size()), S = b.sequences();
  LFM2_CHECK(S >= 1, "batch has no sequences");
  LFM2_CHECK(b.offsets[0] == 0 && b.offsets[size_t(S)] == T, "batch offsets must start at 0 and end at ", T,
             " tokens, got ", b.offsets[0], " .. ", b.offsets[size_t(S)]);
  for (int64_t i = 0; i < S; ++i)
    LFM2_CHECK(b.offsets[size_t(i + 1)] > b.offsets[size_t(i)], "sequence ", i, " is empty");
  LFM2_CHECK(int64_t(b.mask.size()) == T, "completion mask has ", b.mask.size(), " entries for ", T, " tokens");
  for (int64_t t = 0; t < T; ++t) {
    LFM2_CHECK(b.tokens[size_t(t)] >= 0 && b.tokens[size_t(t)] < vocab, "token id ", b.tokens[size_t(t)],
               " at index ", t, " is outside the vocabulary [0, ", vocab, ")");
    check_mask_value(b.mask[size_t(t)], lo.loss_type, "completion mask at token ", t);
  }
  for (int64_t i = 0; i < S; ++i)
    LFM2_CHECK(b.mask[size_t(b.offsets[size_t(i)])] == 0.f, "sequence ", i,
               ": its first token is marked as a completion token, but nothing before it can score it");
  LFM2_CHECK(std::isfinite(lo.temperature) && lo.temperature > 0.f, "temperature must be > 0, got ", lo.temperature);
  if (!for_loss) return;
  check_sft_options(lo);
  // sft has no advantages: none is fine, but a list that is given must still fit the batch.
  if (lo.loss_type != GrpoLossType::Sft || !b.advantages.empty())
    LFM2_CHECK(int64_t(b.advantages.size()) == S, b.advantages.size(), " advantages for ", S, " sequences");
  for (int64_t i = 0; i < int64_t(b.advantages.size()); ++i)
    LFM2_CHECK(std::isfinite(b.advantages[size_t(i)]), "advantage of sequence ", i, " is not finite (",
               b.advantages[size_t(i)], ")");
  auto check_lp = [&](const std::vector<float>& v, const char* what) {
    if (v.empty()) return;
    LFM2_CHECK(int64_t(v.size()) == T, what, " log-probs have ", v.size(), " entries for ", T, " tokens");
    for (int64_t t = 0; t < T; ++t)
      LFM2_CHECK(b.mask[size_t(t)] == 0.f || std::isfinite(v[size_t(t)]), what, " log-prob at completion token ", t,
                 " is not finite (", v[size_t(t)], ")");
  };
  check_lp(b.old_logp, "old");
  check_lp(b.ref_logp, "reference");
  LFM2_CHECK(std::isfinite(lo.beta) && lo.beta >= 0.f, "beta must be >= 0, got ", lo.beta);
  LFM2_CHECK(lo.beta == 0.f || !b.ref_logp.empty(), "beta = ", lo.beta, " needs reference log-probs");
  LFM2_CHECK(lo.epsilon_low >= 0.f && lo.epsilon_low < 1.f, "epsilon must be in [0, 1), got ", lo.epsilon_low);
  LFM2_CHECK(lo.epsilon_high >= 0.f, "epsilon_high must be >= 0, got ", lo.epsilon_high);
  if (lo.loss_type == GrpoLossType::DrGrpo)
    LFM2_CHECK(lo.max_completion_length > 0, "dr_grpo needs max_completion_length > 0");
}

GrpoLossOptions with_batch_normalizers(const GrpoLossOptions& lo_in, const TrainBatch& b) {
  GrpoLossOptions lo = lo_in;
  double ntok = 0;
  std::set<int64_t> scored;
  for (int64_t i = 0; i < b.sequences(); ++i)
    for (int64_t t = b.offsets[size_t(i)]; t < b.offsets[size_t(i + 1)]; ++t)
      if (b.mask[size_t(t)] != 0.f) {
        ntok += 1;
        scored.insert(i);
      }
  if (lo.token_normalizer <= 0) lo.token_normalizer = std::max(1.0, ntok);
  if (lo.sequence_normalizer <= 0) lo.sequence_normalizer = std::max<double>(1.0, double(scored.size()));
  return lo;
}

void run_loss_passes(Lfm2Model& model, const TrainBatch& b, const GrpoLossOptions& lo_in, const PassSettings& ps,
                     ForwardActivations& acts, PassBackward* backward, MicroStepResult& res) {
  const Lfm2Config& cfg = model.config();
  const int64_t C = cfg.hidden_size, S = b.sequences(), T = int64_t(b.tokens.size());
  // Fix the normalisers for the whole micro-batch so splitting into passes changes nothing.
  const GrpoLossOptions lo = with_batch_normalizers(lo_in, b);
  res.logp.assign(size_t(T), 0.f);
  res.entropy.assign(size_t(T), 0.f);
  res.stats = GrpoLossStats{};

  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.precision = ps.precision;
  fo.training = backward != nullptr;
  fo.linear_hook = ps.hook;
  const WeightTensor& head = model.weights().head();
  float* dhead = nullptr;
  if (backward) {
    auto it = backward->grads.find(&head);
    dhead = it == backward->grads.end() ? nullptr : it->second;
  }
  int64_t s0 = 0;
  while (s0 < S) {
    // Sequences [s0, s1) form one pass.
    int64_t s1 = s0 + 1;
    if (ps.max_pass_tokens > 0)
      while (s1 < S && b.offsets[size_t(s1 + 1)] - b.offsets[size_t(s0)] <= ps.max_pass_tokens) ++s1;
    else
      s1 = S;
    const int64_t base = b.offsets[size_t(s0)];
    std::vector<SeqChunk> chunks;
    for (int64_t i = s0; i < s1; ++i)
      chunks.push_back(SeqChunk{b.tokens.data() + b.offsets[size_t(i)],
                                b.offsets[size_t(i + 1)] - b.offsets[size_t(i)], nullptr});
    const bool ckpt = backward && backward->checkpointing;
    if (ckpt)
      checkpointed_forward(model, chunks, backward->ckpt, fo);
    else
      model.forward(chunks, acts, fo);
    const float* hidden = ckpt ? backward->ckpt.hidden.data() : acts.hidden;
    const int64_t pass_T = ckpt ? backward->ckpt.T : acts.T;
    // Loss rows: completion token t is scored by the hidden state of row t − 1.
    std::vector<int64_t> tok_of_row, hid_row;
    std::vector<int32_t> targets, seq_ids;
    std::vector<float> adv, oldv, refv, maskv;
    for (int64_t i = s0; i < s1; ++i)
      for (int64_t t = b.offsets[size_t(i)] + 1; t < b.offsets[size_t(i + 1)]; ++t)
        if (b.mask[size_t(t)] != 0.f) {
          tok_of_row.push_back(t);
          hid_row.push_back(t - 1 - base);
          targets.push_back(b.tokens[size_t(t)]);
          seq_ids.push_back(int32_t(i));
          adv.push_back(b.advantages.empty() ? 0.f : b.advantages[size_t(i)]);
          if (!b.old_logp.empty()) oldv.push_back(b.old_logp[size_t(t)]);
          if (!b.ref_logp.empty()) refv.push_back(b.ref_logp[size_t(t)]);
          maskv.push_back(b.mask[size_t(t)]);  // 1, or an sft token weight
        }
    const int64_t N = int64_t(targets.size());
    if (N > 0) {
      std::vector<float> hid(static_cast<size_t>(N * C)), dhid(backward ? static_cast<size_t>(N * C) : 0);
      std::vector<float> lp(static_cast<size_t>(N)), ent(static_cast<size_t>(N));
      for (int64_t n = 0; n < N; ++n)
        std::memcpy(hid.data() + n * C, hidden + hid_row[size_t(n)] * C, size_t(C) * sizeof(float));
      GrpoLossInputs in;
      in.rows = N;
      in.vocab = cfg.vocab_size;
      in.dim = C;
      in.hidden = hid.data();
      in.head = head.data();
      in.head_dtype = head.dtype;
      in.head_precision = ps.precision;
      in.targets = targets.data();
      in.old_logp = oldv.empty() ? nullptr : oldv.data();
      in.ref_logp = refv.empty() ? nullptr : refv.data();
      in.advantages = adv.data();
      in.mask = maskv.data();
      in.seq_ids = seq_ids.data();
      GrpoLossOutputs out;
      out.dhidden = backward ? dhid.data() : nullptr;
      out.dhead = dhead;
      out.logp = lp.data();
      out.entropy = ent.data();
      GrpoLossStats st = grpo_loss_fused(in, lo, out);
      res.stats.loss += st.loss;
      res.stats.tokens += st.tokens;
      res.stats.kl_sum += st.kl_sum;
      res.stats.entropy_sum += st.entropy_sum;
      res.stats.clip_low += st.clip_low;
      res.stats.clip_high += st.clip_high;
      res.stats.clip_region += st.clip_region;
      res.stats.correct += st.correct;
      res.stats.workspace_bytes = std::max(res.stats.workspace_bytes, st.workspace_bytes);
      for (int64_t n = 0; n < N; ++n) {
        res.logp[size_t(tok_of_row[size_t(n)])] = lp[size_t(n)];
        res.entropy[size_t(tok_of_row[size_t(n)])] = ent[size_t(n)];
      }
      if (backward) {
        std::vector<float> dhidden(size_t(pass_T * C), 0.f);  // [T_pass, C]
        for (int64_t n = 0; n < N; ++n)
          std::memcpy(dhidden.data() + hid_row[size_t(n)] * C, dhid.data() + n * C, size_t(C) * sizeof(float));
        const BackwardView view = ckpt ? checkpointed_view(model, backward->ckpt, fo) : backward_view(acts);
        lfm2_backward(model, view, dhidden.data(), backward->grads, backward->lora, ps.precision, backward->scratch);
      }
    }
    s0 = s1;
  }
}

MicroStepResult token_logprobs(Lfm2Model& model, const TrainBatch& b, float temperature, Precision precision,
                               ForwardActivations& acts) {
  GrpoLossOptions lo;
  lo.temperature = temperature;
  validate_train_batch(b, model.config().vocab_size, lo, false);
  PassSettings ps;
  ps.precision = precision;
  MicroStepResult res;
  run_loss_passes(model, b, lo, ps, acts, nullptr, res);
  return res;
}

}  // namespace lfm2
