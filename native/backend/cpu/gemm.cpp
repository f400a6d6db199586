#include "backend/cpu/gemm.h"

#include "core/bf16.h"
#include "core/threadpool.h"

// Portable implementations. SIMD versions (gemm_*_avx512.cpp) replace the hot cases at run time.
namespace lfm2 {
namespace {

inline float load_w(const void* B, DType t, int64_t idx) {
  return t == DType::F32 ? static_cast<const float*>(B)[idx] : bf16_to_f32(static_cast<const uint16_t*>(B)[idx]);
}

}  // namespace

void gemm_nt_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                 int64_t ldb, float* C, int64_t ldc, float beta) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(A[i * lda + k]) * double(load_w(B, btype, j * ldb + k));
      C[i * ldc + j] = float(s + (beta != 0.f ? double(beta) * C[i * ldc + j] : 0.0));
    }
}

void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta, Precision) {
  parallel_for(N, [&](int64_t j0, int64_t j1, int) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = j0; j < j1; ++j) {
        float s = 0;
        for (int64_t k = 0; k < K; ++k) s += A[i * lda + k] * load_w(B, btype, j * ldb + k);
        C[i * ldc + j] = s + (beta != 0.f ? beta * C[i * ldc + j] : 0.f);
      }
  });
}

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta) {
  parallel_for(M, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      float* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = beta != 0.f ? beta * c[j] : 0.f;
      for (int64_t k = 0; k < K; ++k) {
        float a = A[i * lda + k];
        for (int64_t j = 0; j < N; ++j) c[j] += a * load_w(B, btype, k * ldb + j);
      }
    }
  });
}

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta) {
  parallel_for(M, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      float* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = beta != 0.f ? beta * c[j] : 0.f;
      for (int64_t k = 0; k < K; ++k) {
        float a = A[k * lda + i];
        const float* b = B + k * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      }
    }
  });
}

}  // namespace lfm2
