#pragma once
// What the JS Model and GenerationState classes (model.cpp) ask of the device that holds a model: the CPU
// lfm2::Lfm2Model (ModelHandle, model.cpp) or the GPU cuda::CudaModel (CudaModelHandle, cuda_model_engine.cpp).
// Argument reading and result building live once in model.cpp; samplers and trainers pick their own engine from
// the model's device.
//
// Concurrency contract: every forward/backward on a CPU model runs with ModelHandle::mu held (calls share `acts` and
// may update weights); the CUDA model locks itself. A GenerationState handed to a pending call is marked busy
// (StateBox::busy) until that call's Promise settles; callers must check and set it on the main thread before
// queueing work (see acquire_states).
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/lfm2.h"
#include "model/loss_passes.h"

namespace lfm2::binding {

// A generation state (KV caches and conv states of one sequence) on its model's device.
struct EngineState {
  virtual ~EngineState() = default;
  virtual int64_t length() const = 0;  // tokens consumed so far
  virtual int64_t bytes() const = 0;
};

struct ForwardResult {
  std::vector<float> logits;    // [R, V]
  std::vector<int32_t> rows;    // [R]
  std::vector<float> hidden;    // [T, C] when asked for
  int64_t vocab = 0, hidden_size = 0;
};

struct ModelMemory {
  int64_t weight_bytes = 0, state_bytes = 0, state_bytes_cap = 0;
};

class ModelEngine {
 public:
  virtual ~ModelEngine() = default;
  virtual bool on_cuda() const = 0;
  virtual const Lfm2Model& host_model() const = 0;  // config and tensor listing for info()

  // Called on the libuv pool. `states`: empty (fresh sequences) or one per sequence, each made by this engine.
  virtual ForwardResult forward(const std::vector<std::vector<int32_t>>& seqs, const std::vector<EngineState*>& states,
                                const ForwardOptions& fo, bool want_hidden) = 0;
  virtual MicroStepResult token_logprobs(const TrainBatch& batch, float temperature, Precision precision) = 0;

  // Called on the JS thread.
  virtual std::unique_ptr<EngineState> new_state() = 0;
  virtual std::unique_ptr<EngineState> fork(const EngineState& s) = 0;
  virtual ModelMemory memory() const = 0;  // device memory; throws on the CPU
};

// The CPU model's data, which the CPU sampler and trainer use directly (its engine is in model.cpp).
struct ModelHandle : ModelEngine {
  std::unique_ptr<Lfm2Model> model;
  std::mutex mu;             // guards acts, the weights and every forward on this model
  ForwardActivations acts;   // scratch of the forward calls made through the Model class

  bool on_cuda() const override { return false; }
  const Lfm2Model& host_model() const override { return *model; }
};

// Loads a model onto the GPU (run on the libuv pool); state_bytes_cap 0 = the CUDA model's default. Throws in a
// build without the CUDA backend (cuda_model_engine.cpp).
std::shared_ptr<ModelEngine> load_cuda_model(const std::string& dir, int64_t state_bytes_cap);

struct StateBox {
  std::unique_ptr<EngineState> st;  // null after free()
  std::atomic<bool> busy{false};
};

// The engine behind a JS Model object; throws a JS TypeError naming `what` if `v` is not one.
std::shared_ptr<ModelEngine> unwrap_model(Napi::Env env, Napi::Value v, const std::string& what);

// The states behind a JS array of GenerationState objects: checks each is a GenerationState of `model`, alive, idle
// and listed once, then marks them all busy. Throws a JS error (marking nothing) otherwise. Release with
// release_states once the work's Promise settles.
std::vector<std::shared_ptr<StateBox>> acquire_states(Napi::Env env, Napi::Value states, const ModelEngine& model,
                                                      const std::string& what);
void release_states(const std::vector<std::shared_ptr<StateBox>>& boxes);

}  // namespace lfm2::binding
