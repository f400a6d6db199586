#pragma once
// Device LoRA adapter (PEFT semantics, native/model/lora.h): for each targeted linear W [out, in],
//   y += s·(x·Aᵀ)·Bᵀ,  A [r, in], B [out, r], s = alpha/r (alpha/√r with rsLoRA).
// Module selection, names and the A initialisation come from the CPU LoraAdapter (lora.h), built on the host copy
// of the weights, so a spec selects the same modules with the same initial A on both engines.
//
// Numerics: FP32 masters A, B (what the optimizer updates, saves and loads) with BF16 copies that every GEMM reads;
// GEMM inputs (x, dy, x·Aᵀ, s·dy·B) are rounded to BF16, accumulation and outputs are FP32.
//
// Backward of one module (dy [T, out] FP32, x the BF16 input the forward used):
//   xa = x·Aᵀ [T, r];  dxa = s·dy·B [T, r];  dB += s·dyᵀ·xa;  dA += dxaᵀ·x;  dx += dxa·A.
//
// It is also the CudaLinearAdapter of the inference forward (cuda_model_impl.cuh), so generation on the shared
// CudaModel samples from the current policy without merging.
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/cuda_model_impl.cuh"
#include "model/lora.h"

namespace lfm2::cuda {

// The math on raw device pointers (BF16 x, dy, A, B as the GEMMs read them):
//   forward:  xa = x·Aᵀ (FP32 scratch xa, rounded into xa_bf), y [T, out] += s·xa_bf·Bᵀ;
//   backward: dA [r, in] +=, dB [out, r] +=, dx [T, in] += (nullable), scratch from the arena.
void lora_forward_device(const __nv_bfloat16* x, const __nv_bfloat16* A, const __nv_bfloat16* B, int64_t T,
                         int64_t in, int64_t out, int64_t r, float s, float* y, float* xa, __nv_bfloat16* xa_bf,
                         Gemm& gemm, cudaStream_t stream);
void lora_backward_device(const __nv_bfloat16* x, const __nv_bfloat16* dy, const __nv_bfloat16* A,
                          const __nv_bfloat16* B, int64_t T, int64_t in, int64_t out, int64_t r, float s, float* dA,
                          float* dB, float* dx, Gemm& gemm, Arena& arena, cudaStream_t stream);

struct CudaLoraModule {
  std::string path;                 // "model.layers.2.self_attn.q_proj"
  int64_t layer = 0;
  LinearKind kind = LinearKind::Q;
  int64_t in = 0, out = 0;
  DeviceBuffer A, B;                // FP32 [r, in], [out, r] masters
  DeviceBuffer A_bf, B_bf;          // BF16 copies read by the GEMMs
  DeviceBuffer dA, dB;              // FP32 gradients (+=)
};

// The (layer, kind) of a module path such as "model.layers.3.feed_forward.w1"; throws on anything else.
void lora_module_site(const std::string& path, int64_t& layer, LinearKind& kind);

class CudaLora : public CudaLinearAdapter {
 public:
  // Uploads the modules of `host` (its current A, B).
  CudaLora(const LoraAdapter& host, const Lfm2Config& cfg, cudaStream_t stream);

  float scale() const { return scale_; }
  int64_t rank() const { return rank_; }
  std::vector<CudaLoraModule>& modules() { return modules_; }
  const CudaLoraModule* find(int64_t layer, LinearKind kind) const;

  // Inference hook (CudaLinearAdapter): y [T, out] += s·(x·Aᵀ)·Bᵀ for an adapted (layer, kind).
  void after_linear(int64_t layer, LinearKind kind, const __nv_bfloat16* x, int64_t T, int64_t out, int64_t in,
                    float* y, cudaStream_t stream) const override;

  // Forward of one module with caller-provided GEMM and scratch (training forward).
  void forward(const CudaLoraModule& m, const __nv_bfloat16* x, int64_t T, float* y, Gemm& gemm, Arena& arena,
               cudaStream_t stream) const;
  // Backward of one module: dA, dB += and dx += (dx nullable). dy_bf is dy rounded to BF16.
  void backward(CudaLoraModule& m, const __nv_bfloat16* x, const __nv_bfloat16* dy_bf, int64_t T, float* dx,
                Gemm& gemm, Arena& arena, cudaStream_t stream);

  // Rewrites the BF16 copies from the FP32 masters (after set/load of A or B).
  void refresh_bf16(cudaStream_t stream);
  void zero_grad(cudaStream_t stream);

  // Readies the inference hook: it runs the model's GEMM handle on the model's stream under its mutex, and bumps
  // *graph_epoch whenever it moves its scratch (captured decode graphs read its address). The scratch is sized for
  // `rows` rows now, so decode steps (captured into graphs, where no allocation may happen) never grow it.
  void prepare_hook(Gemm* g, uint64_t* graph_epoch, int64_t rows);

 private:
  float scale_ = 1.f;
  int64_t rank_ = 0;
  std::vector<CudaLoraModule> modules_;
  Gemm* hook_gemm_ = nullptr;
  uint64_t* graph_epoch_ = nullptr;
  mutable DeviceBuffer hook_scratch_;  // [T, r] FP32 + [T, r] BF16 of the inference hook
};

}  // namespace lfm2::cuda
