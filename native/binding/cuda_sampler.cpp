// JS class CudaSampler: the Sampler's methods over GPU generation (native/backend/cuda/cuda_generate.cuh) on a
// CudaModel. lib/engine/sampler.ts picks it for a model on device 'cuda'; spec and results are the Sampler's.
//
//   new CudaSampler(cudaModel, { cacheBytes? })    prefix cache of device states (bytes also count against the
//                                                  model's state memory cap)
//   generate(spec) → { promise, cancel() }          spec as Sampler.generate, plus `graphs` (default true; the
//                                                  environment variable LFM2_CUDA_GRAPHS=0 turns graphs off).
//                                                  `precision` is accepted and ignored: the GPU engine always rounds
//                                                  GEMM inputs to BF16 (the CPU's 'fast').
//   setTokenBytes(bytes, offsets), clearCache(), setCacheBytes(n), cacheStats(), busy
//   graphStats() → { graphs, captures, replays, directSteps }   decode-step graph bookkeeping of this sampler
#include <napi.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/registry.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_generate.cuh"
#include "binding/async.h"
#include "binding/cuda_model_handle.h"
#include "binding/sampler_args.h"
#else
#include "backend/device.h"
#endif

namespace lfm2::binding {
namespace {

#ifdef LFM2_WITH_CUDA

// Everything a running generate touches, kept alive by the worker even if the JS object is collected.
struct CudaSamplerCore {
  std::shared_ptr<CudaModelHandle> model;
  std::mutex mu;  // guards the generator (its cache) and token_bytes between calls
  std::unique_ptr<cuda::CudaGenerator> gen;
  std::shared_ptr<const std::vector<std::string>> token_bytes;
  std::atomic<bool> busy{false};
};

bool graphs_default() {
  const char* e = std::getenv("LFM2_CUDA_GRAPHS");
  return !(e && std::string(e) == "0");
}

class CudaSamplerWrap : public Napi::ObjectWrap<CudaSamplerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "CudaSampler",
                       {InstanceMethod<&CudaSamplerWrap::generate>("generate"),
                        InstanceMethod<&CudaSamplerWrap::set_token_bytes>("setTokenBytes"),
                        InstanceMethod<&CudaSamplerWrap::clear_cache>("clearCache"),
                        InstanceMethod<&CudaSamplerWrap::set_cache_bytes>("setCacheBytes"),
                        InstanceMethod<&CudaSamplerWrap::cache_stats>("cacheStats"),
                        InstanceMethod<&CudaSamplerWrap::graph_stats>("graphStats"),
                        InstanceAccessor<&CudaSamplerWrap::busy>("busy")});
  }

  CudaSamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaSamplerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1) throw Napi::TypeError::New(env, "new CudaSampler(model, opts): model is required");
    auto model = unwrap_cuda_model(env, info[0], "new CudaSampler(model): model");
    double cache_bytes = 256.0 * 1024 * 1024;
    if (info.Length() >= 2 && !info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Napi::TypeError::New(env, "new CudaSampler: options must be an object");
      cache_bytes = num_opt(info[1].As<Napi::Object>(), "cacheBytes", cache_bytes, "new CudaSampler");
    }
    if (!(cache_bytes >= 0)) throw Napi::RangeError::New(env, "new CudaSampler: cacheBytes must be ≥ 0");
    core_ = std::make_shared<CudaSamplerCore>();
    core_->model = model;
    core_->gen = std::make_unique<cuda::CudaGenerator>(*model->model, size_t(cache_bytes));
  }

 private:
  void require_idle(Napi::Env env, const char* fn) const {
    if (core_->busy.load())
      throw Napi::Error::New(env, std::string(fn) + ": the sampler is busy with another generate call");
  }

  Napi::Value set_token_bytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    require_idle(env, "setTokenBytes");
    auto tb = parse_token_bytes(info, core_->model->model->config().vocab_size);
    std::lock_guard<std::mutex> lk(core_->mu);
    core_->token_bytes = tb;
    return env.Undefined();
  }

  Napi::Value clear_cache(const Napi::CallbackInfo& info) {
    require_idle(info.Env(), "clearCache");
    std::lock_guard<std::mutex> lk(core_->mu);
    core_->gen->clear_cache();
    return info.Env().Undefined();
  }

  Napi::Value set_cache_bytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    require_idle(env, "setCacheBytes");
    if (info.Length() < 1 || !info[0].IsNumber() || !(info[0].As<Napi::Number>().DoubleValue() >= 0))
      throw Napi::TypeError::New(env, "setCacheBytes(n): n must be a number ≥ 0");
    std::lock_guard<std::mutex> lk(core_->mu);
    core_->gen->set_cache_bytes(size_t(info[0].As<Napi::Number>().DoubleValue()));
    return env.Undefined();
  }

  Napi::Value cache_stats(const Napi::CallbackInfo& info) {
    require_idle(info.Env(), "cacheStats");
    std::lock_guard<std::mutex> lk(core_->mu);
    return stats_to_js(info.Env(), core_->gen->cache_stats());
  }

  Napi::Value graph_stats(const Napi::CallbackInfo& info) {
    require_idle(info.Env(), "graphStats");
    std::lock_guard<std::mutex> lk(core_->mu);
    const cuda::CudaDecodeStats s = core_->gen->decode_stats();
    auto o = Napi::Object::New(info.Env());
    o.Set("graphs", double(s.graphs));
    o.Set("captures", double(s.captures));
    o.Set("replays", double(s.replays));
    o.Set("directSteps", double(s.direct_steps));
    return o;
  }

  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), core_->busy.load()); }

  Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GenerateSpec spec = parse_generate_spec(info, "generate");
    cuda::CudaGenerateOptions opts;
    opts.graphs = graphs_default();
    Napi::Value g = info[0].As<Napi::Object>().Get("graphs");
    if (!g.IsUndefined()) {
      if (!g.IsBoolean()) throw Napi::TypeError::New(env, "generate: graphs must be a boolean");
      opts.graphs = g.As<Napi::Boolean>().Value();
    }
    require_idle(env, "generate");
    core_->busy.store(true);
    auto core = core_;
    auto reqs = spec.requests;
    auto cfg = spec.cfg;
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto work = [core, reqs, cfg, cancel, opts]() {
      struct Idle {  // busy until the work ends, however it ends
        CudaSamplerCore& c;
        ~Idle() { c.busy.store(false); }
      } idle{*core};
      std::lock_guard<std::mutex> lk(core->mu);
      return core->gen->generate(*reqs, *cfg, core->token_bytes.get(), cancel.get(), opts);
    };
    auto result = Napi::Object::New(env);
    result.Set("promise", run_async<GenerateOutput>(env, work, output_to_js));
    result.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo& ci) {
                 cancel->store(true);
                 return ci.Env().Undefined();
               }));
    return result;
  }

  std::shared_ptr<CudaSamplerCore> core_;
};

#else

Napi::Value not_compiled(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "device 'cuda' is not available: " + cuda_availability().reason);
}

#endif

}  // namespace

void register_cuda_sampler(Napi::Env env, Napi::Object exports) {
#ifdef LFM2_WITH_CUDA
  exports.Set("CudaSampler", CudaSamplerWrap::define(env));
#else
  exports.Set("CudaSampler", Napi::Function::New(env, not_compiled, "CudaSampler"));
#endif
}

}  // namespace lfm2::binding
