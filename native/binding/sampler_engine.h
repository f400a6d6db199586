#pragma once
// What the JS Sampler class (sampler.cpp) asks of a generation engine, picked by the device of the model it is given:
// lfm2::generate on a CPU model (sampler.cpp) or GPU generation on a CUDA model (cuda_sampler.cpp). Both take the
// same generate spec and return the same results (sampler_args.h).
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "binding/model_engine.h"
#include "binding/sampler_args.h"

namespace lfm2::binding {

// The per-call options an engine reads from the spec beyond the shared ones.
struct SamplerRunOptions {
  Precision precision = Precision::Exact;  // CPU
  bool graphs = true;                      // GPU: replay a captured graph per decode step
};

class SamplerEngine {
 public:
  virtual ~SamplerEngine() = default;
  virtual int64_t vocab_size() const = 0;
  virtual void clear_cache() = 0;
  virtual void set_cache_bytes(size_t n) = 0;
  virtual PrefixCacheStats cache_stats() const = 0;
  // On the JS thread, before the work is queued; throws a JS error for a bad option.
  virtual SamplerRunOptions read_options(Napi::Env env, Napi::Object spec, const GenerateSpec& parsed) const = 0;
  // On the libuv pool, under the sampler's lock.
  virtual GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                                  const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                                  const SamplerRunOptions& opts) = 0;
  // Decode-step graph counters; undefined for engines without graphs.
  virtual Napi::Value graph_stats_to_js(Napi::Env env) const { return env.Undefined(); }
};

// For a GPU model; throws in a build without the CUDA backend (cuda_sampler.cpp).
std::unique_ptr<SamplerEngine> cuda_sampler_engine(std::shared_ptr<ModelEngine> model, size_t cache_bytes);

}  // namespace lfm2::binding
