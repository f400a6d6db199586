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

// Device inputs of one pass over T packed rows belonging to nseq sequences (every pointer is device memory).
// The pointer table `ptrs` holds, per attention layer a: [nseq] K context bases, [nseq] V context bases, [T] K append
// targets, [T] V append targets (nullptr = row not cached); then per conv layer: [nseq] shift-register states
// (nullptr = fresh). pass_pointer_count gives its length.
struct PassInputs {
  int64_t T = 0, nseq = 0;
  const int32_t* tokens = nullptr;     // [T]
  const int32_t* positions = nullptr;  // [T]
  const int32_t* row0 = nullptr;       // [nseq + 1]
  const int32_t* pos0 = nullptr;       // [nseq] position of each sequence's first row
  const int32_t* row_seq = nullptr;    // [T]
  void* const* ptrs = nullptr;
  float* kbuf = nullptr;               // [T, KVH·D] new keys of the pass (the context of fresh sequences)
  float* vbuf = nullptr;               // [T, KVH·D]
};

// Activation scratch of one pass over T rows (PassScratch::take carves it from any allocator).
struct PassScratch {
  float* x = nullptr;               // [T, C] residual stream
  float* h = nullptr;               // [T, C] norm outputs; the final-norm hidden states after run_layers
  __nv_bfloat16* hb = nullptr;      // [T, max(C, H·D, F, 3C)] BF16 GEMM input
  float* big = nullptr;             // [T, max(3C, H·D)] conv z or q
  float* y = nullptr;               // [T, max(C, H·D)] conv out or attention out
  float* fa = nullptr;              // [T, F] gate, then silu(a)⊙b
  float* fb = nullptr;              // [T, F] up

  template <typename Take>  // Take(bytes) → void* device memory
  static PassScratch take(const Lfm2Config& c, int64_t T, Take&& take) {
    const int64_t C = c.hidden_size, HD = c.num_heads * c.head_dim, F = c.ff_dim;
    const int64_t widest = std::max({C, HD, F, 3 * C});
    auto f = [&](int64_t n) { return static_cast<float*>(take(size_t(n) * sizeof(float))); };
    PassScratch s;
    s.x = f(T * C);
    s.h = f(T * C);
    s.hb = static_cast<__nv_bfloat16*>(take(size_t(T * widest) * sizeof(__nv_bfloat16)));
    s.big = f(T * std::max(3 * C, HD));
    s.y = f(T * std::max(C, HD));
    s.fa = f(T * F);
    s.fb = f(T * F);
    return s;
  }
};

inline int64_t pass_pointer_count(const Lfm2Config& c, int64_t nseq, int64_t T) {
  const int64_t n_attn = c.num_attention_layers();
  return n_attn * (2 * nseq + 2 * T) + (c.num_layers - n_attn) * nseq;
}

// Logits of a forward left on the device: rows [R, V] in the model's arena, valid until its next call.
struct DeviceLogits {
  const float* logits = nullptr;
  std::vector<int64_t> rows;  // packed row of each logits row
};
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
  // Captured decode graphs (decode_graph.cuh) read device addresses baked in at capture. Bump this (under `mu`)
  // after anything moves memory they read other than swapping `adapter` (e.g. an adapter reallocating its
  // buffers in place of the old ones); weights and adapter values updated in place need no bump.
  uint64_t graph_epoch = 0;

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

  // Enqueues embedding → every layer → final norm for one pass on `stream` (no host sync, no allocation, so it
  // can be captured into a CUDA graph). On return s.h holds the final-norm hidden states [T, C].
  void run_layers(const PassInputs& in, const PassScratch& s);
  // logits[R, V] = head(bf16(h_rows)) with hr [R, C] BF16 scratch.
  void lm_head(const __nv_bfloat16* hr, int64_t R, float* logits);

  // The forward of CudaModel::forward without the download: validates, grows states, runs, leaves the logits of the
  // selected rows on the device (DeviceLogits) and, when `hidden` is given, downloads the hidden states into it.
  // Caller holds `mu`.
  DeviceLogits forward_device(const std::vector<CudaChunk>& chunks, LogitsMode logits, std::vector<float>* hidden);

  int64_t growth_bytes(const CudaGenerationState& s, int64_t need) const {
    if (need <= s.capacity) return 0;
    const int64_t new_cap = std::max({need, 2 * s.capacity, int64_t(64)});
    return (new_cap - s.capacity) * kv_bytes_per_token();
  }
};

}  // namespace lfm2::cuda
