#pragma once
// Internals of the GPU engine shared by the files that run it (forward, generation, training): the device weights,
// the generation state and the model's Impl. Only .cu files include this (it has CUDA types).
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/cuda/cuda_model.cuh"
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/memory.cuh"

namespace lfm2::cuda {

class CudaGenerationState {
 public:
  const CudaModel::Impl* owner = nullptr;
  std::shared_ptr<std::atomic<int64_t>> used;  // the model's live-state byte counter (outlives the model if needed)
  int64_t length = 0;
  int64_t capacity = 0;         // token rows each KV buffer can hold
  std::vector<DeviceBuffer> k;  // [n_attn] × [capacity, KVH·D] post-norm, post-RoPE keys
  std::vector<DeviceBuffer> v;  // [n_attn] × [capacity, KVH·D]
  DeviceBuffer conv;            // [n_conv, 2, C] shift registers (u_{t−2}, u_{t−1}) per conv layer
  int64_t bytes = 0;
};

struct DevLayer {
  bool attn = false;
  DeviceBuffer op_norm, ffn_norm;                 // [C] f32
  DeviceBuffer conv_in, conv_out, conv_kernel;    // [3C, C] bf16, [C, C] bf16, [C, 3] f32
  DeviceBuffer q, k, v, o, q_norm, k_norm;        // [H·D, C] [KVH·D, C] [KVH·D, C] [C, H·D] bf16; [D] f32
  DeviceBuffer w1, w3, w2;                        // [F, C] [F, C] [C, F] bf16
};

// Which linear of a layer (or the LM head) a GEMM computes; an adapter (LoRA) keys its modules by (layer, kind).
enum class LinearKind { ConvIn, ConvOut, Q, K, V, O, W1, W3, W2, Head };

// Called after every base GEMM of a forward: y[T, out] += adapter(x[T, in]). x is the BF16 GEMM input the base
// linear read. Implementations must only enqueue work on `stream` (a decode step may be captured into a CUDA graph).
struct CudaLinearAdapter {
  virtual ~CudaLinearAdapter() = default;
  virtual void after_linear(int64_t layer, LinearKind kind, const __nv_bfloat16* x, int64_t T, int64_t out,
                            int64_t in, float* y, cudaStream_t stream) const = 0;
};

inline const __nv_bfloat16* bf(const DeviceBuffer& b) { return b.as<__nv_bfloat16>(); }
inline const float* f32(const DeviceBuffer& b) { return b.as<float>(); }

struct CudaModel::Impl {
  Lfm2Config cfg;
  cudaStream_t stream = nullptr;
  std::unique_ptr<Gemm> gemm;
  DeviceBuffer embed, head, final_norm;  // head empty when tied
  std::vector<DevLayer> layers;
  int64_t weight_bytes = 0;
  int64_t cap = 0;
  std::shared_ptr<std::atomic<int64_t>> used = std::make_shared<std::atomic<int64_t>>(0);
  Arena arena;
  std::mutex mu;  // one call at a time (the arena, stream and GEMM handle are shared)

  int64_t kv_width() const { return cfg.num_kv_heads * cfg.head_dim; }
  int64_t kv_bytes_per_token() const { return cfg.num_attention_layers() * 2 * kv_width() * 4; }

  ~Impl() {
    if (stream) cudaStreamDestroy(stream);
  }

  // Active adapter (nullptr = the base model). Set by the owner of the adapter (the GPU trainer) under `mu`.
  const CudaLinearAdapter* adapter = nullptr;

  // y[T, out] = beta·y + x[T, in]·Wᵀ (+ the adapter's term for (layer, kind))
  void linear(const DeviceBuffer& W, const __nv_bfloat16* x, int64_t T, int64_t out, int64_t in, float* y,
              float beta, int64_t layer, LinearKind kind) {
    GemmShape s{T, out, in, false, true, 1.f, beta};
    gemm->run(s, x, bf(W), y, stream);
    if (adapter) adapter->after_linear(layer, kind, x, T, out, in, y, stream);
  }

  void grow(CudaGenerationState& s, int64_t need) {
    if (need <= s.capacity) return;
    const int64_t new_cap = std::max({need, 2 * s.capacity, int64_t(64)});
    const int64_t row_bytes = kv_width() * 4;
    for (size_t i = 0; i < s.k.size(); ++i) {
      s.k[i].reserve_keep(size_t(new_cap * row_bytes), size_t(s.length * row_bytes), stream);
      s.v[i].reserve_keep(size_t(new_cap * row_bytes), size_t(s.length * row_bytes), stream);
    }
    const int64_t extra = (new_cap - s.capacity) * kv_bytes_per_token();
    s.capacity = new_cap;
    s.bytes += extra;
    used->fetch_add(extra);
  }

  int64_t growth_bytes(const CudaGenerationState& s, int64_t need) const {
    if (need <= s.capacity) return 0;
    const int64_t new_cap = std::max({need, 2 * s.capacity, int64_t(64)});
    return (new_cap - s.capacity) * kv_bytes_per_token();
  }
};

}  // namespace lfm2::cuda
