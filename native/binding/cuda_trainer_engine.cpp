// The GPU side of the JS Trainer: cuda::CudaTrainer (native/backend/cuda/cuda_trainer.cuh) on a CUDA model's device
// weights. The CUDA model's own mutex serialises the work with forward/advance on the same model, so no lock here.
// Differences from the CPU: merge()/unmerge() reject (the adapter is applied during generation without merging, and
// saveModel folds it in); info().lora.merged is always false; info().device is 'cuda'.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "binding/trainer_engine.h"
#include "core/error.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_trainer.cuh"
#include "binding/cuda_model_handle.h"
#include "model/train_state.h"
#endif

namespace lfm2::binding {

#ifndef LFM2_WITH_CUDA

TrainerEngineFactory cuda_trainer_factory(std::shared_ptr<ModelEngine>) {
  throw std::runtime_error("Trainer.create: this build has no CUDA backend");
}

#else

namespace {

// The state files' view of the GPU trainer: host copies staged to and from the device. The host weights stay as
// loaded (the base of LoRA mode); full mode's live masters are on the device.
class CudaStateAccess : public TrainStateAccess {
 public:
  explicit CudaStateAccess(cuda::CudaTrainer& tr) : tr_(tr) {}
  TrainMode mode() const override { return tr_.mode(); }
  int64_t step_count() const override { return tr_.step_count(); }
  void set_step_count(int64_t s) override { tr_.set_step_count(s); }
  std::vector<StateArrays> current_state() override {
    staged_ = tr_.export_state();
    return arrays();
  }
  std::vector<StateArrays> load_buffers() override {
    const std::vector<std::string> names = tr_.parameter_names();
    const std::vector<int64_t> sizes = tr_.parameter_sizes();
    staged_.assign(names.size(), {});
    for (size_t i = 0; i < names.size(); ++i) {
      staged_[i].name = names[i];
      staged_[i].weight.resize(size_t(sizes[i]));
      staged_[i].exp_avg.resize(size_t(sizes[i]));
      staged_[i].exp_avg_sq.resize(size_t(sizes[i]));
    }
    return arrays();
  }
  void commit_state() override { tr_.import_state(staged_); }
  Lfm2Weights& weights() override { return tr_.host().weights(); }
  const float* live_weight(const WeightTensor& t) override {
    if (tr_.mode() != TrainMode::Full) return nullptr;
    live_ = tr_.parameter(t.name);
    return live_.data();
  }
  const LoraAdapter* lora() override { return tr_.lora_layout(); }
  const float* parameter(const std::string& name) override {
    auto it = params_.find(name);
    if (it == params_.end()) it = params_.emplace(name, tr_.parameter(name)).first;
    return it->second.data();
  }
  void set_parameters(const std::vector<std::pair<std::string, std::vector<float>>>& values) override {
    for (const auto& [name, v] : values) tr_.set_parameter(name, v);
    tr_.zero_grad();
  }

 private:
  std::vector<StateArrays> arrays() {
    std::vector<StateArrays> out;
    for (auto& h : staged_)
      out.push_back({h.name, int64_t(h.weight.size()), h.weight.data(), h.exp_avg.data(), h.exp_avg_sq.data()});
    return out;
  }

  cuda::CudaTrainer& tr_;
  std::vector<cuda::CudaTrainer::HostParam> staged_;
  std::vector<float> live_;
  std::map<std::string, std::vector<float>> params_;  // downloaded once; pointers stay valid
};

class CudaTrainerEngine : public TrainerEngine {
 public:
  CudaTrainerEngine(std::shared_ptr<CudaModelHandle> model, const TrainerOptions& opts)
      : model_(std::move(model)), trainer_(std::make_unique<cuda::CudaTrainer>(*model_->model, *model_->host, opts)) {}

  TrainerInfo info() override {
    TrainerInfo r;
    r.mode = trainer_->mode();
    r.step = trainer_->step_count();
    r.trainable_parameters = trainer_->trainable_parameters();
    r.device = "cuda";
    if (const LoraAdapter* l = trainer_->lora_layout()) {
      TrainerLoraInfo li{l->rank(), l->scale(), false, {}};
      for (const auto& m : l->modules()) li.modules.push_back(m.path);
      r.lora = std::move(li);
    }
    return r;
  }

  std::vector<std::string> parameter_names() override { return trainer_->parameter_names(); }
  std::vector<float> parameter(const std::string& name) override { return trainer_->parameter(name); }
  std::vector<float> gradient(const std::string& name) override { return trainer_->gradient(name); }
  void set_parameter(const std::string& name, const std::vector<float>& data) override {
    trainer_->set_parameter(name, data);
  }

  MicroStepResult accumulate(const TrainBatch& batch, const GrpoLossOptions& loss) override {
    return trainer_->accumulate(batch, loss);
  }
  MicroStepResult logprobs(const TrainBatch& batch, bool adapter, float temperature) override {
    return trainer_->logprobs(batch, adapter, temperature);
  }
  StepResult step() override { return trainer_->step(); }
  void zero_grad() override { trainer_->zero_grad(); }
  void merge() override {
    fail("merge: not available on the CUDA trainer (generation on the CUDA model already applies the adapter "
         "without merging; saveModel folds it into the exported weights)");
  }
  void unmerge() override { fail("unmerge: not available on the CUDA trainer (its adapter is never merged)"); }
  void save_state(const std::string& dir, const std::string& extra_json) override {
    CudaStateAccess state(*trainer_);
    save_trainer_state(state, dir, extra_json);
  }
  std::string load_state(const std::string& dir) override {
    CudaStateAccess state(*trainer_);
    return load_trainer_state(state, dir);
  }
  void save_model(const std::string& dir) override {
    CudaStateAccess state(*trainer_);
    save_hf_model(state, dir);
  }
  void save_adapter(const std::string& dir) override {
    CudaStateAccess state(*trainer_);
    save_peft_adapter(state, dir);
  }
  void load_adapter(const std::string& dir) override {
    CudaStateAccess state(*trainer_);
    load_peft_adapter(state, dir);
  }

 private:
  std::shared_ptr<CudaModelHandle> model_;  // declared first: destroyed after the trainer
  std::unique_ptr<cuda::CudaTrainer> trainer_;
};

}  // namespace

TrainerEngineFactory cuda_trainer_factory(std::shared_ptr<ModelEngine> model) {
  std::shared_ptr<CudaModelHandle> handle = std::static_pointer_cast<CudaModelHandle>(model);
  return [handle](const TrainerOptions& opts) -> std::shared_ptr<TrainerEngine> {
    return std::make_shared<CudaTrainerEngine>(handle, opts);
  };
}

#endif  // LFM2_WITH_CUDA

}  // namespace lfm2::binding
