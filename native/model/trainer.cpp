#include "model/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/bf16.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

// HF excludes norm weights from weight decay (transformers get_decay_parameter_names: "layernorm", "_norm", ...).
bool is_norm_weight(const std::string& name) { return name.find("norm") != std::string::npos; }

}  // namespace

Trainer::Trainer(Lfm2Model& model, const TrainerOptions& opt) : model_(model), opt_(opt) {
  LFM2_CHECK(opt.max_pass_tokens >= 0, "max_pass_tokens must be >= 0");
  Lfm2Weights& w = model.weights();
  if (opt.mode == TrainMode::Lora) {
    lora_ = std::make_unique<LoraAdapter>(w, model.config(), opt.lora);
    for (auto& m : lora_->modules()) {
      for (int ab = 0; ab < 2; ++ab) {
        TrainParam p;
        p.name = m.path + (ab == 0 ? ".lora_A.weight" : ".lora_B.weight");
        p.size = int64_t(ab == 0 ? m.A.size() : m.B.size());
        p.weight = ab == 0 ? m.A.data() : m.B.data();
        p.grad = ab == 0 ? m.dA.data() : m.dB.data();
        params_.push_back(std::move(p));
      }
    }
  } else {
    for (WeightTensor* t : w.all()) {
      TrainParam p;
      p.name = t->name;
      p.size = t->numel();
      p.decay = !is_norm_weight(t->name);
      if (t->dtype == DType::F32) {
        p.weight = t->f32();
      } else {
        p.master.resize(size_t(p.size));
        const uint16_t* src = static_cast<const uint16_t*>(t->data());
        float* dst = p.master.data();
        parallel_for(p.size, [&](int64_t a, int64_t b, int) {
          for (int64_t i = a; i < b; ++i) dst[i] = bf16_to_f32(src[i]);
        }, 1 << 16);
        p.weight = p.master.data();
        p.bf16 = static_cast<uint16_t*>(t->data());
      }
      p.grad_storage.assign(size_t(p.size), 0.f);
      p.grad = p.grad_storage.data();
      grads_[t] = p.grad;
      params_.push_back(std::move(p));
    }
  }
  for (auto& p : params_) {
    p.exp_avg.assign(size_t(p.size), 0.f);
    p.exp_avg_sq.assign(size_t(p.size), 0.f);
  }
}

int64_t Trainer::trainable_parameters() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.size;
  return n;
}

const LinearHook* Trainer::hook(bool use_adapter) const {
  return (lora_ && use_adapter && !lora_->merged()) ? lora_.get() : nullptr;
}

void Trainer::validate(const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss) const {
  const int64_t T = int64_t(b.tokens.size()), S = b.sequences(), V = model_.config().vocab_size;
  LFM2_CHECK(S >= 1, "batch has no sequences");
  LFM2_CHECK(b.offsets[0] == 0 && b.offsets[size_t(S)] == T, "batch offsets must start at 0 and end at ", T,
             " tokens, got ", b.offsets[0], " .. ", b.offsets[size_t(S)]);
  for (int64_t i = 0; i < S; ++i)
    LFM2_CHECK(b.offsets[size_t(i + 1)] > b.offsets[size_t(i)], "sequence ", i, " is empty");
  LFM2_CHECK(int64_t(b.mask.size()) == T, "completion mask has ", b.mask.size(), " entries for ", T, " tokens");
  for (int64_t t = 0; t < T; ++t) {
    LFM2_CHECK(b.tokens[size_t(t)] >= 0 && b.tokens[size_t(t)] < V, "token id ", b.tokens[size_t(t)], " at index ",
               t, " is outside the vocabulary [0, ", V, ")");
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
  LFM2_CHECK(!(lora_ && lora_->merged()), "the LoRA adapter is merged into the base weights: unmerge before training");
}

void Trainer::run_passes(const TrainBatch& b, const GrpoLossOptions& lo_in, bool backward, bool use_adapter,
                         MicroStepResult& res) {
  const Lfm2Config& cfg = model_.config();
  const int64_t C = cfg.hidden_size, S = b.sequences(), T = int64_t(b.tokens.size());
  // Fix the normalisers for the whole micro-batch so splitting into passes changes nothing.
  GrpoLossOptions lo = lo_in;
  double ntok = 0;
  std::set<int64_t> scored;
  for (int64_t i = 0; i < S; ++i)
    for (int64_t t = b.offsets[size_t(i)]; t < b.offsets[size_t(i + 1)]; ++t)
      if (b.mask[size_t(t)] != 0.f) {
        ntok += 1;
        scored.insert(i);
      }
  if (lo.token_normalizer <= 0) lo.token_normalizer = std::max(1.0, ntok);
  if (lo.sequence_normalizer <= 0) lo.sequence_normalizer = std::max<double>(1.0, double(scored.size()));
  res.logp.assign(size_t(T), 0.f);
  res.entropy.assign(size_t(T), 0.f);
  res.stats = GrpoLossStats{};

  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.precision = opt_.precision;
  fo.training = backward;
  fo.linear_hook = hook(use_adapter);
  const WeightTensor& head = model_.weights().head();
  float* dhead = nullptr;
  if (backward) {
    auto it = grads_.find(&head);
    dhead = it == grads_.end() ? nullptr : it->second;
  }
  std::vector<float> zeros_adv;
  int64_t s0 = 0;
  while (s0 < S) {
    // Sequences [s0, s1) form one pass.
    int64_t s1 = s0 + 1;
    if (opt_.max_pass_tokens > 0)
      while (s1 < S && b.offsets[size_t(s1 + 1)] - b.offsets[size_t(s0)] <= opt_.max_pass_tokens) ++s1;
    else
      s1 = S;
    const int64_t base = b.offsets[size_t(s0)];
    std::vector<SeqChunk> chunks;
    for (int64_t i = s0; i < s1; ++i)
      chunks.push_back(SeqChunk{b.tokens.data() + b.offsets[size_t(i)],
                                b.offsets[size_t(i + 1)] - b.offsets[size_t(i)], nullptr});
    const bool ckpt = backward && opt_.checkpointing;
    if (ckpt)
      checkpointed_forward(model_, chunks, ckpt_, fo);
    else
      model_.forward(chunks, acts_, fo);
    const float* hidden = ckpt ? ckpt_.hidden.data() : acts_.hidden;
    const int64_t pass_T = ckpt ? ckpt_.T : acts_.T;
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
      in.head_precision = opt_.precision;
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
        const BackwardView view = ckpt ? checkpointed_view(model_, ckpt_, fo) : backward_view(acts_);
        lfm2_backward(model_, view, dhidden.data(), grads_, lora_.get(), scratch_);
      }
    }
    s0 = s1;
  }
}

MicroStepResult Trainer::accumulate(const TrainBatch& b, const GrpoLossOptions& lo) {
  validate(b, lo, true);
  MicroStepResult res;
  run_passes(b, lo, true, true, res);
  return res;
}

MicroStepResult Trainer::logprobs(const TrainBatch& b, bool use_adapter, float temperature) {
  GrpoLossOptions lo;
  lo.temperature = temperature;
  validate(b, lo, false);
  LFM2_CHECK(use_adapter || !(lora_ && lora_->merged()),
             "the LoRA adapter is merged into the base weights: unmerge before scoring with the adapter off");
  MicroStepResult res;
  run_passes(b, lo, false, use_adapter, res);
  return res;
}

void Trainer::zero_grad() {
  for (auto& p : params_) {
    float* g = p.grad;
    parallel_for(p.size, [&](int64_t a, int64_t e, int) { std::memset(g + a, 0, size_t(e - a) * sizeof(float)); },
                 1 << 16);
  }
}

StepResult Trainer::step() {
  LFM2_CHECK(!(lora_ && lora_->merged()), "the LoRA adapter is merged into the base weights: unmerge before a step");
  StepResult r;
  r.lr = lr_at(opt_.schedule, step_);
  AdamWConfig cfg = opt_.adamw;
  cfg.lr = r.lr;
  std::vector<AdamWTensor> ts;
  for (auto& p : params_)
    ts.push_back(AdamWTensor{p.size, p.weight, p.grad, p.exp_avg.data(), p.exp_avg_sq.data(), p.bf16, p.decay});
  r.adamw = adamw_step(ts, cfg, step_ + 1);
  if (r.adamw.bad_tensor >= 0) r.bad_tensor = params_[size_t(r.adamw.bad_tensor)].name;
  if (!r.adamw.skipped) ++step_;
  r.step = step_;
  zero_grad();  // a skipped step discards its gradients too
  return r;
}

void Trainer::sync_bf16() {
  for (auto& p : params_) {
    if (!p.bf16) continue;
    const float* w = p.weight;
    uint16_t* d = p.bf16;
    parallel_for(p.size, [&](int64_t a, int64_t e, int) {
      for (int64_t i = a; i < e; ++i) d[i] = f32_to_bf16(w[i]);
    }, 1 << 16);
  }
}

}  // namespace lfm2
