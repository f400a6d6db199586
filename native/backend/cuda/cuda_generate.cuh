#pragma once
// Batched generation on the GPU engine: the CPU generator's loop (native/model/generate_loop.h, so the same
// requests, config, result layout and log-probs) over a device backend. Distinct prompts are prefilled once (the
// longest cached prefix reused, the batch's common prefix computed once), each prompt's state is forked per sample
// (its last sample takes the state itself) with room for max_new_tokens, so no KV buffer moves while decoding, and
// when the forks would pass the state memory cap the prefix cache is evicted first; every step runs one token per live sequence through
// the model, the LM head and the sampling kernel on the device (decode_graph.cuh, optionally as a CUDA graph).
// Logits never leave the GPU: per step only the sampled ids and their four log-probs come back.
//
// Token choice: sampling.cuh's kernel (the sampler.h steps in FP32). Uniforms: the CPU sampler's counter-based
// stream, u = sampler_uniform(seed, sample index, step) computed on the host and rounded to FP32, so a seed gives the
// same tokens run to run, and the same tokens as the CPU whenever both engines' logits rank and weigh alike.
// Stop strings are matched on the host from the ids (token bytes), like the CPU path.
//
// This header has no CUDA types (pimpl), so the binding can include it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_model.cuh"
#include "model/prefix_cache.h"
#include "model/sampler_generate.h"

namespace lfm2::cuda {

struct CudaGenerateOptions {
  bool graphs = true;  // replay a captured CUDA graph per decode step (false: enqueue the same kernels directly)
};

struct CudaDecodeStats {
  int64_t graphs = 0, captures = 0, replays = 0, direct_steps = 0;
};

// One per sampler: owns the decode buffers and graphs (kept across calls) and a prefix cache of device states.
class CudaGenerator {
 public:
  // cache_bytes bounds the prefix cache: Σ (state bytes + logits + key) of its entries (LRU eviction; 0 = off).
  // Cached states also count against the model's state memory cap.
  CudaGenerator(CudaModel& model, size_t cache_bytes);
  ~CudaGenerator();

  // Validates everything first (the CPU generator's messages), then generates. `token_bytes` [V] is needed only
  // for stop strings; `cancel` (may be null) is checked between forwards and makes the call throw
  // "generation cancelled".
  GenerateOutput generate(const std::vector<GenerateRequest>& requests, const GenerateConfig& cfg,
                          const std::vector<std::string>* token_bytes, const std::atomic<bool>* cancel,
                          const CudaGenerateOptions& opts);

  CudaDecodeStats decode_stats() const;
  void clear_cache();
  void set_cache_bytes(size_t bytes);
  PrefixCacheStats cache_stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lfm2::cuda
