#include "model/trainer.h"

#include <cstring>

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

void Trainer::validate(const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss) const {
  validate_train_batch(b, model_.config().vocab_size, lo, for_loss);
  if (!for_loss) return;
  LFM2_CHECK(!(lora_ && lora_->merged()), "the LoRA adapter is merged into the base weights: unmerge before training");
}

PassSettings Trainer::pass_settings(bool use_adapter) const {
  PassSettings ps;
  ps.precision = opt_.precision;
  ps.max_pass_tokens = opt_.max_pass_tokens;
  ps.hook = (lora_ && use_adapter && !lora_->merged()) ? lora_.get() : nullptr;
  return ps;
}

MicroStepResult Trainer::accumulate(const TrainBatch& b, const GrpoLossOptions& lo) {
  validate(b, lo, true);
  MicroStepResult res;
  PassBackward bw{grads_, lora_.get(), scratch_, opt_.checkpointing, ckpt_};
  run_loss_passes(model_, b, lo, pass_settings(true), acts_, &bw, res);
  return res;
}

MicroStepResult Trainer::logprobs(const TrainBatch& b, bool use_adapter, float temperature) {
  GrpoLossOptions lo;
  lo.temperature = temperature;
  validate(b, lo, false);
  LFM2_CHECK(use_adapter || !(lora_ && lora_->merged()),
             "the LoRA adapter is merged into the base weights: unmerge before scoring with the adapter off");
  MicroStepResult res;
  run_loss_passes(model_, b, lo, pass_settings(use_adapter), acts_, nullptr, res);
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
