#pragma once
// The JS sampler class, written once over a generation engine: Sampler (sampler.cpp, lfm2::generate on a Model) and
// CudaSampler (cuda_sampler.cpp, GPU generation on a CudaModel) are SamplerWrap<CpuSamplerEngine> and
// SamplerWrap<CudaSamplerEngine>. Both take the same generate spec and return the same results (sampler_args.h).
//
//   new <Name>(model, { cacheBytes? })             prefix cache bytes (default 256 MiB)
//   generate(spec) → { promise, cancel() }          one generate at a time per sampler
//   setTokenBytes(bytes, offsets), clearCache(), setCacheBytes(n), cacheStats(), busy
//   graphStats()                                    engines with decode-step graphs only (Engine::kGraphStats)
//
// An Engine provides:
//   static constexpr const char* kName                     the JS class name (also names errors)
//   using Model; static std::shared_ptr<Model> unwrap(env, v, what)    the native model behind a JS model object
//   Engine(std::shared_ptr<Model>, size_t cache_bytes)
//   int64_t vocab_size() const; void clear_cache(); void set_cache_bytes(size_t); PrefixCacheStats cache_stats()
//   using GenerateOptions; static GenerateOptions read_options(env, spec object, const GenerateSpec&)
//   GenerateOutput generate(requests, cfg, token_bytes, cancel, const GenerateOptions&)
//   static constexpr bool kGraphStats; with it, Napi::Value graph_stats_to_js(env)
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/async.h"
#include "binding/sampler_args.h"

namespace lfm2::binding {

// Everything a running generate touches, kept alive by the worker even if the JS object is collected.
template <typename Engine>
struct SamplerCore {
  std::unique_ptr<Engine> engine;
  std::mutex mu;  // guards the engine (its prefix cache) and token_bytes between calls
  std::shared_ptr<const std::vector<std::string>> token_bytes;
  std::atomic<bool> busy{false};
};

template <typename Engine>
class SamplerWrap : public Napi::ObjectWrap<SamplerWrap<Engine>> {
  using Base = Napi::ObjectWrap<SamplerWrap<Engine>>;

 public:
  static Napi::Function define(Napi::Env env) {
    std::vector<typename Base::PropertyDescriptor> props = {
        Base::template InstanceMethod<&SamplerWrap::generate>("generate"),
        Base::template InstanceMethod<&SamplerWrap::set_token_bytes>("setTokenBytes"),
        Base::template InstanceMethod<&SamplerWrap::clear_cache>("clearCache"),
        Base::template InstanceMethod<&SamplerWrap::set_cache_bytes>("setCacheBytes"),
        Base::template InstanceMethod<&SamplerWrap::cache_stats>("cacheStats"),
        Base::template InstanceAccessor<&SamplerWrap::busy>("busy")};
    if constexpr (Engine::kGraphStats)
      props.push_back(Base::template InstanceMethod<&SamplerWrap::graph_stats>("graphStats"));
    return Base::DefineClass(env, Engine::kName, props);
  }

  SamplerWrap(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    const std::string ctor = std::string("new ") + Engine::kName;
    if (info.Length() < 1) throw Napi::TypeError::New(env, ctor + "(model, opts): model is required");
    auto model = Engine::unwrap(env, info[0], ctor + "(model): model");
    double cache_bytes = 256.0 * 1024 * 1024;
    if (info.Length() >= 2 && !info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Napi::TypeError::New(env, ctor + ": options must be an object");
      cache_bytes = num_opt(info[1].As<Napi::Object>(), "cacheBytes", cache_bytes, ctor);
    }
    if (!(cache_bytes >= 0)) throw Napi::RangeError::New(env, ctor + ": cacheBytes must be ≥ 0");
    core_ = std::make_shared<SamplerCore<Engine>>();
    core_->engine = std::make_unique<Engine>(model, size_t(cache_bytes));
  }


 private:
  // Throws while a generate runs (it holds the lock: never block the JS thread on it), else runs fn(engine) under
  // the lock.
  template <typename Fn>
  auto with_idle_engine(Napi::Env env, const char* fn_name, Fn fn) {
    require_idle(env, fn_name);
    std::lock_guard<std::mutex> lk(core_->mu);
    return fn(*core_->engine);
  }

  void require_idle(Napi::Env env, const char* fn) const {
    if (core_->busy.load())
      throw Napi::Error::New(env, std::string(fn) + ": the sampler is busy with another generate call");
  }

  Napi::Value set_token_bytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    require_idle(env, "setTokenBytes");
    auto tb = parse_token_bytes(info, core_->engine->vocab_size());
    std::lock_guard<std::mutex> lk(core_->mu);
    core_->token_bytes = tb;
    return env.Undefined();
  }

  Napi::Value clear_cache(const Napi::CallbackInfo& info) {
    with_idle_engine(info.Env(), "clearCache", [](Engine& e) { e.clear_cache(); });
    return info.Env().Undefined();
  }

  Napi::Value set_cache_bytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    require_idle(env, "setCacheBytes");
    if (info.Length() < 1 || !info[0].IsNumber() || !(info[0].As<Napi::Number>().DoubleValue() >= 0))
      throw Napi::TypeError::New(env, "setCacheBytes(n): n must be a number ≥ 0");
    std::lock_guard<std::mutex> lk(core_->mu);
    core_->engine->set_cache_bytes(size_t(info[0].As<Napi::Number>().DoubleValue()));
    return env.Undefined();
  }

  Napi::Value cache_stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return stats_to_js(env, with_idle_engine(env, "cacheStats", [](Engine& e) { return e.cache_stats(); }));
  }

  Napi::Value graph_stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return with_idle_engine(env, "graphStats", [env](Engine& e) { return e.graph_stats_to_js(env); });
  }

  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), core_->busy.load()); }

  Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GenerateSpec spec = parse_generate_spec(info, "generate");
    const typename Engine::GenerateOptions opts = Engine::read_options(env, info[0].As<Napi::Object>(), spec);
    require_idle(env, "generate");
    core_->busy.store(true);
    auto core = core_;
    auto reqs = spec.requests;
    auto cfg = spec.cfg;
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto work = [core, reqs, cfg, cancel, opts]() {
      struct Idle {  // busy until the work ends, however it ends
        SamplerCore<Engine>& c;
        ~Idle() { c.busy.store(false); }
      } idle{*core};
      std::lock_guard<std::mutex> lk(core->mu);
      return core->engine->generate(*reqs, *cfg, core->token_bytes.get(), cancel.get(), opts);
    };
    auto result = Napi::Object::New(env);
    result.Set("promise", run_async<GenerateOutput>(env, work, output_to_js));
    result.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& ci) {
                 cancel->store(true);
                 return ci.Env().Undefined();
               }));
    return result;
  }

  std::shared_ptr<SamplerCore<Engine>> core_;
};

}  // namespace lfm2::binding
