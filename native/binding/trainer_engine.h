#pragma once
// What the JS Trainer class (trainer.cpp) asks of a training engine, whichever device holds the weights: the CPU
// lfm2::Trainer (cpu_trainer_engine.cpp) or the GPU cuda::CudaTrainer (cuda_trainer_engine.cpp). The JS-facing
// argument reading and result building live once in trainer.cpp; each engine only forwards to its trainer and takes
// whatever lock its model needs.
#include <napi.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "binding/js_exceptions.h"  // ArgumentRangeError: an engine's bad-argument error, a JS RangeError
#include "binding/model_engine.h"
#include "model/loss_passes.h"
#include "model/trainer.h"

namespace lfm2::binding {

struct TrainerLoraInfo {
  int64_t rank = 0;
  float scale = 0;
  bool merged = false;
  std::vector<std::string> modules;
};

struct TrainerInfo {
  TrainMode mode = TrainMode::Lora;
  int64_t step = 0;
  int64_t trainable_parameters = 0;
  const char* device = nullptr;  // set on the GPU only: info() has no device key on the CPU
  std::optional<TrainerLoraInfo> lora;
};

class TrainerEngine {
 public:
  virtual ~TrainerEngine() = default;

  // Called on the JS thread (quick).
  virtual TrainerInfo info() = 0;
  virtual std::vector<std::string> parameter_names() = 0;
  virtual std::vector<float> parameter(const std::string& name) = 0;  // FP32 master weights, copied
  virtual std::vector<float> gradient(const std::string& name) = 0;
  // Overwrites one trainable tensor's master weights (and the model's BF16 copy); its optimizer state is kept.
  virtual void set_parameter(const std::string& name, const std::vector<float>& data) = 0;

  // Called on the libuv pool.
  virtual MicroStepResult accumulate(const TrainBatch& batch, const GrpoLossOptions& loss) = 0;
  virtual MicroStepResult logprobs(const TrainBatch& batch, bool adapter, float temperature) = 0;
  virtual StepResult step() = 0;
  virtual void zero_grad() = 0;
  virtual void merge() = 0;
  virtual void unmerge() = 0;
  virtual void save_state(const std::string& dir, const std::string& extra_json) = 0;
  virtual std::string load_state(const std::string& dir) = 0;  // the extra JSON text
  virtual void save_model(const std::string& dir) = 0;
  virtual void save_adapter(const std::string& dir) = 0;
  virtual void load_adapter(const std::string& dir) = 0;
};

// Builds an engine over one model from checked options; run on the libuv pool, since construction allocates or
// uploads every trainable tensor.
using TrainerEngineFactory = std::function<std::shared_ptr<TrainerEngine>(const TrainerOptions&)>;

// Engines over a model of each device (model_engine.h): cpu_trainer_engine.cpp and cuda_trainer_engine.cpp (the
// latter throws in a build without the CUDA backend).
TrainerEngineFactory cpu_trainer_factory(std::shared_ptr<ModelEngine> model);
TrainerEngineFactory cuda_trainer_factory(std::shared_ptr<ModelEngine> model);

}  // namespace lfm2::binding
