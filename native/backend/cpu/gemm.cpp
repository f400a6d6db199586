#include "backend/cpu/gemm.h"

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_kernels.h"
#include "core/bf16.h"
#include "core/error.h"
#include "core/threadpool.h"

// Argument checks, implementation dispatch and the portable C++ kernels. The SIMD kernels
// (gemm_<isa>.cpp) replace the portable ones at run time when the CPU supports them.
namespace lfm2 {
namespace {

inline float load_w(const void* B, DType t, int64_t idx) {
  return t == DType::F32 ? static_cast<const float*>(B)[idx] : bf16_to_f32(static_cast<const uint16_t*>(B)[idx]);
}

void check_common(const char* op, int64_t M, int64_t N, int64_t K, const void* A, const void* B, const float* C,
                  int64_t ldc) {
  LFM2_CHECK(M >= 0 && N >= 0 && K >= 0, op, ": negative size M=", M, " N=", N, " K=", K);
  LFM2_CHECK(M == 0 || N == 0 || C, op, ": C is null");
  LFM2_CHECK(M == 0 || N == 0 || K == 0 || (A && B), op, ": A or B is null");
  LFM2_CHECK(M == 0 || ldc >= N, op, ": ldc=", ldc, " < N=", N);
}

void check_dtype(const char* op, DType t) {
  LFM2_CHECK(t == DType::F32 || t == DType::BF16, op, ": unknown B dtype ", int(t));
}

void check_precision(const char* op, Precision p) {
  LFM2_CHECK(p == Precision::Exact || p == Precision::Fast, op, ": unknown precision ", int(p));
}

// Whether the AVX-512 kernels run their vdpbf16ps path: fast precision on a CPU that has it (else fast is exact).
bool bf16_dot(Precision p) { return p == Precision::Fast && cpu_features().has_avx512_bf16(); }

void nt_portable(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                 int64_t ldb, float* C, int64_t ldc, float beta) {
  parallel_for(N, [&](int64_t j0, int64_t j1, int) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = j0; j < j1; ++j) {
        float s = 0;
        for (int64_t k = 0; k < K; ++k) s += A[i * lda + k] * load_w(B, btype, j * ldb + k);
        C[i * ldc + j] = s + (beta != 0.f ? beta * C[i * ldc + j] : 0.f);
      }
  });
}

void nn_portable(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                 int64_t ldb, float* C, int64_t ldc, float beta) {
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

void tn_portable(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
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

GemmImpl checked_impl(GemmImpl impl) {
  GemmImpl r = gemm_resolve_impl(impl);
  LFM2_CHECK(gemm_impl_supported(r), "gemm: implementation '", gemm_impl_name(r), "' is not supported by this CPU");
  return r;
}

}  // namespace

const char* gemm_impl_name(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::Auto: return "auto";
    case GemmImpl::Portable: return "portable";
    case GemmImpl::Avx2: return "avx2";
    case GemmImpl::Avx512: return "avx512";
    case GemmImpl::Amx: return "amx";
  }
  return "unknown";
}

bool gemm_impl_supported(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::Auto:
    case GemmImpl::Portable: return true;
    case GemmImpl::Avx2: return cpu_features().has_avx2_fma();
    case GemmImpl::Avx512: return cpu_features().has_avx512();
    case GemmImpl::Amx: return cpu_features().has_amx_bf16();
  }
  return false;
}

GemmImpl gemm_resolve_impl(GemmImpl impl) {
  if (impl != GemmImpl::Auto) return impl;
  if (gemm_impl_supported(GemmImpl::Amx)) return GemmImpl::Amx;
  if (gemm_impl_supported(GemmImpl::Avx512)) return GemmImpl::Avx512;
  if (gemm_impl_supported(GemmImpl::Avx2)) return GemmImpl::Avx2;
  return GemmImpl::Portable;
}

std::vector<GemmImpl> gemm_supported_impls() {
  std::vector<GemmImpl> out;
  for (GemmImpl i : {GemmImpl::Portable, GemmImpl::Avx2, GemmImpl::Avx512, GemmImpl::Amx})
    if (gemm_impl_supported(i)) out.push_back(i);
  return out;
}

void gemm_nt_with(GemmImpl impl, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B,
                  DType btype, int64_t ldb, float* C, int64_t ldc, float beta, Precision prec) {
  check_common("gemm_nt", M, N, K, A, B, C, ldc);
  check_dtype("gemm_nt", btype);
  check_precision("gemm_nt", prec);
  LFM2_CHECK(M == 0 || lda >= K, "gemm_nt: lda=", lda, " < K=", K);
  LFM2_CHECK(N == 0 || ldb >= K, "gemm_nt: ldb=", ldb, " < K=", K);
  switch (checked_impl(impl)) {
    case GemmImpl::Amx:
      if (bf16_dot(prec) && M > gemm_kernels::kGemvMaxRows && K > 0)
        return gemm_kernels::nt_amx(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
      if (bf16_dot(prec) && btype == DType::BF16 && M >= gemm_kernels::kAmxMinRows && N > 0 && K > 0) {
        const GemmNtPart part{B, N, ldb, C, ldc, beta};
        return gemm_kernels::nt_small_bf16_amx(M, K, A, lda, &part, 1);
      }
      [[fallthrough]];
    case GemmImpl::Avx512:
      return gemm_kernels::nt_avx512(M, N, K, A, lda, B, btype, ldb, C, ldc, beta, bf16_dot(prec));
    case GemmImpl::Avx2: return gemm_kernels::nt_avx2(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
    default: return nt_portable(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
  }
}

void gemm_nt_multi_with(GemmImpl impl, int64_t M, int64_t K, const float* A, int64_t lda, DType btype,
                        const GemmNtPart* parts, int n_parts, Precision prec) {
  LFM2_CHECK(n_parts >= 0 && n_parts <= kGemmMaxParts, "gemm_nt_multi: ", n_parts, " parts (at most ",
             kGemmMaxParts, ")");
  LFM2_CHECK(n_parts == 0 || parts, "gemm_nt_multi: parts is null");
  check_dtype("gemm_nt_multi", btype);
  check_precision("gemm_nt_multi", prec);
  for (int p = 0; p < n_parts; ++p) {
    const GemmNtPart& q = parts[p];
    check_common("gemm_nt_multi", M, q.N, K, A, q.B, q.C, q.ldc);
    LFM2_CHECK(M == 0 || lda >= K, "gemm_nt_multi: lda=", lda, " < K=", K);
    LFM2_CHECK(q.N == 0 || q.ldb >= K, "gemm_nt_multi: part ", p, " ldb=", q.ldb, " < K=", K);
  }
  const GemmImpl r = checked_impl(impl);
  if (M > 0 && K > 0 && M <= gemm_kernels::kGemvMaxRows) {
    switch (r) {
      case GemmImpl::Amx:
        if (bf16_dot(prec) && btype == DType::BF16 && M >= gemm_kernels::kAmxMinRows)
          return gemm_kernels::nt_small_bf16_amx(M, K, A, lda, parts, n_parts);
        [[fallthrough]];
      case GemmImpl::Avx512:
        return gemm_kernels::nt_small_avx512(M, K, A, lda, btype, parts, n_parts, bf16_dot(prec));
      case GemmImpl::Avx2: return gemm_kernels::nt_small_avx2(M, K, A, lda, btype, parts, n_parts);
      default: break;
    }
  }
  for (int p = 0; p < n_parts; ++p)
    gemm_nt_with(r, M, parts[p].N, K, A, lda, parts[p].B, btype, parts[p].ldb, parts[p].C, parts[p].ldc,
                 parts[p].beta, prec);
}

void gemm_nn_with(GemmImpl impl, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B,
                  DType btype, int64_t ldb, float* C, int64_t ldc, float beta, Precision prec) {
  check_common("gemm_nn", M, N, K, A, B, C, ldc);
  check_dtype("gemm_nn", btype);
  check_precision("gemm_nn", prec);
  LFM2_CHECK(M == 0 || lda >= K, "gemm_nn: lda=", lda, " < K=", K);
  LFM2_CHECK(K == 0 || ldb >= N, "gemm_nn: ldb=", ldb, " < N=", N);
  switch (checked_impl(impl)) {
    case GemmImpl::Amx:
      if (bf16_dot(prec)) return gemm_kernels::nn_amx(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
      [[fallthrough]];
    case GemmImpl::Avx512:
      return gemm_kernels::nn_avx512(M, N, K, A, lda, B, btype, ldb, C, ldc, beta, bf16_dot(prec));
    case GemmImpl::Avx2: return gemm_kernels::nn_avx2(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
    default: return nn_portable(M, N, K, A, lda, B, btype, ldb, C, ldc, beta);
  }
}

void gemm_tn_with(GemmImpl impl, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                  int64_t ldb, float* C, int64_t ldc, float beta, Precision prec) {
  check_common("gemm_tn", M, N, K, A, B, C, ldc);
  check_precision("gemm_tn", prec);
  LFM2_CHECK(K == 0 || lda >= M, "gemm_tn: lda=", lda, " < M=", M);
  LFM2_CHECK(K == 0 || ldb >= N, "gemm_tn: ldb=", ldb, " < N=", N);
  switch (checked_impl(impl)) {
    case GemmImpl::Amx:
      if (bf16_dot(prec)) return gemm_kernels::tn_amx(M, N, K, A, lda, B, ldb, C, ldc, beta);
      [[fallthrough]];
    case GemmImpl::Avx512:
      return gemm_kernels::tn_avx512(M, N, K, A, lda, B, ldb, C, ldc, beta, bf16_dot(prec));
    case GemmImpl::Avx2: return gemm_kernels::tn_avx2(M, N, K, A, lda, B, ldb, C, ldc, beta);
    default: return tn_portable(M, N, K, A, lda, B, ldb, C, ldc, beta);
  }
}

void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta, Precision prec) {
  gemm_nt_with(GemmImpl::Auto, M, N, K, A, lda, B, btype, ldb, C, ldc, beta, prec);
}

void gemm_nt_multi(int64_t M, int64_t K, const float* A, int64_t lda, DType btype, const GemmNtPart* parts,
                   int n_parts, Precision prec) {
  gemm_nt_multi_with(GemmImpl::Auto, M, K, A, lda, btype, parts, n_parts, prec);
}

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta, Precision prec) {
  gemm_nn_with(GemmImpl::Auto, M, N, K, A, lda, B, btype, ldb, C, ldc, beta, prec);
}

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta, Precision prec) {
  gemm_tn_with(GemmImpl::Auto, M, N, K, A, lda, B, ldb, C, ldc, beta, prec);
}

void gemm_nt_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                 int64_t ldb, float* C, int64_t ldc, float beta) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(A[i * lda + k]) * double(load_w(B, btype, j * ldb + k));
      C[i * ldc + j] = float(s + (beta != 0.f ? double(beta) * C[i * ldc + j] : 0.0));
    }
}

}  // namespace lfm2
