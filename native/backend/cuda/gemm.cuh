#pragma once
// Matrix products with BF16 inputs and FP32 accumulation/output (docs/performance.md §4), row-major everywhere:
//   C[M, N] = beta·C + alpha · op(A) · op(B),   op(A): [M, K], op(B): [K, N]
//   A stored [M, K] (trans_a = false) or [K, M] (true); B stored [K, N] (false) or [N, K] (true).
// A linear y = x·Wᵀ is (A = x, B = W, trans_b = true); its input gradient dx = dy·W is (dy, W, false, false) and
// its weight gradient dW += dyᵀ·x is (dy, x, trans_a = true, false, beta = 1).
// cuBLASLt does the work when it can be loaded (cublaslt_loader.cuh); otherwise a tiled kernel computes the same
// product (same FP32 accumulation of exact BF16 products, different summation order).
#include <cstdint>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/cublaslt_loader.cuh"
#include "backend/cuda/memory.cuh"

namespace lfm2::cuda {

struct GemmShape {
  int64_t M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 0.f;
};

// One cuBLASLt handle + workspace, used on one device from one thread at a time (the engine owns one).
class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void run(const GemmShape& s, const __nv_bfloat16* A, const __nv_bfloat16* B, float* C, cudaStream_t stream);
  // Forces the fallback kernel (tests compare both paths).
  void set_force_fallback(bool v) { force_fallback_ = v; }
  bool uses_cublaslt() const { return lt_ != nullptr && !force_fallback_; }
  const std::string& cublaslt_status() const { return lt_why_; }

 private:
  const lt::Api* lt_ = nullptr;
  std::string lt_why_;
  lt::Handle handle_ = nullptr;
  DeviceBuffer workspace_;
  bool force_fallback_ = false;
};

// The fallback kernel alone (also the reference the tests compare cuBLASLt against).
void gemm_bf16_tiled(const GemmShape& s, const __nv_bfloat16* A, const __nv_bfloat16* B, float* C,
                     cudaStream_t stream);

}  // namespace lfm2::cuda
