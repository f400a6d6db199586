// JS class Sampler over lfm2::generate (native/model/sampler_generate.h; the class itself is sampler_wrap.h) and the
// sampler's token-choice functions.
//
//   new Sampler(model, { cacheBytes? }) → sampler (owns a prefix cache and its own activation buffers)
//   sampler.setTokenBytes(bytes: Uint8Array, offsets: Int32Array [V+1])   token id → raw bytes, for stop strings
//   sampler.generate(spec) → { promise: Promise<GenerateOutput>, cancel(): void }
//       spec = { requests: [{ prompt: Int32Array, n, trie?: { childStart, childToken, childNode, terminal } }],
//                params: { temperature, topK, topP, minP, repetitionPenalty, maxNewTokens, stopIds: Int32Array,
//                          stopStrings: Uint8Array[], seed }, maxContext, prefillChunkTokens, precision, cachePrompts }
//   sampler.clearCache(), sampler.setCacheBytes(n), sampler.cacheStats(), sampler.busy
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

#include "binding/model_handle.h"
#include "binding/registry.h"
#include "binding/sampler_args.h"
#include "binding/sampler_wrap.h"
#include "model/prefix_cache.h"
#include "model/sampler.h"
#include "model/sampler_generate.h"
#include "model/sampler_row.h"

namespace lfm2::binding {
namespace {

// lfm2::generate over a Model: a prefix cache and activation buffers of its own; each forward holds the model's
// mutex, so generation interleaves with training and other samplers on the same model.
class CpuSamplerEngine {
 public:
  static constexpr const char* kName = "Sampler";
  static constexpr bool kGraphStats = false;
  using Model = ModelHandle;
  using GenerateOptions = Precision;

  static std::shared_ptr<ModelHandle> unwrap(Napi::Env env, Napi::Value v, const std::string& what) {
    return unwrap_model(env, v, what);
  }
  static Precision read_options(Napi::Env, Napi::Object, const GenerateSpec& spec) { return spec.precision; }

  CpuSamplerEngine(std::shared_ptr<ModelHandle> model, size_t cache_bytes)
      : model_(std::move(model)), cache_(cache_bytes) {}

  int64_t vocab_size() const { return model_->model->config().vocab_size; }
  void clear_cache() { cache_.clear(); }
  void set_cache_bytes(size_t n) { cache_.set_capacity(n); }
  PrefixCacheStats cache_stats() const { return cache_.stats(); }

  GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                          const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                          Precision precision) {
    ModelHandle& h = *model_;
    ForwardOptions fo;
    fo.logits = LogitsMode::Last;
    fo.precision = precision;
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
  exports.Set("Sampler", SamplerWrap<CpuSamplerEngine>::define(env));
  auto ops = Napi::Object::New(env);
  ops.Set("distribution", Napi::Function::New(env, op_distribution));
  ops.Set("choose", Napi::Function::New(env, op_choose));
  ops.Set("uniform", Napi::Function::New(env, op_uniform));
  ops.Set("timeChoose", Napi::Function::New(env, op_time_choose));
  ops.Set("setPortableKernels", Napi::Function::New(env, op_set_portable_kernels));
  exports.Set("samplerOps", ops);
}

}  // namespace lfm2::binding
