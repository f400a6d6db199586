#pragma once
// Dense matrix products for the CPU backend. All matrices are row-major; activations are FP32, weights FP32
// or BF16. Accumulation is always FP32.
//
//   gemm_nt: C[M,N] = beta*C + A[M,K] · B[N,K]ᵀ     forward linear  Y = X·Wᵀ   (W stored [out, in])
//   gemm_nn: C[M,N] = beta*C + A[M,K] · B[K,N]      backward input  dX = dY·W  (W stored [out=K, in=N])
//   gemm_tn: C[M,N] = beta*C + A[K,M]ᵀ · B[K,N]     weight gradient dW = dYᵀ·X (both FP32)
//
// Precision::Exact keeps activations in FP32 (BF16 weights are upcast exactly). Precision::Fast may round
// activations to BF16 to use the AVX512_BF16 dot-product instructions (FP32 accumulation); it is only
// used where a caller asks for it.
#include <cstdint>

namespace lfm2 {

enum class DType : int { F32 = 0, BF16 = 1 };
enum class Precision : int { Exact = 0, Fast = 1 };

void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta, Precision prec = Precision::Exact);

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta);

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta);

// Scalar reference versions (double accumulation) used by the native self-tests.
void gemm_nt_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                 int64_t ldb, float* C, int64_t ldc, float beta);

}  // namespace lfm2
