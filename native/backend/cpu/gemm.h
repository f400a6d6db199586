#pragma once
// Dense matrix products for the CPU backend. All matrices are row-major; activations are FP32, weights FP32
// or BF16. Accumulation is always FP32.
//
//   gemm_nt: C[M,N] = beta*C + A[M,K] · B[N,K]ᵀ     forward linear  Y = X·Wᵀ   (W stored [out, in])
//   gemm_nn: C[M,N] = beta*C + A[M,K] · B[K,N]      backward input  dX = dY·W  (W stored [out=K, in=N])
//   gemm_tn: C[M,N] = beta*C + A[K,M]ᵀ · B[K,N]     weight gradient dW = dYᵀ·X (both FP32)
//
// Precision::Exact keeps activations in FP32 (BF16 weights are upcast exactly). Precision::Fast rounds
// activations to BF16 (round to nearest even) to use the AVX512_BF16 dot-product instructions (FP32
// accumulation); it is only used where a caller asks for it. On CPUs without AVX512_BF16 the fast path is the
// exact path. With AVX512_BF16, fast gemm_nt rounds A at every M (small M: BF16 weights streamed once with
// vdpbf16ps; large M: packed BF16 panels), so results of one mode differ across M only in summation order; fast
// gemm_nn and gemm_tn (training's backward) round both operands to BF16, as mixed-precision training does.
//
// beta == 0 never reads C (it may hold garbage or NaN). K == 0 gives C = beta*C. Leading dimensions are in
// elements and must be at least the row width. All entry points run on the thread pool (parallel_for) and
// validate their arguments (lfm2::Error on bad input).
#include <cstdint>
#include <vector>

namespace lfm2 {

enum class DType : int { F32 = 0, BF16 = 1 };
enum class Precision : int { Exact = 0, Fast = 1 };

void gemm_nt(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta, Precision prec = Precision::Exact);

void gemm_nn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta, Precision prec = Precision::Exact);

void gemm_tn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta, Precision prec = Precision::Exact);

// One product of gemm_nt_multi: C[M, N] = beta*C + A·Bᵀ, B [N, K] with row stride ldb.
struct GemmNtPart {
  const void* B = nullptr;
  int64_t N = 0;
  int64_t ldb = 0;
  float* C = nullptr;
  int64_t ldc = 0;
  float beta = 0.f;
};
constexpr int kGemmMaxParts = 8;

// Several gemm_nt products sharing A [M, K] and the B dtype (q/k/v or gate/up projections of one input). Small M
// (decode) runs all of them in one parallel region, so the thread pool is woken once instead of once per product,
// and fast precision rounds A to BF16 once; large M runs them one after the other. Same results as separate
// gemm_nt calls with the same implementation. At most kGemmMaxParts parts.
void gemm_nt_multi(int64_t M, int64_t K, const float* A, int64_t lda, DType btype, const GemmNtPart* parts,
                   int n_parts, Precision prec = Precision::Exact);

// Implementation choice. Auto picks the best one the CPU supports (AMX > AVX-512 > AVX2+FMA > portable C++);
// tests and benchmarks name one explicitly to check every kernel the machine can run. Amx is the AVX-512 family
// with fast precision's packed products (gemm_nt above the small-M limit, gemm_nn, gemm_tn) on AMX tiles.
enum class GemmImpl : int { Auto = 0, Portable = 1, Avx2 = 2, Avx512 = 3, Amx = 4 };

const char* gemm_impl_name(GemmImpl impl);
bool gemm_impl_supported(GemmImpl impl);       // Auto and Portable are always supported
GemmImpl gemm_resolve_impl(GemmImpl impl);     // Auto -> the concrete implementation it runs
std::vector<GemmImpl> gemm_supported_impls();  // concrete implementations, best last

void gemm_nt_with(GemmImpl impl, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B,
                  DType btype, int64_t ldb, float* C, int64_t ldc, float beta, Precision prec);
void gemm_nn_with(GemmImpl impl, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B,
                  DType btype, int64_t ldb, float* C, int64_t ldc, float beta, Precision prec);
void gemm_nt_multi_with(GemmImpl impl, int64_t M, int64_t K, const float* A, int64_t lda, DType btype,
                        const GemmNtPart* parts, int n_parts, Precision prec);
void gemm_tn_with(GemmImpl impl, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
                  int64_t ldb, float* C, int64_t ldc, float beta, Precision prec);

// Scalar reference versions (double accumulation) used by the native self-tests.
void gemm_nt_ref(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype,
                 int64_t ldb, float* C, int64_t ldc, float beta);

}  // namespace lfm2
