// JS class CudaSampler: the Sampler's class (sampler_wrap.h) over GPU generation
// (native/backend/cuda/cuda_generate.cuh) on a CudaModel. lib/engine/sampler.ts picks it for a model on device
// 'cuda'; spec and results are the Sampler's.
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
#include "binding/cuda_model_handle.h"
#include "binding/sampler_args.h"
#include "binding/sampler_wrap.h"
#else
#include "backend/device.h"
#endif

namespace lfm2::binding {
namespace {

#ifdef LFM2_WITH_CUDA

bool graphs_default() {
  const char* e = std::getenv("LFM2_CUDA_GRAPHS");
  return !(e && std::string(e) == "0");
}

// GPU generation (cuda::CudaGenerator) over a CudaModel; the generator keeps its prefix cache of device states.
class CudaSamplerEngine {
 public:
  static constexpr const char* kName = "CudaSampler";
  static constexpr bool kGraphStats = true;
  using Model = CudaModelHandle;
  using GenerateOptions = cuda::CudaGenerateOptions;

  static std::shared_ptr<CudaModelHandle> unwrap(Napi::Env env, Napi::Value v, const std::string& what) {
    return unwrap_cuda_model(env, v, what);
  }
  // `precision` is ignored: the GPU engine always rounds GEMM inputs to BF16.
  static cuda::CudaGenerateOptions read_options(Napi::Env env, Napi::Object spec, const GenerateSpec&) {
    cuda::CudaGenerateOptions opts;
    opts.graphs = graphs_default();
    Napi::Value g = spec.Get("graphs");
    if (!g.IsUndefined()) {
      if (!g.IsBoolean()) throw Napi::TypeError::New(env, "generate: graphs must be a boolean");
      opts.graphs = g.As<Napi::Boolean>().Value();
    }
    return opts;
  }

  CudaSamplerEngine(std::shared_ptr<CudaModelHandle> model, size_t cache_bytes)
      : model_(std::move(model)), gen_(std::make_unique<cuda::CudaGenerator>(*model_->model, cache_bytes)) {}

  int64_t vocab_size() const { return model_->model->config().vocab_size; }
  void clear_cache() { gen_->clear_cache(); }
  void set_cache_bytes(size_t n) { gen_->set_cache_bytes(n); }
  PrefixCacheStats cache_stats() const { return gen_->cache_stats(); }

  GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                          const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                          const cuda::CudaGenerateOptions& opts) {
    return gen_->generate(requests, cfg, token_bytes, cancel, opts);
  }

  Napi::Value graph_stats_to_js(Napi::Env env) const {
    const cuda::CudaDecodeStats s = gen_->decode_stats();
    auto o = Napi::Object::New(env);
    o.Set("graphs", double(s.graphs));
    o.Set("captures", double(s.captures));
    o.Set("replays", double(s.replays));
    o.Set("directSteps", double(s.direct_steps));
    return o;
  }

 private:
  std::shared_ptr<CudaModelHandle> model_;  // declared first: destroyed after the generator
  std::unique_ptr<cuda::CudaGenerator> gen_;
};

#else

Napi::Value not_compiled(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "device 'cuda' is not available: " + cuda_availability().reason);
}

#endif

}  // namespace

void register_cuda_sampler(Napi::Env env, Napi::Object exports) {
#ifdef LFM2_WITH_CUDA
  exports.Set("CudaSampler", SamplerWrap<CudaSamplerEngine>::define(env));
#else
  exports.Set("CudaSampler", Napi::Function::New(env, not_compiled, "CudaSampler"));
#endif
}

}  // namespace lfm2::binding
