#pragma once
// What other binding files (sampler, trainer) need to reach the native objects behind the JS Model and
// GenerationState classes defined in model.cpp.
//
// Concurrency contract: every forward/backward on a model runs with ModelHandle::mu held (calls share `acts` and may
// update weights). A GenerationState handed to a pending call is marked busy (StateBox::busy) until that call's
// Promise settles; callers must check and set it on the main thread before queueing work (see acquire_states).
#include <napi.h>

#include <atomic>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/lfm2.h"

namespace lfm2::binding {

struct ModelHandle {
  std::unique_ptr<Lfm2Model> model;
  std::mutex mu;             // guards acts, the weights and every forward on this model
  ForwardActivations acts;   // scratch of the forward calls made through the Model class
};

struct StateBox {
  std::unique_ptr<GenerationState> st;  // null after free()
  std::atomic<bool> busy{false};
};

// The model behind a JS Model object; throws a JS TypeError naming `what` if `v` is not one.
std::shared_ptr<ModelHandle> unwrap_model(Napi::Env env, Napi::Value v, const std::string& what);

// The states behind a JS array of GenerationState objects: checks each is a GenerationState of `model`, alive, idle
// and listed once, then marks them all busy. Throws a JS error (marking nothing) otherwise. Release with
// release_states once the work's Promise settles.
std::vector<std::shared_ptr<StateBox>> acquire_states(Napi::Env env, Napi::Value states, const ModelHandle& model,
                                                      const std::string& what);
void release_states(const std::vector<std::shared_ptr<StateBox>>& boxes);

// model.info(): { config, parameterCount, dtype, tensors: [{ name, shape, dtype, source }] } of a loaded model
// (shared by the CPU Model and the CUDA model, which describes its host copy).
Napi::Object model_info_to_js(Napi::Env env, const Lfm2Model& model);

// The options object at info[i]: a new empty object when absent/undefined, a TypeError naming `fn` if not an object.
Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i, const char* fn);

// ---- forward/advance arguments and results, shared by the CPU Model and the CUDA model so both report the same
// errors. token_arrays copies a JS array of non-empty Int32Array (`what` names it in errors); opt_string reads a
// string option restricted to `allowed`; logits_mode maps 'all'/'last'/'none'.
std::vector<std::vector<int32_t>> token_arrays(Napi::Env env, Napi::Value v, const char* fn, const char* what);
std::string opt_string(Napi::Object opts, const char* key, const std::string& dflt,
                       std::initializer_list<const char*> allowed, const char* fn);
LogitsMode logits_mode(const std::string& s);
// { logits: Float32Array [R·V], logitRows: Int32Array [R], vocab, hidden?: Float32Array [T·C], hiddenSize? }
Napi::Object forward_result_to_js(Napi::Env env, const std::vector<float>& logits, const std::vector<int32_t>& rows,
                                  int64_t vocab, const std::vector<float>& hidden, int64_t hidden_size);

// Wraps a native state into a new JS GenerationState object belonging to `model` (e.g. a state made by a sampler).
Napi::Object wrap_state(Napi::Env env, std::shared_ptr<ModelHandle> model, std::shared_ptr<StateBox> box);

}  // namespace lfm2::binding
