#include "backend/cuda/gemm.cuh"

#include <utility>

namespace lfm2::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLASLt's recommendation for Hopper split-K/stream-K
constexpr int kTile = 16;

// One 16×16 output tile per block; A and B tiles staged in shared memory, FP32 accumulation.
__global__ void gemm_tiled_kernel(GemmShape s, const __nv_bfloat16* __restrict__ A,
                                  const __nv_bfloat16* __restrict__ B, float* __restrict__ C) {
  __shared__ float As[kTile][kTile + 1];
  __shared__ float Bs[kTile][kTile + 1];
  const int64_t row = int64_t(blockIdx.y) * kTile + threadIdx.y;  // in [0, M)
  const int64_t col = int64_t(blockIdx.x) * kTile + threadIdx.x;  // in [0, N)
  float acc = 0.f;
  for (int64_t k0 = 0; k0 < s.K; k0 += kTile) {
    const int64_t ka = k0 + threadIdx.x;  // A tile: rows of this block, k along x
    float a = 0.f;
    if (row < s.M && ka < s.K) a = __bfloat162float(s.trans_a ? A[ka * s.M + row] : A[row * s.K + ka]);
    As[threadIdx.y][threadIdx.x] = a;
    const int64_t kb = k0 + threadIdx.y;  // B tile: k along y, columns of this block
    float b = 0.f;
    if (col < s.N && kb < s.K) b = __bfloat162float(s.trans_b ? B[col * s.K + kb] : B[kb * s.N + col]);
    Bs[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTile; ++k) acc = fmaf(As[threadIdx.y][k], Bs[k][threadIdx.x], acc);
    __syncthreads();
  }
  if (row < s.M && col < s.N) {
    float* c = C + row * s.N + col;
    *c = s.beta == 0.f ? s.alpha * acc : s.beta * *c + s.alpha * acc;  // beta = 0 never reads C (may be garbage)
  }
}

void check_shape(const GemmShape& s) {
  LFM2_CHECK(s.M >= 0 && s.N >= 0 && s.K >= 0, "gemm: negative shape M=", s.M, " N=", s.N, " K=", s.K);
  LFM2_CHECK(s.M < (int64_t(1) << 31) && s.N < (int64_t(1) << 31) && s.K < (int64_t(1) << 31),
             "gemm: dimension over 2^31");
}

}  // namespace

void gemm_bf16_tiled(const GemmShape& s, const __nv_bfloat16* A, const __nv_bfloat16* B, float* C,
                     cudaStream_t stream) {
  check_shape(s);
  if (s.M == 0 || s.N == 0) return;
  dim3 block(kTile, kTile);
  dim3 grid(blocks_for(s.N, kTile), blocks_for(s.M, kTile));
  LFM2_CHECK(grid.y <= 65535, "gemm fallback: M=", s.M, " too large for the grid");
  LFM2_LAUNCH(gemm_tiled_kernel, grid, block, 0, stream, s, A, B, C);
}

Gemm::Gemm() {
  lt_ = lt::api(&lt_why_);
  if (lt_) {
    CUBLAS_CHECK(lt_->create(&handle_));
    workspace_.resize(kWorkspaceBytes);
  }
}

Gemm::~Gemm() {
  if (lt_ && handle_) lt_->destroy(handle_);
}

void Gemm::run(const GemmShape& s, const __nv_bfloat16* A, const __nv_bfloat16* B, float* C, cudaStream_t stream) {
  check_shape(s);
  if (s.M == 0 || s.N == 0) return;
  if (s.K == 0) {  // empty sum: C = beta·C
    LFM2_CHECK(s.beta == 0.f || s.beta == 1.f, "gemm: K = 0 supports beta 0 or 1 only");
    if (s.beta == 0.f) CUDA_CHECK(cudaMemsetAsync(C, 0, size_t(s.M * s.N) * sizeof(float), stream));
    return;
  }
  if (!uses_cublaslt()) return gemm_bf16_tiled(s, A, B, C, stream);

  // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: hand cuBLASLt B as its first operand and A as
  // its second (m = N, n = M). A row-major [r, c] array is a column-major [c, r] matrix with ld = c; the layouts
  // below describe the stored arrays, the TRANS attributes say whether cuBLASLt must transpose them.
  const int op_a = s.trans_b ? lt::kOpT : lt::kOpN;  // column-major first operand = B
  const int op_b = s.trans_a ? lt::kOpT : lt::kOpN;  // column-major second operand = A
  lt::MatmulDesc desc = nullptr;
  lt::MatrixLayout la = nullptr, lb = nullptr, lc = nullptr;
  lt::Preference pref = nullptr;
  auto cleanup = [&] {  // idempotent: every handle is nulled once destroyed
    if (pref) lt_->pref_destroy(std::exchange(pref, nullptr));
    if (lc) lt_->layout_destroy(std::exchange(lc, nullptr));
    if (lb) lt_->layout_destroy(std::exchange(lb, nullptr));
    if (la) lt_->layout_destroy(std::exchange(la, nullptr));
    if (desc) lt_->desc_destroy(std::exchange(desc, nullptr));
  };
  try {
    CUBLAS_CHECK(lt_->desc_create(&desc, lt::kComputeF32, CUDA_R_32F));
    CUBLAS_CHECK(lt_->desc_set(desc, lt::kDescTransA, &op_a, sizeof(op_a)));
    CUBLAS_CHECK(lt_->desc_set(desc, lt::kDescTransB, &op_b, sizeof(op_b)));
    if (s.trans_b) CUBLAS_CHECK(lt_->layout_create(&la, CUDA_R_16BF, s.K, s.N, s.K));  // B stored [N, K]
    else CUBLAS_CHECK(lt_->layout_create(&la, CUDA_R_16BF, s.N, s.K, s.N));            // B stored [K, N]
    if (s.trans_a) CUBLAS_CHECK(lt_->layout_create(&lb, CUDA_R_16BF, s.M, s.K, s.M));  // A stored [K, M]
    else CUBLAS_CHECK(lt_->layout_create(&lb, CUDA_R_16BF, s.K, s.M, s.K));            // A stored [M, K]
    CUBLAS_CHECK(lt_->layout_create(&lc, CUDA_R_32F, s.N, s.M, s.N));
    CUBLAS_CHECK(lt_->pref_create(&pref));
    const uint64_t ws = workspace_.bytes();
    CUBLAS_CHECK(lt_->pref_set(pref, lt::kPrefMaxWorkspaceBytes, &ws, sizeof(ws)));
    lt::HeuristicResult heur{};
    int found = 0;
    CUBLAS_CHECK(lt_->heuristic(handle_, desc, la, lb, lc, lc, pref, 1, &heur, &found));
    if (found == 0) {  // e.g. an odd leading dimension no algorithm accepts: the tiled kernel handles any shape
      cleanup();
      return gemm_bf16_tiled(s, A, B, C, stream);
    }
    CUBLAS_CHECK(lt_->matmul(handle_, desc, &s.alpha, B, la, A, lb, &s.beta, C, lc, C, lc, &heur.algo,
                             workspace_.get(), workspace_.bytes(), stream));
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
}

}  // namespace lfm2::cuda
