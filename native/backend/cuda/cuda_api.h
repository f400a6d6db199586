#pragma once
// Plain C++ face of the CUDA backend (no CUDA types), so host code compiled without nvcc (bindings, device.cpp)
// can use it. Implemented in cuda_ops.cu; only linked when the addon is built with LFM2_WITH_CUDA.
// Every function here takes and returns HOST arrays: it uploads, runs the kernel family's launcher and downloads.
// They exist for tests and benchmarks that compare each GPU op with its CPU reference; the engine
// (cuda_model.cuh) keeps everything on the device instead.
#include <cstdint>
#include <string>
#include <vector>

#include "model/grpo_loss.h"

namespace lfm2::cuda_api {

struct DeviceStatus {
  int device_count = 0;      // 0 when there is no GPU, no driver, or the runtime failed
  std::string error;         // why device_count is 0 ("" when a device is present)
  std::string name;          // device 0
  int cc_major = 0, cc_minor = 0;
  size_t total_bytes = 0;
  bool cublaslt = false;     // libcublasLt could be loaded
  std::string cublaslt_status;
};

// Never throws: a missing driver is reported in `error`.
DeviceStatus device_status();
// Throws lfm2::Error with a clear message when no CUDA device can be used.
void require_device();

// C[M,N] = beta·C + alpha·op(A)·op(B) with BF16 A/B given as raw bits (see gemm.cuh for the layout rules).
void gemm_bf16(const uint16_t* A, const uint16_t* B, float* C, int64_t M, int64_t N, int64_t K, bool trans_a,
               bool trans_b, float alpha, float beta, bool force_fallback);

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps);
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw,
                      int64_t rows, int64_t n);
void rope(float* x, const int32_t* pos, int64_t T, int64_t n_heads, int64_t head_dim, double theta, bool backward);
void swiglu_forward(const float* a, const float* b, float* out, int64_t n);
void swiglu_backward(const float* a, const float* b, const float* dout, float* da, float* db, int64_t n);
void embedding_forward(const int32_t* ids, int64_t T, const uint16_t* table_bf16, int64_t vocab, int64_t C,
                       float* out);
void embedding_backward(const int32_t* ids, int64_t T, const float* dout, int64_t vocab, int64_t C, float* dtable);
// lengths: tokens per sequence; states: [nseq, 2, C] in/out (nullptr = all fresh).
void shortconv_forward(const float* z, const float* kernel, float* y, const std::vector<int64_t>& lengths,
                       float* states, int64_t C);
void shortconv_backward(const float* z, const float* kernel, const float* dy, float* dz, float* dkernel,
                        const std::vector<int64_t>& lengths, int64_t C);
// Sequence s has n_q[s] query rows (packed in q/out) and n_kv[s] ≥ n_q[s] key/value rows (packed in k/v);
// query i sits at position n_kv − n_q + i.
void attention_forward(const float* q, const float* k, const float* v, float* out, float* lse,
                       const std::vector<int64_t>& n_q, const std::vector<int64_t>& n_kv, int64_t H, int64_t KVH,
                       int64_t D);
// Fresh sequences only (n_q = n_kv = lengths). dk, dv are overwritten.
void attention_backward(const float* q, const float* k, const float* v, const float* out, const float* lse,
                        const float* dout, float* dq, float* dk, float* dv, const std::vector<int64_t>& lengths,
                        int64_t H, int64_t KVH, int64_t D);
// One AdamW step over one tensor with global-norm clipping; returns the gradient norm (NaN/Inf: step skipped).
double adamw_step(float* w, const float* g, float* m, float* v, uint16_t* bf16_copy, int64_t n, double lr,
                  double beta1, double beta2, double eps, double weight_decay, double max_grad_norm, int64_t step);

// Fused GRPO loss over a BF16 tied head (grpo_loss.cuh), on the CPU loss's types (head_dtype must be BF16).
// out: dhidden written, dhead accumulated, logp/entropy; each nullable. workspace_bytes stays 0.
GrpoLossStats grpo_loss(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out);

// Samples one token per row (sampling.cuh). logits: [R, V]; per row r: params, seen ids seen[r] (deduplicated
// here), allowed ids allowed[r] (empty vector + all_allowed[r] = every token), uniform u[r] in [0, 1).
struct SampleParams {
  float temperature = 1.f, top_p = 1.f, min_p = 0.f, repetition_penalty = 1.f;
  int32_t top_k = 0;
};
struct SampleResult {
  std::vector<int32_t> token;
  std::vector<float> logq, logp;
};
SampleResult sample(const float* logits, int64_t R, int64_t V, const std::vector<SampleParams>& params,
                    const std::vector<float>& uniform, const std::vector<std::vector<int32_t>>& seen,
                    const std::vector<std::vector<int32_t>>& allowed, const std::vector<bool>& all_allowed);

}  // namespace lfm2::cuda_api
