#pragma once
// Fused, chunked GRPO loss over the tied LM head on the GPU (same semantics as native/model/grpo_loss.h, TRL
// v0.26.2): per chunk of rows, logits = bf16(H)·Eᵀ (cuBLASLt, FP32 out), one block per row turns its logits row into
// dlogits in place and writes the row's terms (and whether its argmax is the target), then dH = bf16(dlogits)·E and dE += bf16(dlogits)ᵀ·bf16(H). At most
// one [chunk_rows, V] logits block exists at a time.
#include <cstdint>

#include "backend/cuda/common.cuh"
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/memory.cuh"

namespace lfm2::cuda {

struct GrpoDeviceInputs {
  int64_t rows = 0, vocab = 0, dim = 0;
  const float* hidden = nullptr;           // [N, C]
  const __nv_bfloat16* head = nullptr;     // [V, C]
  const int32_t* targets = nullptr;        // [N]
  const float* old_logp = nullptr;         // [N] or null (ratio 1)
  const float* ref_logp = nullptr;         // [N] or null
  const float* advantages = nullptr;       // [N] (null for sft)
  const float* mask = nullptr;             // [N]
  const float* is_weight = nullptr;        // [N] or null
  const double* row_weight = nullptr;      // [N] aggregation weight c_n (docs/grpo.md §4.2), computed by the caller
};

struct GrpoDeviceOptions {
  float epsilon_low = 0.2f, epsilon_high = 0.2f, beta = 0.f, temperature = 1.f;
  int64_t chunk_rows = 256;
  bool sft = false;  // l = −logp (the caller has checked β = 0, τ = 1); the row weights c_n give the aggregation
};

// Per-row results: terms [N, kGrpoTerms] = (c·m·l, m·KL, m·low, m·high, m·region, m·correct), where correct =
// [first argmax of the logits = target]; logp [N], entropy [N] (masked rows included for logp/entropy). dhidden [N, C] written (nullable), dhead [V, C] accumulated (nullable).
constexpr int kGrpoTerms = 6;
struct GrpoDeviceOutputs {
  double* terms = nullptr;
  float* logp = nullptr;
  float* entropy = nullptr;
  float* dhidden = nullptr;
  float* dhead = nullptr;
};

void grpo_loss_forward_backward(const GrpoDeviceInputs& in, const GrpoDeviceOptions& opt,
                                const GrpoDeviceOutputs& out, Gemm& gemm, Arena& arena, cudaStream_t stream);

}  // namespace lfm2::cuda
