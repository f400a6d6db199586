#pragma once
// cuBLASLt, loaded with dlopen at first use.
//
// Why dlopen instead of linking: the addon must LOAD on machines with no GPU, no driver and no cuBLAS (CI, laptops).
// A DT_NEEDED entry on libcublasLt.so would make `require()` of the whole addon fail there, CPU paths included.
// The CUDA runtime is linked statically (it finds libcuda.so.1 itself at run time and reports "no driver" as an
// ordinary error), so cuBLASLt is the only dynamic dependency; resolving its dozen entry points by hand keeps it
// optional. The toolkit used to build need not ship cuBLAS either: the few types and enum values used are declared
// below with the values of cublasLt.h (stable since CUDA 11.4). When the library cannot be found, gemm.cu falls back
// to its own tiled kernel, so every op still runs (slower) and the error is never silent: available() says why.
#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime.h>
#include <library_types.h>

namespace lfm2::cuda::lt {

using Status = int;  // cublasStatus_t; 0 = success
struct Context;
using Handle = Context*;
struct MatmulDescOpaque;
using MatmulDesc = MatmulDescOpaque*;
struct MatrixLayoutOpaque;
using MatrixLayout = MatrixLayoutOpaque*;
struct PreferenceOpaque;
using Preference = PreferenceOpaque*;
struct MatmulAlgo {
  uint64_t data[8];
};
struct HeuristicResult {  // cublasLtMatmulHeuristicResult_t, 96 bytes
  MatmulAlgo algo;
  size_t workspaceSize;
  Status state;
  float wavesCount;
  int reserved[4];
};
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t layout");

constexpr int kComputeF32 = 68;             // CUBLAS_COMPUTE_32F
constexpr int kDescTransA = 3;              // CUBLASLT_MATMUL_DESC_TRANSA
constexpr int kDescTransB = 4;              // CUBLASLT_MATMUL_DESC_TRANSB
constexpr int kPrefMaxWorkspaceBytes = 1;   // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr int kOpN = 0, kOpT = 1;           // CUBLAS_OP_N, CUBLAS_OP_T

struct Api {
  Status (*create)(Handle*);
  Status (*destroy)(Handle);
  Status (*desc_create)(MatmulDesc*, int compute_type, cudaDataType_t scale_type);
  Status (*desc_destroy)(MatmulDesc);
  Status (*desc_set)(MatmulDesc, int attr, const void* buf, size_t size);
  Status (*layout_create)(MatrixLayout*, cudaDataType_t type, uint64_t rows, uint64_t cols, int64_t ld);
  Status (*layout_destroy)(MatrixLayout);
  Status (*pref_create)(Preference*);
  Status (*pref_destroy)(Preference);
  Status (*pref_set)(Preference, int attr, const void* buf, size_t size);
  Status (*heuristic)(Handle, MatmulDesc, MatrixLayout, MatrixLayout, MatrixLayout, MatrixLayout, Preference,
                      int requested, HeuristicResult* results, int* returned);
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* A, MatrixLayout, const void* B, MatrixLayout,
                   const void* beta, const void* C, MatrixLayout, void* D, MatrixLayout, const MatmulAlgo* algo,
                   void* workspace, size_t workspace_bytes, cudaStream_t stream);
};

// The resolved API, or nullptr when libcublasLt cannot be loaded (then `why` says what was tried). Thread-safe;
// the library is opened once per process. LFM2_CUBLASLT=0 in the environment disables it (fallback kernel tests).
const Api* api(std::string* why = nullptr);

}  // namespace lfm2::cuda::lt
