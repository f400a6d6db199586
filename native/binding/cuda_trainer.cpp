// JS object behind Trainer.create(cudaModel, opts): the CPU Trainer's methods (trainer.cpp) over the GPU trainer
// (native/backend/cuda/cuda_trainer.cuh). Work runs on the libuv pool; the CUDA model's own mutex serialises it with
// forward/advance on the same model. Differences: merge()/unmerge() reject (the adapter is applied during generation
// without merging, and saveModel folds it in); info().lora.merged is always false; info().device is 'cuda'.
//
// cudaTrainOps: the trainer's own device math on host arrays (tests compare it with float64 references):
//   loraForward({ x, A, B, y, T, in, out, r, scale }) → y + s·bf16(x·Aᵀ)·Bᵀ            (Float32Array [T·out])
//   loraBackward({ x, dy, A, B, T, in, out, r, scale }) → { dA, dB, dx }                (from zero)
//   gatherRows(src, srcRows, rows, C) → [R·C];  scatterRows(src, rows, C, dst, dstRows) → dst with the rows set
//   embeddingBackwardPadded(ids, dx, vocab, C, paddingIdx, dE) → dE + lookup gradient (padding rows skipped)
#include "binding/cuda_trainer.h"

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "binding/async.h"
#include "binding/grpo_loss_args.h"
#include "binding/registry.h"
#include "core/error.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_train_ops.cuh"
#include "backend/cuda/cuda_trainer.cuh"
#include "backend/cuda/cuda_trainer_state.cuh"
#include "binding/cuda_model_handle.h"
#include "binding/positional_args.h"
#include "binding/train_batch_args.h"
#endif

namespace lfm2::binding {

#ifndef LFM2_WITH_CUDA

bool is_cuda_model(Napi::Env, Napi::Value) { return false; }

Napi::Value create_cuda_trainer(Napi::Env env, Napi::Value, const TrainerOptions&) {
  throw Napi::Error::New(env, "Trainer.create: this build has no CUDA backend");
}
Napi::Value train_ops_not_compiled(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "cudaTrainOps: this build has no CUDA backend");
}

void register_cuda_trainer(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  for (const char* n : {"loraForward", "loraBackward", "gatherRows", "scatterRows", "embeddingBackwardPadded"})
    ops.Set(n, Napi::Function::New(env, train_ops_not_compiled, n));
  exports.Set("cudaTrainOps", ops);
}

#else

namespace {

std::mutex g_mu;
std::map<napi_env, Napi::FunctionReference*> g_ctor;

struct Handle {
  std::shared_ptr<CudaModelHandle> model;  // declared first: destroyed after the trainer
  std::unique_ptr<cuda::CudaTrainer> trainer;
};

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), what + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

template <typename Fn>
auto guarded(Napi::Env env, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

class CudaTrainerWrap : public Napi::ObjectWrap<CudaTrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "CudaTrainer",
        {InstanceMethod<&CudaTrainerWrap::info>("info"), InstanceMethod<&CudaTrainerWrap::accumulate>("accumulate"),
         InstanceMethod<&CudaTrainerWrap::logprobs>("logprobs"), InstanceMethod<&CudaTrainerWrap::step>("step"),
         InstanceMethod<&CudaTrainerWrap::zero_grad>("zeroGrad"), InstanceMethod<&CudaTrainerWrap::merge>("merge"),
         InstanceMethod<&CudaTrainerWrap::unmerge>("unmerge"),
         InstanceMethod<&CudaTrainerWrap::save_state>("saveState"),
         InstanceMethod<&CudaTrainerWrap::load_state>("loadState"),
         InstanceMethod<&CudaTrainerWrap::save_model>("saveModel"),
         InstanceMethod<&CudaTrainerWrap::save_adapter>("saveAdapter"),
         InstanceMethod<&CudaTrainerWrap::load_adapter>("loadAdapter"),
         InstanceMethod<&CudaTrainerWrap::parameter_names>("parameterNames"),
         InstanceMethod<&CudaTrainerWrap::parameter>("parameter"),
         InstanceMethod<&CudaTrainerWrap::gradient>("gradient"),
         InstanceMethod<&CudaTrainerWrap::set_parameter>("setParameter")});
  }

  CudaTrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaTrainerWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "CudaTrainer cannot be constructed directly; use Trainer.create(model, opts)");
    h_ = *info[0].As<Napi::External<std::shared_ptr<Handle>>>().Data();
  }

  static Napi::Value create(Napi::Env env, Napi::Value model, const TrainerOptions& to) {
    std::shared_ptr<CudaModelHandle> ref = unwrap_cuda_model(env, model, "Trainer.create: model");
    return run_async<std::shared_ptr<Handle>>(
        env,
        [ref, to]() {
          auto h = std::make_shared<Handle>();
          h->model = ref;
          h->trainer = std::make_unique<cuda::CudaTrainer>(*ref->model, *ref->host, to);
          return h;
        },
        [](Napi::Env env, std::shared_ptr<Handle>& h) -> Napi::Value {
          auto ext = Napi::External<std::shared_ptr<Handle>>::New(env, &h);
          Napi::Function c;
          {
            std::lock_guard<std::mutex> lk(g_mu);
            c = g_ctor.at(env)->Value();
          }
          return c.New({ext});
        });
  }

 private:
  Napi::Value run_void(Napi::Env env, std::function<void(cuda::CudaTrainer&)> fn) {
    auto h = h_;
    return run_async<bool>(
        env,
        [h, fn]() {
          fn(*h->trainer);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    cuda::CudaTrainer& t = *h_->trainer;
    auto o = Napi::Object::New(env);
    o.Set("mode", t.mode() == TrainMode::Full ? "full" : "lora");
    o.Set("step", double(t.step_count()));
    o.Set("trainableParameters", double(t.trainable_parameters()));
    o.Set("device", "cuda");
    if (const LoraAdapter* l = t.lora_layout()) {
      auto lo = Napi::Object::New(env);
      lo.Set("rank", double(l->rank()));
      lo.Set("scale", double(l->scale()));
      lo.Set("merged", false);
      auto mods = Napi::Array::New(env, l->modules().size());
      for (size_t i = 0; i < l->modules().size(); ++i) mods.Set(uint32_t(i), l->modules()[i].path);
      lo.Set("modules", mods);
      o.Set("lora", lo);
    } else {
      o.Set("lora", env.Null());
    }
    return o;
  }

  Napi::Value accumulate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GrpoLossOptions lo = read_grpo_loss(options_at(info, 1, "accumulate: loss"));
    auto batch = std::make_shared<TrainBatch>(
        read_train_batch(options_at(info, 0, "accumulate: batch"), true, lo.loss_type == GrpoLossType::Sft));
    auto h = h_;
    return run_async<MicroStepResult>(
        env, [h, batch, lo]() { return h->trainer->accumulate(*batch, lo); },
        [](Napi::Env env, MicroStepResult& r) -> Napi::Value { return micro_step_to_js(env, r); });
  }

  Napi::Value logprobs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto batch = std::make_shared<TrainBatch>(read_train_batch(options_at(info, 0, "logprobs: batch"), false));
    OptionsReader o = options_at(info, 1, "logprobs");
    const bool adapter = o.flag("adapter", true);
    const float temperature = float(o.num("temperature", 1));
    auto h = h_;
    return run_async<MicroStepResult>(
        env, [h, batch, adapter, temperature]() { return h->trainer->logprobs(*batch, adapter, temperature); },
        [](Napi::Env env, MicroStepResult& r) -> Napi::Value { return logprobs_to_js(env, r); });
  }

  Napi::Value step(const Napi::CallbackInfo& info) {
    auto h = h_;
    return run_async<StepResult>(
        info.Env(), [h]() { return h->trainer->step(); },
        [](Napi::Env env, StepResult& r) -> Napi::Value {
          auto o = Napi::Object::New(env);
          o.Set("gradNorm", r.adamw.grad_norm);
          o.Set("clipCoef", r.adamw.clip_coef);
          o.Set("skipped", r.adamw.skipped);
          o.Set("lr", r.lr);
          o.Set("step", double(r.step));
          o.Set("badTensor", r.bad_tensor.empty() ? env.Null() : Napi::String::New(env, r.bad_tensor));
          return o;
        });
  }

  Napi::Value zero_grad(const Napi::CallbackInfo& info) {
    return run_void(info.Env(), [](cuda::CudaTrainer& t) { t.zero_grad(); });
  }
  Napi::Value merge(const Napi::CallbackInfo& info) {
    return run_void(info.Env(), [](cuda::CudaTrainer&) {
      fail("merge: not available on the CUDA trainer (generation on the CUDA model already applies the adapter "
           "without merging; saveModel folds it into the exported weights)");
    });
  }
  Napi::Value unmerge(const Napi::CallbackInfo& info) {
    return run_void(info.Env(), [](cuda::CudaTrainer&) {
      fail("unmerge: not available on the CUDA trainer (its adapter is never merged)");
    });
  }
  Napi::Value save_state(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "saveState(dir, extraJson): dir");
    std::string extra = info.Length() > 1 && !info[1].IsUndefined() ? string_arg(info, 1, "saveState: extraJson") : "{}";
    return run_void(info.Env(), [dir, extra](cuda::CudaTrainer& t) { cuda::save_cuda_trainer_state(t, dir, extra); });
  }
  Napi::Value load_state(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "loadState(dir): dir");
    auto h = h_;
    return run_async<std::string>(
        info.Env(), [h, dir]() { return cuda::load_cuda_trainer_state(*h->trainer, dir); },
        [](Napi::Env env, std::string& s) -> Napi::Value { return Napi::String::New(env, s); });
  }
  Napi::Value save_model(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "saveModel(dir): dir");
    return run_void(info.Env(), [dir](cuda::CudaTrainer& t) { cuda::save_cuda_hf_model(t, dir); });
  }
  Napi::Value save_adapter(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "saveAdapter(dir): dir");
    return run_void(info.Env(), [dir](cuda::CudaTrainer& t) { cuda::save_cuda_peft_adapter(t, dir); });
  }
  Napi::Value load_adapter(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "loadAdapter(dir): dir");
    return run_void(info.Env(), [dir](cuda::CudaTrainer& t) { cuda::load_cuda_peft_adapter(t, dir); });
  }

  // ---- inspection (tests, tools): host copies of one trainable tensor.
  Napi::Value parameter_names(const Napi::CallbackInfo& info) {
    std::vector<std::string> names = h_->trainer->parameter_names();
    auto a = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) a.Set(uint32_t(i), names[i]);
    return a;
  }
  Napi::Value copy_of(const Napi::CallbackInfo& info, bool grad) {
    std::string name = string_arg(info, 0, grad ? "gradient(name): name" : "parameter(name): name");
    std::vector<float> v = guarded(info.Env(), [&]() {
      return grad ? h_->trainer->gradient(name) : h_->trainer->parameter(name);
    });
    return float32_array(info.Env(), v);
  }
  Napi::Value parameter(const Napi::CallbackInfo& info) { return copy_of(info, false); }
  Napi::Value gradient(const Napi::CallbackInfo& info) { return copy_of(info, true); }
  Napi::Value set_parameter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = string_arg(info, 0, "setParameter(name, data): name");
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, "setParameter: data must be a Float32Array");
    auto data = info[1].As<Napi::Float32Array>();
    std::vector<float> v(data.Data(), data.Data() + data.ElementLength());
    guarded(env, [&]() {
      h_->trainer->set_parameter(name, v);
      return 0;
    });
    return env.Undefined();
  }

  std::shared_ptr<Handle> h_;
};

// ---- cudaTrainOps (synchronous; test-sized inputs)

int64_t count(const OptionsReader& o, const char* k) {
  const double d = o.num(k, -1);
  if (!(d >= 1) || d != double(int64_t(d))) throw Napi::RangeError::New(o.env, o.where(k) + " must be an integer >= 1");
  return int64_t(d);
}

std::vector<float> sized(const OptionsReader& o, const char* k, int64_t n) {
  std::vector<float> v = o.array<float>(k, napi_float32_array, "Float32Array", false);
  if (int64_t(v.size()) != n)
    throw Napi::RangeError::New(o.env, o.where(k) + " has " + std::to_string(v.size()) + " elements, expected " +
                                           std::to_string(n));
  return v;
}

Napi::Value op_lora_forward(const Napi::CallbackInfo& info) {
  OptionsReader o = options_at(info, 0, "cudaTrainOps.loraForward");
  const int64_t T = count(o, "T"), in = count(o, "in"), out = count(o, "out"), r = count(o, "r");
  const float s = float(o.num("scale", 1));
  std::vector<float> x = sized(o, "x", T * in), A = sized(o, "A", r * in), B = sized(o, "B", out * r);
  std::vector<float> y = sized(o, "y", T * out);
  guarded(info.Env(), [&]() {
    cuda_train_api::lora_forward(x.data(), A.data(), B.data(), y.data(), T, in, out, r, s);
    return 0;
  });
  return float32_array(info.Env(), y);
}

Napi::Value op_lora_backward(const Napi::CallbackInfo& info) {
  OptionsReader o = options_at(info, 0, "cudaTrainOps.loraBackward");
  const int64_t T = count(o, "T"), in = count(o, "in"), out = count(o, "out"), r = count(o, "r");
  const float s = float(o.num("scale", 1));
  std::vector<float> x = sized(o, "x", T * in), dy = sized(o, "dy", T * out);
  std::vector<float> A = sized(o, "A", r * in), B = sized(o, "B", out * r);
  std::vector<float> dA(size_t(r * in), 0.f), dB(size_t(out * r), 0.f), dx(size_t(T * in), 0.f);
  guarded(info.Env(), [&]() {
    cuda_train_api::lora_backward(x.data(), dy.data(), A.data(), B.data(), dA.data(), dB.data(), dx.data(), T, in, out,
                                  r, s);
    return 0;
  });
  auto res = Napi::Object::New(info.Env());
  res.Set("dA", float32_array(info.Env(), dA));
  res.Set("dB", float32_array(info.Env(), dB));
  res.Set("dx", float32_array(info.Env(), dx));
  return res;
}

// Positional typed-array argument i of `fn`, copied (the ops return new arrays and never write their inputs).
template <typename T>
std::vector<T> arg_array(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type kind, const char* fn,
                         const char* what) {
  auto ta = typed_arg<Napi::TypedArrayOf<T>>(info, i, kind, fn, what);
  return std::vector<T>(ta.Data(), ta.Data() + ta.ElementLength());
}

Napi::Value op_gather_rows(const Napi::CallbackInfo& info) {
  const char* fn = "cudaTrainOps.gatherRows";
  auto src = arg_array<float>(info, 0, napi_float32_array, fn, "src");
  const int64_t src_rows = integer_arg(info, 1, fn, "srcRows", 1);
  auto rows = arg_array<int32_t>(info, 2, napi_int32_array, fn, "rows");
  const int64_t C = integer_arg(info, 3, fn, "C", 1);
  if (int64_t(src.size()) != src_rows * C) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": src is not [srcRows, C]");
  std::vector<float> dst(rows.size() * size_t(C));
  guarded(info.Env(), [&]() {
    cuda_train_api::gather_rows(src.data(), src_rows, rows.data(), int64_t(rows.size()), C, dst.data());
    return 0;
  });
  return float32_array(info.Env(), dst);
}

Napi::Value op_scatter_rows(const Napi::CallbackInfo& info) {
  const char* fn = "cudaTrainOps.scatterRows";
  auto src = arg_array<float>(info, 0, napi_float32_array, fn, "src");
  auto rows = arg_array<int32_t>(info, 1, napi_int32_array, fn, "rows");
  const int64_t C = integer_arg(info, 2, fn, "C", 1);
  auto dst = arg_array<float>(info, 3, napi_float32_array, fn, "dst");
  const int64_t dst_rows = integer_arg(info, 4, fn, "dstRows", 1);
  if (int64_t(src.size()) != int64_t(rows.size()) * C || int64_t(dst.size()) != dst_rows * C)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": src must be [R, C] and dst [dstRows, C]");
  guarded(info.Env(), [&]() {
    cuda_train_api::scatter_rows(src.data(), rows.data(), int64_t(rows.size()), C, dst.data(), dst_rows);
    return 0;
  });
  return float32_array(info.Env(), dst);
}

Napi::Value op_embedding_backward_padded(const Napi::CallbackInfo& info) {
  const char* fn = "cudaTrainOps.embeddingBackwardPadded";
  auto ids = arg_array<int32_t>(info, 0, napi_int32_array, fn, "ids");
  auto dx = arg_array<float>(info, 1, napi_float32_array, fn, "dx");
  const int64_t V = integer_arg(info, 2, fn, "vocab", 1), C = integer_arg(info, 3, fn, "C", 1);
  const int64_t pad = integer_arg(info, 4, fn, "paddingIdx", -1);
  auto dE = arg_array<float>(info, 5, napi_float32_array, fn, "dE");
  if (int64_t(dx.size()) != int64_t(ids.size()) * C || int64_t(dE.size()) != V * C)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": dx must be [T, C] and dE [vocab, C]");
  guarded(info.Env(), [&]() {
    cuda_train_api::embedding_backward_padded(ids.data(), int64_t(ids.size()), dx.data(), V, C, pad, dE.data());
    return 0;
  });
  return float32_array(info.Env(), dE);
}

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

Napi::Value create_cuda_trainer(Napi::Env env, Napi::Value cuda_model, const TrainerOptions& opts) {
  return CudaTrainerWrap::create(env, cuda_model, opts);
}

void register_cuda_trainer(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  ops.Set("loraForward", Napi::Function::New(env, op_lora_forward, "loraForward"));
  ops.Set("loraBackward", Napi::Function::New(env, op_lora_backward, "loraBackward"));
  ops.Set("gatherRows", Napi::Function::New(env, op_gather_rows, "gatherRows"));
  ops.Set("scatterRows", Napi::Function::New(env, op_scatter_rows, "scatterRows"));
  ops.Set("embeddingBackwardPadded", Napi::Function::New(env, op_embedding_backward_padded, "embeddingBackwardPadded"));
  exports.Set("cudaTrainOps", ops);
  Napi::Function ctor = CudaTrainerWrap::define(env);
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_ctor[env] = new Napi::FunctionReference(Napi::Persistent(ctor));
  }
  env.AddCleanupHook([env]() {
    std::lock_guard<std::mutex> lk(g_mu);
    delete g_ctor[env];
    g_ctor.erase(env);
  });
}

#endif  // LFM2_WITH_CUDA

}  // namespace lfm2::binding
