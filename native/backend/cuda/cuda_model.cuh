#pragma once
// GPU LFM2 engine (docs/lfm2.md §3): the weights are uploaded once (large matrices BF16, norms and conv kernels FP32) and
// stay on the device; generation states keep their KV caches and conv shift registers on the device. A forward runs
// a ragged batch of chunks (fresh sequences and/or continuations of states) exactly like Lfm2Model::forward, with
// every linear one cuBLASLt GEMM over all rows; only token ids go in and logits/hidden rows come out.
//
// Numerics: activations are FP32 and rounded to BF16 at each GEMM input (FP32 accumulation), i.e. the CPU engine's
// Precision::Fast; norms, RoPE, conv, softmax and the residual stream stay FP32.
//
// This header has no CUDA types (pimpl), so host-only code (the binding) can include it.
#include <cstdint>
#include <memory>
#include <vector>

#include "model/config.h"
#include "model/lfm2.h"

namespace lfm2::cuda {

struct CudaModelOptions {
  // Upper bound on the bytes all generation states may hold together (KV caches + conv registers);
  // 0 = 90% of the device memory free after the weights are uploaded.
  int64_t state_bytes_cap = 0;
};

class CudaGenerationState;  // device-resident KV cache + conv shift registers of one sequence
// Destroys a state (frees its device memory and returns its bytes to the model's budget).
void destroy_state(CudaGenerationState* s);
struct CudaStateDeleter {
  void operator()(CudaGenerationState* s) const { destroy_state(s); }
};
using CudaStatePtr = std::unique_ptr<CudaGenerationState, CudaStateDeleter>;

struct CudaChunk {
  const int32_t* tokens = nullptr;       // [n] host
  int64_t n = 0;                         // ≥ 1
  CudaGenerationState* state = nullptr;  // nullptr = fresh sequence
};

struct CudaForwardResult {
  std::vector<int64_t> logit_rows;  // [R] packed rows whose logits were computed
  std::vector<float> logits;        // [R, V]
  std::vector<float> hidden;        // [T, C] final-norm hidden states, when asked for
};

class CudaModel {
 public:
  // Uploads the weights of a loaded CPU model (any dtype; F32 matrices are rounded to BF16 once).
  static std::unique_ptr<CudaModel> upload(const Lfm2Model& host, const CudaModelOptions& opts);
  ~CudaModel();

  const Lfm2Config& config() const;
  int64_t weight_bytes() const;      // device bytes held by the weights
  int64_t state_bytes() const;       // device bytes held by all live states
  int64_t state_bytes_cap() const;

  CudaStatePtr new_state();
  // Deep copy on the device with room for `extra_tokens` more positions.
  CudaStatePtr fork(const CudaGenerationState& s, int64_t extra_tokens = 256);
  static int64_t length(const CudaGenerationState& s);
  static int64_t bytes(const CudaGenerationState& s);

  // Validates everything (chunk sizes, token ids, positions, states of this model, each at most once, the state
  // memory cap) before any state changes, so a rejected call leaves every state as it was.
  CudaForwardResult forward(const std::vector<CudaChunk>& chunks, LogitsMode logits, bool want_hidden);

  struct Impl;  // cuda_model_impl.cuh: shared with the GPU trainer and generator, which run on the same weights
  Impl& impl() { return *impl_; }

 private:
  explicit CudaModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lfm2::cuda
