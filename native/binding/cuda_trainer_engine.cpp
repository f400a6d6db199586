// The GPU side of the JS Trainer: cuda::CudaTrainer (native/backend/cuda/cuda_trainer.cuh) on a JS CudaModel's device
// weights. The CUDA model's own mutex serialises the work with forward/advance on the same model, so no lock here.
// Differences from the CPU: merge()/unmerge() reject (the adapter is applied during generation without merging, and
// saveModel folds it in); info().lora.merged is always false; info().device is 'cuda'.
#include <memory>
#include <string>
#include <vector>

#include "binding/trainer_engine.h"
#include "core/error.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_trainer.cuh"
#include "backend/cuda/cuda_trainer_state.cuh"
#include "binding/cuda_model_handle.h"
#endif

namespace lfm2::binding {

#ifndef LFM2_WITH_CUDA

bool is_cuda_model(Napi::Env, Napi::Value) { return false; }

TrainerEngineFactory cuda_trainer_factory(Napi::Env env, Napi::Value) {
  throw Napi::Error::New(env, "Trainer.create: this build has no CUDA backend");
}

#else

namespace {

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
    cuda::save_cuda_trainer_state(*trainer_, dir, extra_json);
  }
  std::string load_state(const std::string& dir) override { return cuda::load_cuda_trainer_state(*trainer_, dir); }
  void save_model(const std::string& dir) override { cuda::save_cuda_hf_model(*trainer_, dir); }
  void save_adapter(const std::string& dir) override { cuda::save_cuda_peft_adapter(*trainer_, dir); }
  void load_adapter(const std::string& dir) override { cuda::load_cuda_peft_adapter(*trainer_, dir); }

 private:
  std::shared_ptr<CudaModelHandle> model_;  // declared first: destroyed after the trainer
  std::unique_ptr<cuda::CudaTrainer> trainer_;
};

}  // namespace

bool is_cuda_model(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) return false;
  try {
    unwrap_cuda_model(env, v, "model");
    return true;
  } catch (const Napi::Error&) {
    return false;
  }
}

TrainerEngineFactory cuda_trainer_factory(Napi::Env env, Napi::Value model) {
  std::shared_ptr<CudaModelHandle> handle = unwrap_cuda_model(env, model, "Trainer.create: model");
  return [handle](const TrainerOptions& opts) -> std::shared_ptr<TrainerEngine> {
    return std::make_shared<CudaTrainerEngine>(handle, opts);
  };
}

#endif  // LFM2_WITH_CUDA

}  // namespace lfm2::binding
