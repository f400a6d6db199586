// JS class Trainer, on either device: a CPU model gets lfm2::Trainer (cpu_trainer_engine.cpp), a CUDA model the GPU
// trainer (cuda_trainer_engine.cpp); both behind TrainerEngine (trainer_engine.h). Every call that touches weights,
// activations or optimizer state runs on the libuv pool; the engine takes its model's lock. Inputs are copied before
// the work is queued.
//
//   Trainer.create(model, { mode: 'full'|'lora', lora?: { r, alpha, targetModules: string[] | string, useRslora?,
//                  seed? }, optimizer?: { lr, beta1?, beta2?, eps?, weightDecay?, maxGradNorm?, schedule?,
//                  warmupSteps?, totalSteps?, numCycles? }, precision?: 'exact'|'fast', maxPassTokens?,
//                  checkpointing? })
//       → Promise<Trainer>
//   trainer.info() → { mode, step, trainableParameters, device?: 'cuda',
//                      lora: { rank, scale, modules: string[], merged } | null }
//   trainer.accumulate(batch, loss) → Promise<{ loss, tokens, klSum, entropySum, clipLow, clipHigh, clipRegion,
//                                               correct, logp: Float32Array [T], entropy: Float32Array [T] }>
//       batch: { tokens: Int32Array [T], cuSeqlens: Int32Array [S+1], completionMask: Float32Array [T],
//                advantages: Float32Array [S] (optional for sft), oldLogprobs?: Float32Array [T],
//                refLogprobs?: Float32Array [T] }   (binding/train_batch_args.h)
//       loss:  { lossType? (grpo | bnpo | dr_grpo | dapo | sft), epsilonLow?, epsilonHigh?, beta?, temperature?,
//                maxCompletionLength?, tokenNormalizer?, sequenceNormalizer?, chunkRows? }
//   trainer.logprobs(batch (tokens, cuSeqlens, completionMask), { adapter?: boolean, temperature? }) → Promise<{ logp, entropy }>
//   trainer.step() → Promise<{ gradNorm, clipCoef, skipped, lr, step, badTensor: string | null }>
//   trainer.zeroGrad(), merge(), unmerge() → Promise<void>
//   trainer.saveState(dir, extraJson), saveModel(dir), saveAdapter(dir), loadAdapter(dir) → Promise<void>
//   trainer.loadState(dir) → Promise<string> (the extra JSON text)
//   trainer.parameterNames() → string[]; parameter(name) / gradient(name) → Float32Array copy;
//   trainer.setParameter(name, Float32Array) (tests and tools; synchronous)
#include <napi.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/async.h"
#include "binding/grpo_loss_args.h"
#include "binding/js_exceptions.h"
#include "binding/registry.h"
#include "binding/train_batch_args.h"
#include "binding/trainer_engine.h"
#include "model/trainer.h"

namespace lfm2::binding {
namespace {

std::mutex g_ctor_mu;
std::map<napi_env, Napi::FunctionReference*> g_trainer_ctor;

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const std::string& what) {
  if (info.Length() <= i || !info[i].IsString()) throw Napi::TypeError::New(info.Env(), what + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "Trainer",
        {StaticMethod<&TrainerWrap::create>("create"), InstanceMethod<&TrainerWrap::info>("info"),
         InstanceMethod<&TrainerWrap::accumulate>("accumulate"), InstanceMethod<&TrainerWrap::logprobs>("logprobs"),
         InstanceMethod<&TrainerWrap::step>("step"), InstanceMethod<&TrainerWrap::zero_grad>("zeroGrad"),
         InstanceMethod<&TrainerWrap::merge>("merge"), InstanceMethod<&TrainerWrap::unmerge>("unmerge"),
         InstanceMethod<&TrainerWrap::save_state>("saveState"), InstanceMethod<&TrainerWrap::load_state>("loadState"),
         InstanceMethod<&TrainerWrap::save_model>("saveModel"),
         InstanceMethod<&TrainerWrap::save_adapter>("saveAdapter"),
         InstanceMethod<&TrainerWrap::load_adapter>("loadAdapter"),
         InstanceMethod<&TrainerWrap::parameter_names>("parameterNames"),
         InstanceMethod<&TrainerWrap::parameter>("parameter"), InstanceMethod<&TrainerWrap::gradient>("gradient"),
         InstanceMethod<&TrainerWrap::set_parameter>("setParameter")});
  }

  TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "Trainer cannot be constructed directly; use Trainer.create(model, opts)");
    engine_ = *info[0].As<Napi::External<std::shared_ptr<TrainerEngine>>>().Data();
  }

 private:
  static Napi::Value create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1) throw Napi::TypeError::New(env, "Trainer.create(model, opts): model is required");
    std::shared_ptr<ModelEngine> model = unwrap_model(env, info[0], "Trainer.create: model");
    TrainerEngineFactory make_engine =
        guarded(env, [&]() { return model->on_cuda() ? cuda_trainer_factory(model) : cpu_trainer_factory(model); });
    OptionsReader o = options_at(info, 1, "Trainer.create");
    TrainerOptions to;
    const std::string mode = o.str("mode", "lora");
    if (mode != "full" && mode != "lora")
      throw Napi::RangeError::New(env, "Trainer.create: mode = '" + mode + "' must be 'full' or 'lora'");
    to.mode = mode == "full" ? TrainMode::Full : TrainMode::Lora;
    if (to.mode == TrainMode::Lora) {
      OptionsReader l = o.sub("lora");
      to.lora.rank = int64_t(l.num("r", 8));
      to.lora.alpha = float(l.num("alpha", 16));
      to.lora.use_rslora = l.flag("useRslora", false);
      to.lora.seed = uint64_t(l.num("seed", 0));
      if (!l.has("targetModules"))
        throw Napi::TypeError::New(env, "Trainer.create: lora.targetModules is required (a list of module names or a regex)");
      Napi::Value tm = l.o.Get("targetModules");
      if (tm.IsString()) {
        to.lora.target_regex = tm.As<Napi::String>().Utf8Value();
        if (to.lora.target_regex.empty()) throw Napi::RangeError::New(env, "Trainer.create: lora.targetModules is empty");
      } else if (tm.IsArray()) {
        auto arr = tm.As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); ++i) {
          Napi::Value e = arr.Get(i);
          if (!e.IsString()) throw Napi::TypeError::New(env, "Trainer.create: lora.targetModules must hold strings");
          to.lora.target_list.push_back(e.As<Napi::String>().Utf8Value());
        }
      } else {
        throw Napi::TypeError::New(env, "Trainer.create: lora.targetModules must be a string array or a regex string");
      }
    }
    OptionsReader op = o.sub("optimizer");
    to.schedule.base_lr = op.num("lr", 1e-6);
    to.adamw.beta1 = op.num("beta1", 0.9);
    to.adamw.beta2 = op.num("beta2", 0.999);
    to.adamw.eps = op.num("eps", 1e-8);
    to.adamw.weight_decay = op.num("weightDecay", 0);
    to.adamw.max_grad_norm = op.num("maxGradNorm", 1.0);
    to.schedule.warmup_steps = int64_t(op.num("warmupSteps", 0));
    to.schedule.total_steps = int64_t(op.num("totalSteps", 1));
    to.schedule.num_cycles = op.num("numCycles", 0.5);
    const std::string kind = op.str("schedule", "linear");
    try {
      to.schedule.kind = parse_lr_schedule(kind.c_str());
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(env, std::string("Trainer.create: optimizer.schedule: ") + e.what());
    }
    if (!(to.schedule.base_lr >= 0) || to.schedule.warmup_steps < 0 || to.schedule.total_steps < 1)
      throw Napi::RangeError::New(env, "Trainer.create: optimizer needs lr >= 0, warmupSteps >= 0, totalSteps >= 1");
    const std::string prec = o.str("precision", "exact");
    if (prec != "exact" && prec != "fast")
      throw Napi::RangeError::New(env, "Trainer.create: precision must be 'exact' or 'fast'");
    to.precision = prec == "fast" ? Precision::Fast : Precision::Exact;
    to.max_pass_tokens = int64_t(o.num("maxPassTokens", 0));
    to.checkpointing = o.flag("checkpointing", false);
    return run_async<std::shared_ptr<TrainerEngine>>(
        env, [make_engine, to]() { return make_engine(to); },
        [](Napi::Env env, std::shared_ptr<TrainerEngine>& engine) -> Napi::Value {
          auto ext = Napi::External<std::shared_ptr<TrainerEngine>>::New(env, &engine);
          Napi::Function ctor;
          {
            std::lock_guard<std::mutex> lk(g_ctor_mu);
            ctor = g_trainer_ctor.at(env)->Value();
          }
          return ctor.New({ext});
        });
  }

  // Runs fn(engine) on the pool; resolves with undefined.
  Napi::Value run_void(Napi::Env env, std::function<void(TrainerEngine&)> fn) {
    auto engine = engine_;
    return run_async<bool>(
        env,
        [engine, fn]() {
          fn(*engine);
          return true;
        },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    TrainerInfo t = guarded(env, [&]() { return engine_->info(); });
    auto o = Napi::Object::New(env);
    o.Set("mode", t.mode == TrainMode::Full ? "full" : "lora");
    o.Set("step", double(t.step));
    o.Set("trainableParameters", double(t.trainable_parameters));
    if (t.device) o.Set("device", t.device);
    if (t.lora) {
      auto lo = Napi::Object::New(env);
      lo.Set("rank", double(t.lora->rank));
      lo.Set("scale", double(t.lora->scale));
      lo.Set("merged", t.lora->merged);
      auto mods = Napi::Array::New(env, t.lora->modules.size());
      for (size_t i = 0; i < t.lora->modules.size(); ++i) mods.Set(uint32_t(i), t.lora->modules[i]);
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
    auto engine = engine_;
    return run_async<MicroStepResult>(
        env, [engine, batch, lo]() { return engine->accumulate(*batch, lo); },
        [](Napi::Env env, MicroStepResult& r) -> Napi::Value { return micro_step_to_js(env, r); });
  }

  Napi::Value logprobs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto batch = std::make_shared<TrainBatch>(read_train_batch(options_at(info, 0, "logprobs: batch"), false));
    OptionsReader o = options_at(info, 1, "logprobs");
    const bool adapter = o.flag("adapter", true);
    const float temperature = float(o.num("temperature", 1));
    auto engine = engine_;
    return run_async<MicroStepResult>(
        env, [engine, batch, adapter, temperature]() { return engine->logprobs(*batch, adapter, temperature); },
        [](Napi::Env env, MicroStepResult& r) -> Napi::Value { return logprobs_to_js(env, r); });
  }

  Napi::Value step(const Napi::CallbackInfo& info) {
    auto engine = engine_;
    return run_async<StepResult>(
        info.Env(), [engine]() { return engine->step(); },
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
    return run_void(info.Env(), [](TrainerEngine& e) { e.zero_grad(); });
  }
  Napi::Value merge(const Napi::CallbackInfo& info) {
    return run_void(info.Env(), [](TrainerEngine& e) { e.merge(); });
  }
  Napi::Value unmerge(const Napi::CallbackInfo& info) {
    return run_void(info.Env(), [](TrainerEngine& e) { e.unmerge(); });
  }
  Napi::Value save_state(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "saveState(dir, extraJson): dir");
    std::string extra = info.Length() > 1 && !info[1].IsUndefined() ? string_arg(info, 1, "saveState: extraJson") : "{}";
    return run_void(info.Env(), [dir, extra](TrainerEngine& e) { e.save_state(dir, extra); });
  }
  Napi::Value load_state(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "loadState(dir): dir");
    auto engine = engine_;
    return run_async<std::string>(
        info.Env(), [engine, dir]() { return engine->load_state(dir); },
        [](Napi::Env env, std::string& s) -> Napi::Value { return Napi::String::New(env, s); });
  }
  Napi::Value save_model(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "saveModel(dir): dir");
    return run_void(info.Env(), [dir](TrainerEngine& e) { e.save_model(dir); });
  }
  Napi::Value save_adapter(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "saveAdapter(dir): dir");
    return run_void(info.Env(), [dir](TrainerEngine& e) { e.save_adapter(dir); });
  }
  Napi::Value load_adapter(const Napi::CallbackInfo& info) {
    std::string dir = string_arg(info, 0, "loadAdapter(dir): dir");
    return run_void(info.Env(), [dir](TrainerEngine& e) { e.load_adapter(dir); });
  }

  // ---- inspection (tests, debugging): copies of one trainable tensor's master weights or gradient.
  Napi::Value parameter_names(const Napi::CallbackInfo& info) {
    std::vector<std::string> names = guarded(info.Env(), [&]() { return engine_->parameter_names(); });
    auto a = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) a.Set(uint32_t(i), names[i]);
    return a;
  }
  Napi::Value copy_of(const Napi::CallbackInfo& info, bool grad) {
    std::string name = string_arg(info, 0, grad ? "gradient(name): name" : "parameter(name): name");
    std::vector<float> v =
        guarded(info.Env(), [&]() { return grad ? engine_->gradient(name) : engine_->parameter(name); });
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
      engine_->set_parameter(name, v);
      return 0;
    });
    return env.Undefined();
  }

  std::shared_ptr<TrainerEngine> engine_;
};

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = TrainerWrap::define(env);
  {
    std::lock_guard<std::mutex> lk(g_ctor_mu);
    g_trainer_ctor[env] = new Napi::FunctionReference(Napi::Persistent(ctor));
  }
  env.AddCleanupHook([env]() {
    std::lock_guard<std::mutex> lk(g_ctor_mu);
    delete g_trainer_ctor[env];
    g_trainer_ctor.erase(env);
  });
  exports.Set("Trainer", ctor);
}

}  // namespace lfm2::binding
