// The CPU side of the JS Trainer: lfm2::Trainer (native/model/trainer.h) over a CPU model's weights. Every call holds
// the model's mutex, so training serialises with Model.forward/advance and with samplers on the same model.
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/model_engine.h"
#include "binding/trainer_engine.h"
#include "core/error.h"
#include "model/train_state.h"
#include "model/trainer.h"

namespace lfm2::binding {
namespace {

TrainParam& find_param(Trainer& tr, const std::string& name) {
  for (auto& p : tr.params())
    if (p.name == name) return p;
  throw ArgumentRangeError("no trainable tensor named '" + name + "'");
}

// The state files' view of the CPU trainer: its live host arrays, no copies.
class CpuStateAccess : public TrainStateAccess {
 public:
  explicit CpuStateAccess(Trainer& tr) : tr_(tr) {}
  TrainMode mode() const override { return tr_.mode(); }
  int64_t step_count() const override { return tr_.step_count(); }
  void set_step_count(int64_t s) override { tr_.set_step_count(s); }
  std::vector<StateArrays> current_state() override {
    std::vector<StateArrays> out;
    for (auto& p : tr_.params()) out.push_back({p.name, p.size, p.weight, p.exp_avg.data(), p.exp_avg_sq.data()});
    return out;
  }
  std::vector<StateArrays> load_buffers() override { return current_state(); }
  void commit_state() override {
    tr_.sync_bf16();
    tr_.zero_grad();
  }
  Lfm2Weights& weights() override { return tr_.model().weights(); }
  // The host weights are the trainer's own (BF16 ones rewritten after every step).
  const float* live_weight(const WeightTensor&) override { return nullptr; }
  const LoraAdapter* lora() override { return tr_.lora(); }
  const float* parameter(const std::string& name) override { return find_param(tr_, name).weight; }
  void set_parameters(const std::vector<std::pair<std::string, std::vector<float>>>& values) override {
    for (const auto& [name, v] : values) std::copy(v.begin(), v.end(), find_param(tr_, name).weight);
    tr_.sync_bf16();
    tr_.zero_grad();
  }

 private:
  Trainer& tr_;
};

class CpuTrainerEngine : public TrainerEngine {
 public:
  CpuTrainerEngine(std::shared_ptr<ModelHandle> model, const TrainerOptions& opts) : model_(std::move(model)) {
    std::lock_guard<std::mutex> lk(model_->mu);
    trainer_ = std::make_unique<Trainer>(*model_->model, opts);
  }

  TrainerInfo info() override {
    std::lock_guard<std::mutex> lk(model_->mu);
    TrainerInfo r;
    r.mode = trainer_->mode();
    r.step = trainer_->step_count();
    r.trainable_parameters = trainer_->trainable_parameters();
    if (LoraAdapter* l = trainer_->lora()) {
      TrainerLoraInfo li{l->rank(), l->scale(), l->merged(), {}};
      for (const auto& m : l->modules()) li.modules.push_back(m.path);
      r.lora = std::move(li);
    }
    return r;
  }

  std::vector<std::string> parameter_names() override {
    std::lock_guard<std::mutex> lk(model_->mu);
    std::vector<std::string> names;
    for (const auto& p : trainer_->params()) names.push_back(p.name);
    return names;
  }
  std::vector<float> parameter(const std::string& name) override { return copy_of(name, false); }
  std::vector<float> gradient(const std::string& name) override { return copy_of(name, true); }

  void set_parameter(const std::string& name, const std::vector<float>& data) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    TrainParam& p = find_param(*trainer_, name);
    if (int64_t(data.size()) != p.size)
      throw ArgumentRangeError("setParameter: " + name + " has " + std::to_string(p.size) + " elements, got " +
                               std::to_string(data.size()));
    if (trainer_->lora() && trainer_->lora()->merged()) fail("setParameter: unmerge the LoRA adapter first");
    std::copy(data.begin(), data.end(), p.weight);
    trainer_->sync_bf16();
  }

  MicroStepResult accumulate(const TrainBatch& batch, const GrpoLossOptions& loss) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    return trainer_->accumulate(batch, loss);
  }
  MicroStepResult logprobs(const TrainBatch& batch, bool adapter, float temperature) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    return trainer_->logprobs(batch, adapter, temperature);
  }
  StepResult step() override {
    std::lock_guard<std::mutex> lk(model_->mu);
    return trainer_->step();
  }
  void zero_grad() override {
    std::lock_guard<std::mutex> lk(model_->mu);
    trainer_->zero_grad();
  }
  void merge() override {
    std::lock_guard<std::mutex> lk(model_->mu);
    LFM2_CHECK(trainer_->lora(), "merge: the trainer is not in LoRA mode");
    trainer_->lora()->merge();
  }
  void unmerge() override {
    std::lock_guard<std::mutex> lk(model_->mu);
    LFM2_CHECK(trainer_->lora(), "unmerge: the trainer is not in LoRA mode");
    trainer_->lora()->unmerge();
  }
  void save_state(const std::string& dir, const std::string& extra_json) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    CpuStateAccess state(*trainer_);
    save_trainer_state(state, dir, extra_json);
  }
  std::string load_state(const std::string& dir) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    CpuStateAccess state(*trainer_);
    return load_trainer_state(state, dir);
  }
  void save_model(const std::string& dir) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    CpuStateAccess state(*trainer_);
    save_hf_model(state, dir);
  }
  void save_adapter(const std::string& dir) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    CpuStateAccess state(*trainer_);
    save_peft_adapter(state, dir);
  }
  void load_adapter(const std::string& dir) override {
    std::lock_guard<std::mutex> lk(model_->mu);
    CpuStateAccess state(*trainer_);
    load_peft_adapter(state, dir);
  }

 private:
  std::vector<float> copy_of(const std::string& name, bool grad) {
    std::lock_guard<std::mutex> lk(model_->mu);
    TrainParam& p = find_param(*trainer_, name);
    const float* src = grad ? p.grad : p.weight;
    return std::vector<float>(src, src + p.size);
  }

  std::shared_ptr<ModelHandle> model_;  // declared first: destroyed after the trainer
  std::unique_ptr<Trainer> trainer_;
};

}  // namespace

TrainerEngineFactory cpu_trainer_factory(std::shared_ptr<ModelEngine> model) {
  std::shared_ptr<ModelHandle> handle = std::static_pointer_cast<ModelHandle>(model);
  return [handle](const TrainerOptions& opts) -> std::shared_ptr<TrainerEngine> {
    return std::make_shared<CpuTrainerEngine>(handle, opts);
  };
}

}  // namespace lfm2::binding
