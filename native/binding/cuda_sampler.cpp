// The GPU side of the JS Sampler (sampler.cpp): cuda::CudaGenerator (native/backend/cuda/cuda_generate.cuh) on a
// CUDA model; its prefix cache holds device states (their bytes also count against the model's state memory cap).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/device.h"
#include "binding/sampler_engine.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_generate.cuh"
#include "binding/cuda_model_handle.h"
#endif

namespace lfm2::binding {

#ifndef LFM2_WITH_CUDA

std::unique_ptr<SamplerEngine> cuda_sampler_engine(std::shared_ptr<ModelEngine>, size_t) {
  throw std::runtime_error("device 'cuda' is not available: " + cuda_availability().reason);
}

#else

namespace {

bool graphs_default() {
  const char* e = std::getenv("LFM2_CUDA_GRAPHS");
  return !(e && std::string(e) == "0");
}

class CudaSamplerEngine : public SamplerEngine {
 public:
  CudaSamplerEngine(std::shared_ptr<CudaModelHandle> model, size_t cache_bytes)
      : model_(std::move(model)), gen_(std::make_unique<cuda::CudaGenerator>(*model_->model, cache_bytes)) {}

  int64_t vocab_size() const override { return model_->model->config().vocab_size; }
  void clear_cache() override { gen_->clear_cache(); }
  void set_cache_bytes(size_t n) override { gen_->set_cache_bytes(n); }
  PrefixCacheStats cache_stats() const override { return gen_->cache_stats(); }

  // `precision` is ignored: the GPU engine always rounds GEMM inputs to BF16.
  SamplerRunOptions read_options(Napi::Env env, Napi::Object spec, const GenerateSpec&) const override {
    SamplerRunOptions opts;
    opts.graphs = graphs_default();
    Napi::Value g = spec.Get("graphs");
    if (!g.IsUndefined()) {
      if (!g.IsBoolean()) throw Napi::TypeError::New(env, "generate: graphs must be a boolean");
      opts.graphs = g.As<Napi::Boolean>().Value();
    }
    return opts;
  }

  GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                          const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                          const SamplerRunOptions& opts) override {
    cuda::CudaGenerateOptions go;
    go.graphs = opts.graphs;
    return gen_->generate(requests, cfg, token_bytes, cancel, go);
  }

  Napi::Value graph_stats_to_js(Napi::Env env) const override {
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

}  // namespace

std::unique_ptr<SamplerEngine> cuda_sampler_engine(std::shared_ptr<ModelEngine> model, size_t cache_bytes) {
  return std::make_unique<CudaSamplerEngine>(std::static_pointer_cast<CudaModelHandle>(model), cache_bytes);
}

#endif  // LFM2_WITH_CUDA

}  // namespace lfm2::binding
