#pragma once
// The op table: every op LFM2's forward, backward and optimizer are built from, at op level, on HOST arrays, for one
// backend. The CPU backend (backend/cpu/cpu_ops.cpp) runs its kernels on the arrays; the CUDA backend
// (backend/cuda/cuda_ops.cu) uploads them, runs the kernel the GPU engine runs and downloads the results. One N-API
// binding (binding/ops.cpp) runs any op on either backend, and one test suite (test/ops.test.ts) checks every op on every
// backend against one float64 reference. The engines call their kernels directly; this table is for tests and
// benchmarks.
//
// Conventions: row-major arrays; outputs are supplied by the caller; "(+=)" marks outputs that are accumulated into,
// every other output is overwritten. `impl` picks one build of a kernel (`impls(op)` lists them; "auto" is the one
// the engine runs). Sequences of a packed batch are given by cu_seqlens [nseq + 1] (offsets, last = T).
// Bad arguments throw lfm2::Error; nothing aborts.
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"  // DType, Precision, GemmNtPart
#include "model/adamw.h"
#include "model/grpo_loss.h"

namespace lfm2 {

enum class Op : int {
  GemmNN, GemmNT, GemmTN, GemmTT, GemmMulti,
  RmsNorm, RmsNormBackward, RmsNormHeadsBackward,
  Rope, RopeBackward,
  Attention, AttentionPacked, AttentionBackward,
  ShortConv, ShortConvPacked, ShortConvBackward,
  SwiGlu, SwiGluBackward,
  Embedding, EmbeddingBackward,
  GrpoLoss, AdamW,
  LoraForward, LoraBackward,
  GatherRows, ScatterRows,
  RowExpStats, Sample,
  Count
};
// JS names: "gemm.nn", "gemm.nt", "gemm.tn", "gemm.tt", "gemmMulti", "rmsnorm", "rmsnormBackward", …
const char* op_name(Op op);
bool op_from_name(const std::string& name, Op* out);

// C [M, N] = beta·C + alpha·op(A)·op(B). A is stored [M, K] (or [K, M] for the gemm.t* ops), B [K, N] (or [N, K]
// for gemm.?t); lda, ldb, ldc are row strides. beta = 0 never reads C.
struct GemmCall {
  int64_t M = 0, N = 0, K = 0;
  const void* A = nullptr;
  DType a_type = DType::F32;
  int64_t lda = 0;
  const void* B = nullptr;
  DType b_type = DType::F32;
  int64_t ldb = 0;
  float* C = nullptr;
  int64_t ldc = 0;
  float alpha = 1.f, beta = 0.f;
  Precision precision = Precision::Exact;
};

// Per-row sampling parameters of Op::Sample; uniform in [0, 1) draws the token.
struct SampleParams {
  float temperature = 1.f, top_p = 1.f, min_p = 0.f, repetition_penalty = 1.f;
  int32_t top_k = 0;
};
struct SampleResult {
  std::vector<int32_t> token;
  std::vector<float> logq, logp;
};

class BackendOps {
 public:
  virtual ~BackendOps() = default;
  virtual const char* name() const = 0;
  // Whether this backend has `op` for these element types: a = the first typed input (gemm: A; embedding: the table;
  // grpoLoss: the head), b = the second (gemm: B). Everything else is FP32.
  virtual bool supports(Op op, DType a = DType::F32, DType b = DType::F32) const = 0;
  // The builds of `op` this machine can run, each of which tests force; "auto" is always accepted as well.
  virtual std::vector<std::string> impls(Op op) const = 0;

  // ---- linear algebra
  virtual void gemm(Op layout, const GemmCall& c, const std::string& impl) = 0;
  // One A [M, K] against several B_i [N_i, K] (gemm.nt per part, one pass over A).
  virtual void gemm_multi(int64_t M, int64_t K, const float* A, int64_t lda, DType b_type,
                          const std::vector<GemmNtPart>& parts, Precision precision, const std::string& impl) = 0;

  // ---- norms and rotary embedding
  // x, y [rows, n]; w [n]; rstd [rows] (nullable): 1/sqrt(mean(x²) + eps).
  virtual void rmsnorm(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t n, float eps) = 0;
  // dx [rows, n] (may alias dy); dw [n] (+=).
  virtual void rmsnorm_backward(int64_t rows, int64_t n, const float* x, const float* w, const float* dy, float eps,
                                float* dx, float* dw) = 0;
  // Per-head q/k norm: x, dy, dx [T, H, D]; one weight w, dw (+=) [D] shared by every head.
  virtual void rmsnorm_heads_backward(int64_t T, int64_t H, int64_t D, const float* x, const float* w,
                                      const float* dy, float eps, float* dx, float* dw) = 0;
  // In place, x [T, H, D], pos [T]: NeoX half-split rotation by pos·theta^(−2i/D).
  virtual void rope(float* x, const int32_t* pos, int64_t T, int64_t H, int64_t D, double theta) = 0;
  // dy, dx [T, H, D] (dx may alias dy): the rotation by −angle.
  virtual void rope_backward(int64_t T, int64_t H, int64_t D, const int32_t* pos, double theta, const float* dy,
                             float* dx) = 0;

  // ---- attention (causal GQA, scale 1/√D)
  // Over a cached prefix: sequence s brings n_q[s] query rows (packed in q, out [Σn_q, H·D], lse [Σn_q, H]) and
  // n_kv[s] ≥ n_q[s] key/value rows (packed in k, v [Σn_kv, KVH·D]); its query i sits at position n_kv − n_q + i.
  virtual void attention(const float* q, const float* k, const float* v, float* out, float* lse,
                         const std::vector<int64_t>& n_q, const std::vector<int64_t>& n_kv, int64_t H, int64_t KVH,
                         int64_t D, const std::string& impl) = 0;
  // Fresh packed sequences (training forward): q, o [T, H, D]; k, v [T, KVH, D]; lse [T, H].
  virtual void attention_packed(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::vector<int32_t>& cu,
                                const float* q, const float* k, const float* v, float* o, float* lse,
                                const std::string& impl) = 0;
  // Backward of attention_packed: o and lse from the forward, or both nullptr (recomputed); dq, dk, dv written.
  virtual void attention_backward(int64_t T, int64_t H, int64_t KVH, int64_t D, const std::vector<int32_t>& cu,
                                  const float* q, const float* k, const float* v, const float* o, const float* lse,
                                  const float* dout, float* dq, float* dk, float* dv, const std::string& impl) = 0;

  // ---- gated short convolution: z = [B | C | X] [T, 3C], kernel [C, 3], y [T, C]
  // With carried shift registers: states [nseq, 2, C] in/out (nullptr: every sequence fresh, nothing kept).
  virtual void shortconv(const float* z, const float* kernel, float* y, const std::vector<int64_t>& lengths,
                         float* states, int64_t C) = 0;
  // Fresh packed sequences (training forward).
  virtual void shortconv_packed(int64_t C, const std::vector<int32_t>& cu, const float* z, const float* kernel,
                                float* y) = 0;
  // dz [T, 3C] written; dkernel [C, 3] (+=).
  virtual void shortconv_backward(int64_t C, const std::vector<int32_t>& cu, const float* z, const float* kernel,
                                  const float* dy, float* dz, float* dkernel) = 0;

  // ---- SwiGLU: out = silu(a) ⊙ b
  virtual void swiglu(const float* a, const float* b, float* out, int64_t n, const std::string& impl) = 0;
  // a, b, dh, da, db [rows, F]; da/db may alias a/b.
  virtual void swiglu_backward(int64_t rows, int64_t F, const float* a, const float* b, const float* dh, float* da,
                               float* db, const std::string& impl) = 0;

  // ---- embedding: table [V, C] in `type`, ids [T] in [0, V)
  virtual void embedding(const int32_t* ids, int64_t T, const void* table, DType type, int64_t V, int64_t C,
                         float* out) = 0;
  // dE [V, C] (+=) at ids[t], except ids equal to padding_idx (< 0: none).
  virtual void embedding_backward(int64_t T, int64_t V, int64_t C, const int32_t* ids, const float* dx, float* dE,
                                  int64_t padding_idx) = 0;

  // ---- loss and optimizer
  // The fused GRPO loss (model/grpo_loss.h): LM head, log-softmax, loss and gradients in one pass.
  virtual GrpoLossStats grpo_loss(const GrpoLossInputs& in, const GrpoLossOptions& opt, const GrpoLossOutputs& out,
                                  const std::string& impl) = 0;
  // One AdamW step over all tensors with global-norm clipping (model/adamw.h).
  virtual AdamWResult adamw(const std::vector<AdamWTensor>& tensors, const AdamWConfig& cfg, int64_t step,
                            const std::string& impl) = 0;

  // ---- LoRA products of one adapted linear: x [N, in], A [r, in], B [out, r]
  // xa [N, r] (nullable) = x·Aᵀ; y [N, out] (+=) s·xa·Bᵀ.
  virtual void lora_forward(int64_t N, int64_t in, int64_t out, int64_t r, float s, const float* x, const float* A,
                            const float* B, float* xa, float* y) = 0;
  // dy [N, out]; dA [r, in], dB [out, r], dx [N, in] (all +=; dx nullable).
  virtual void lora_backward(int64_t N, int64_t in, int64_t out, int64_t r, float s, const float* dy, const float* x,
                             const float* A, const float* B, float* dA, float* dB, float* dx) = 0;

  // ---- row moves between the packed [T, C] stream and the scored rows
  // dst [R, C] = src[rows[i]] (src [src_rows, C]).
  virtual void gather_rows(const float* src, int64_t src_rows, const int32_t* rows, int64_t R, int64_t C,
                           float* dst) = 0;
  // dst [dst_rows, C]: dst[rows[i]] = src[i] for distinct rows; other rows untouched.
  virtual void scatter_rows(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst,
                            int64_t dst_rows) = 0;

  // ---- vocabulary softmax row of the loss: z [V] ← exp(z − shift); *sum = Σ exp(z − shift), *sum_ez = Σ exp·z.
  virtual void row_exp_stats(float* z, int64_t V, float shift, double* sum, double* sum_ez,
                             const std::string& impl) = 0;

  // ---- sampling: one token per row of logits [R, V] (seen ids get the repetition penalty; allowed[r] restricts
  // the choice unless all_allowed[r]).
  virtual SampleResult sample(const float* logits, int64_t R, int64_t V, const std::vector<SampleParams>& params,
                              const std::vector<float>& uniform, const std::vector<std::vector<int32_t>>& seen,
                              const std::vector<std::vector<int32_t>>& allowed,
                              const std::vector<bool>& all_allowed) = 0;
};

// The row list of gather_rows (every row in [0, limit)) or, with `distinct`, of scatter_rows (each row once too):
// both backends check it the same way before moving anything.
void check_row_list(const char* op, const int32_t* rows, int64_t R, int64_t limit, bool distinct);

BackendOps& cpu_backend_ops();
// The CUDA backend; only linked into builds with LFM2_WITH_CUDA (the real GPU or the emulator).
BackendOps& cuda_backend_ops();

}  // namespace lfm2
