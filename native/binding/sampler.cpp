// JS class Sampler on either device: a CPU model gets lfm2::generate (native/model/sampler_generate.h, below), a
// CUDA model GPU generation (cuda_sampler.cpp); both behind SamplerEngine (sampler_engine.h). Also the sampler's
// token-choice functions.
//
//   new Sampler(model, { cacheBytes? }) → sampler (owns a prefix cache, default 256 MiB; on the CPU also its own
//       activation buffers; on the GPU the cached states count against the model's state memory cap)
//   sampler.setTokenBytes(bytes: Uint8Array, offsets: Int32Array [V+1])   token id → raw bytes, for stop strings
//   sampler.generate(spec) → { promise: Promise<GenerateOutput>, cancel(): void }   (one at a time per sampler)
//       spec = { requests: [{ prompt: Int32Array, n, trie?: { childStart, childToken, childNode, terminal } }],
//                params: { temperature, topK, topP, minP, repetitionPenalty, maxNewTokens, stopIds: Int32Array,
//                          stopStrings: Uint8Array[], seed }, maxContext, prefillChunkTokens, precision, cachePrompts,
//                graphs? (GPU only, default true; LFM2_CUDA_GRAPHS=0 turns graphs off) }
//       The GPU ignores precision: it always rounds GEMM inputs to BF16 (the CPU's 'fast').
//   sampler.clearCache(), sampler.setCacheBytes(n), sampler.cacheStats(), sampler.busy
//   sampler.graphStats() → { graphs, captures, replays, directSteps } on the GPU, undefined on the CPU
//   samplerOps.distribution(logits, params, seen?, allowed?) → { ids: Int32Array, probs: Float64Array }
//   samplerOps.choose(logits, params, seen?, allowed?, u) → { token, logprob, tempLogprob, sampleLogprob, maskedLogprob }
//   samplerOps.uniform(seed, seq, step) → number
//   samplerOps.timeChoose(logits, params, seen?, allowed?, iters) → µs per choose_token call (native loop, one scratch)
//   samplerOps.setPortableKernels(on)   true: scalar row kernels; false: run-time dispatch (AVX2 when present)
#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "binding/async.h"
#include "binding/js_exceptions.h"
#include "binding/model_engine.h"
#include "binding/registry.h"
#include "binding/sampler_args.h"
#include "binding/sampler_engine.h"
#include "model/prefix_cache.h"
#include "model/sampler.h"
#include "model/sampler_generate.h"
#include "model/sampler_row.h"

namespace lfm2::binding {
namespace {

// lfm2::generate over a CPU model: a prefix cache and activation buffers of its own; each forward holds the model's
// mutex, so generation interleaves with training and other samplers on the same model.
class CpuSamplerEngine : public SamplerEngine {
 public:
  CpuSamplerEngine(std::shared_ptr<ModelHandle> model, size_t cache_bytes)
      : model_(std::move(model)), cache_(cache_bytes) {}

  int64_t vocab_size() const override { return model_->model->config().vocab_size; }
  void clear_cache() override { cache_.clear(); }
  void set_cache_bytes(size_t n) override { cache_.set_capacity(n); }
  PrefixCacheStats cache_stats() const override { return cache_.stats(); }
  SamplerRunOptions read_options(Napi::Env, Napi::Object, const GenerateSpec& spec) const override {
    SamplerRunOptions o;
    o.precision = spec.precision;
    return o;
  }

  GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                          const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                          const SamplerRunOptions& opts) override {
    ModelHandle& h = *model_;
    ForwardOptions fo;
    fo.logits = LogitsMode::Last;
    fo.precision = opts.precision;
    ForwardFn forward = [&](const std::vector<SeqChunk>& chunks) -> const float* {
      std::lock_guard<std::mutex> ml(h.mu);
      h.model->forward(chunks, acts_, fo);
      return acts_.logits;
    };
    return lfm2::generate(*h.model, forward, requests, cfg, &cache_, token_bytes, cancel);
  }

 private:
  std::shared_ptr<ModelHandle> model_;
  PrefixCache cache_;
  ForwardActivations acts_;
};

// Everything a running generate touches, kept alive by the worker even if the JS object is collected.
struct SamplerCore {
  std::unique_ptr<SamplerEngine> engine;
  std::mutex mu;  // guards the engine (its prefix cache) and token_bytes between calls
  std::shared_ptr<const std::vector<std::string>> token_bytes;
  std::atomic<bool> busy{false};
};

class SamplerWrap : public Napi::ObjectWrap<SamplerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Sampler",
                       {InstanceMethod<&SamplerWrap::generate>("generate"),
                        InstanceMethod<&SamplerWrap::set_token_bytes>("setTokenBytes"),
                        InstanceMethod<&SamplerWrap::clear_cache>("clearCache"),
                        InstanceMethod<&SamplerWrap::set_cache_bytes>("setCacheBytes"),
                        InstanceMethod<&SamplerWrap::cache_stats>("cacheStats"),
                        InstanceMethod<&SamplerWrap::graph_stats>("graphStats"),
                        InstanceAccessor<&SamplerWrap::busy>("busy")});
  }

  SamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1) throw Napi::TypeError::New(env, "new Sampler(model, opts): model is required");
    auto model = unwrap_model(env, info[0], "new Sampler(model): model");
    double cache_bytes = 256.0 * 1024 * 1024;
    if (info.Length() >= 2 && !info[1].IsUndefined()) {
      if (!info[1].IsObject()) throw Napi::TypeError::New(env, "new Sampler: options must be an object");
      cache_bytes = num_opt(info[1].As<Napi::Object>(), "cacheBytes", cache_bytes, "new Sampler");
    }
    if (!(cache_bytes >= 0)) throw Napi::RangeError::New(env, "new Sampler: cacheBytes must be ≥ 0");
    core_ = std::make_shared<SamplerCore>();
    core_->engine = guarded(env, [&]() -> std::unique_ptr<SamplerEngine> {
      if (model->on_cuda()) return cuda_sampler_engine(model, size_t(cache_bytes));
      return std::make_unique<CpuSamplerEngine>(std::static_pointer_cast<ModelHandle>(model), size_t(cache_bytes));
    });
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
    with_idle_engine(info.Env(), "clearCache", [](SamplerEngine& e) { e.clear_cache(); });
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
    return stats_to_js(env, with_idle_engine(env, "cacheStats", [](SamplerEngine& e) { return e.cache_stats(); }));
  }

  Napi::Value graph_stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return with_idle_engine(env, "graphStats", [env](SamplerEngine& e) { return e.graph_stats_to_js(env); });
  }

  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), core_->busy.load()); }

  Napi::Value generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    GenerateSpec spec = parse_generate_spec(info, "generate");
    const SamplerRunOptions opts = core_->engine->read_options(env, info[0].As<Napi::Object>(), spec);
    require_idle(env, "generate");
    core_->busy.store(true);
    auto core = core_;
    auto reqs = spec.requests;
    auto cfg = spec.cfg;
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto work = [core, reqs, cfg, cancel, opts]() {
      struct Idle {  // busy until the work ends, however it ends
        SamplerCore& c;
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

  std::shared_ptr<SamplerCore> core_;
};

// ---- token-choice functions on plain arrays, for tests against the TypeScript reference
struct RowArgs {
  std::vector<float> logits;
  SamplingParams params;
  SeenSet seen;
  bool has_seen = false;
  std::vector<int32_t> allowed;
  bool has_allowed = false;
};

RowArgs row_args(const Napi::CallbackInfo& info, const std::string& fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, fn + "(logits, params, seen?, allowed?)");
  RowArgs a;
  a.logits = typed_vec<float, Napi::Float32Array>(env, info[0], napi_float32_array, fn + ": logits");
  if (a.logits.empty()) throw Napi::RangeError::New(env, fn + ": logits is empty");
  const int64_t V = int64_t(a.logits.size());
  a.params = parse_params(env, info[1], fn);
  try {
    a.params.validate(V);
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(env, fn + ": " + e.what());
  }
  if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
    auto s = typed_vec<int32_t, Napi::Int32Array>(env, info[2], napi_int32_array, fn + ": seen");
    a.seen.reset(V);
    for (int32_t t : s) {
      if (t < 0 || t >= V) throw Napi::RangeError::New(env, fn + ": seen token out of range");
      a.seen.add(t);
    }
    a.has_seen = true;
  }
  if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull()) {
    a.allowed = typed_vec<int32_t, Napi::Int32Array>(env, info[3], napi_int32_array, fn + ": allowed");
    for (size_t i = 0; i < a.allowed.size(); ++i)
      if (a.allowed[i] < 0 || a.allowed[i] >= V || (i > 0 && a.allowed[i] <= a.allowed[i - 1]))
        throw Napi::RangeError::New(env, fn + ": allowed must be ascending ids in the vocabulary");
    if (a.allowed.empty()) throw Napi::RangeError::New(env, fn + ": allowed is empty");
    a.has_allowed = true;
  }
  return a;
}

Napi::Value op_distribution(const Napi::CallbackInfo& info) {
  RowArgs a = row_args(info, "samplerOps.distribution");
  SamplerScratch s;
  sampling_distribution(a.logits.data(), int64_t(a.logits.size()), a.params, a.has_seen ? &a.seen : nullptr,
                        a.has_allowed ? a.allowed.data() : nullptr, int64_t(a.allowed.size()), s);
  auto o = Napi::Object::New(info.Env());
  o.Set("ids", to_typed<Napi::Int32Array>(info.Env(), s.dist.ids));
  o.Set("probs", to_typed<Napi::Float64Array>(info.Env(), s.dist.probs));
  return o;
}

Napi::Value op_choose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RowArgs a = row_args(info, "samplerOps.choose");
  if (info.Length() < 5 || !info[4].IsNumber()) throw Napi::TypeError::New(env, "samplerOps.choose: u must be a number");
  const double u = info[4].As<Napi::Number>().DoubleValue();
  if (!(u >= 0 && u < 1)) throw Napi::RangeError::New(env, "samplerOps.choose: u must be in [0, 1)");
  SamplerScratch s;
  TokenChoice c = choose_token(a.logits.data(), int64_t(a.logits.size()), a.params, a.has_seen ? &a.seen : nullptr,
                               a.has_allowed ? a.allowed.data() : nullptr, int64_t(a.allowed.size()), u, s);
  auto o = Napi::Object::New(env);
  o.Set("token", double(c.token));
  o.Set("logprob", double(c.logprob));
  o.Set("tempLogprob", double(c.temp_logprob));
  o.Set("sampleLogprob", double(c.sample_logprob));
  o.Set("maskedLogprob", double(c.masked_logprob));
  return o;
}

Napi::Value op_time_choose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RowArgs a = row_args(info, "samplerOps.timeChoose");
  if (info.Length() < 5 || !info[4].IsNumber()) throw Napi::TypeError::New(env, "samplerOps.timeChoose: iters must be a number");
  const double iters_d = info[4].As<Napi::Number>().DoubleValue();
  if (!(iters_d >= 1 && iters_d <= 1e7)) throw Napi::RangeError::New(env, "samplerOps.timeChoose: iters must be in [1, 1e7]");
  const int64_t iters = int64_t(iters_d);
  SamplerScratch s;
  int64_t sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i)
    sink += choose_token(a.logits.data(), int64_t(a.logits.size()), a.params, a.has_seen ? &a.seen : nullptr,
                         a.has_allowed ? a.allowed.data() : nullptr, int64_t(a.allowed.size()),
                         (double(i) + 0.5) / double(iters), s)
                .token;
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  return Napi::Number::New(env, sink >= 0 ? us / double(iters) : -1.0);
}

Napi::Value op_set_portable_kernels(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean())
    throw Napi::TypeError::New(info.Env(), "samplerOps.setPortableKernels(on: boolean)");
  row_kernels_force_portable(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value op_uniform(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throw Napi::TypeError::New(env, "samplerOps.uniform(seed, seq, step)");
  uint64_t v[3];
  for (int i = 0; i < 3; ++i) {
    if (!info[i].IsNumber()) throw Napi::TypeError::New(env, "samplerOps.uniform: arguments must be integers ≥ 0");
    const double d = info[i].As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0 && d == double(int64_t(d))))
      throw Napi::TypeError::New(env, "samplerOps.uniform: arguments must be integers ≥ 0");
    v[i] = uint64_t(d);
  }
  return Napi::Number::New(env, sampler_uniform(v[0], v[1], v[2]));
}

}  // namespace

void register_sampler(Napi::Env env, Napi::Object exports) {
  exports.Set("Sampler", SamplerWrap::define(env));
  auto ops = Napi::Object::New(env);
  ops.Set("distribution", Napi::Function::New(env, op_distribution));
  ops.Set("choose", Napi::Function::New(env, op_choose));
  ops.Set("uniform", Napi::Function::New(env, op_uniform));
  ops.Set("timeChoose", Napi::Function::New(env, op_time_choose));
  ops.Set("setPortableKernels", Napi::Function::New(env, op_set_portable_kernels));
  exports.Set("samplerOps", ops);
}

}  // namespace lfm2::binding
