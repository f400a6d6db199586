#pragma once
// Internal entry points of the SIMD GEMM kernels (gemm_<isa>.cpp). Arguments are already validated by gemm.cpp;
// each function may only be called when cpu_features() reports its instruction set.
#include <time.h>

#include <cstdint>

#include "backend/cpu/gemm.h"

namespace lfm2::gemm_kernels {

// gemm_nt with at most this many rows of A runs the dot-product kernel on the weights in place (decode / GEMV
// regime) instead of packing them: below ~100 rows, transposing and upcasting [N, K] bf16 weights into panels
// costs more than it saves (measured on Zen 3 with LFM2 shapes: M = 16..64 at 61-76 GFLOP/s/core in place vs
// 35-68 packed; the packed kernel wins from M ~ 100 and reaches ~85 at M = 512).
constexpr int64_t kGemvMaxRows = 64;

// Small-M gemm_nt (M <= kGemvMaxRows, K > 0) over the parts of a gemm_nt_multi call, in one parallel region.
void nt_small_avx2(int64_t M, int64_t K, const float* A, int64_t lda, DType btype, const GemmNtPart* parts,
                   int n_parts);
void nt_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta);
void nn_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
             float* C, int64_t ldc, float beta);
void tn_avx2(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
             int64_t ldc, float beta);

// fast: use the vdpbf16ps kernels (caller checks has_avx512_bf16()): for large M (and for every gemm_nn / gemm_tn)
// they round A and B to bf16, for small-M gemm_nt with BF16 weights nt_small_bf16_avx512 rounds A; small-M gemm_nt
// with F32 weights stays exact.
void nt_small_avx512(int64_t M, int64_t K, const float* A, int64_t lda, DType btype, const GemmNtPart* parts,
                     int n_parts, bool fast);
void nt_small_bf16_avx512(int64_t M, int64_t K, const float* A, int64_t lda, const GemmNtPart* parts, int n_parts);
void nt_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
               float* C, int64_t ldc, float beta, bool fast);
void nn_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
               float* C, int64_t ldc, float beta, bool fast);
void tn_avx512(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
               int64_t ldc, float beta, bool fast);

// AMX (caller checks has_amx_bf16()), fast precision only, FP32 accumulation in tiles. Small-M gemm_nt on BF16
// weights (gemm_small_amx_avx512.cpp, rounds A) from kAmxMinRows rows on: below, the vdpbf16ps kernel streams the
// weights faster (on a Sapphire Rapids-class core 49 against 31 GB/s at M = 1, equal at M = 4, 1.6x the other way at
// M = 8). The packed products (gemm_amx_avx512.cpp) round both operands to bf16.
constexpr int64_t kAmxMinRows = 5;
void nt_small_bf16_amx(int64_t M, int64_t K, const float* A, int64_t lda, const GemmNtPart* parts, int n_parts);
void nt_amx(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
            float* C, int64_t ldc, float beta);
void nn_amx(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const void* B, DType btype, int64_t ldb,
            float* C, int64_t ldc, float beta);
void tn_amx(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
            int64_t ldc, float beta);

// CPU time of the calling thread. The probes time themselves with it so that other processes sharing the cores
// lower the wall-clock rate but not the measured per-core peak.
inline double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Peak-rate probes for the benchmark (gemm_peak_<isa>.cpp): FLOP per second of CPU time of a dependency-free FMA
// stream on the calling thread, run for about `seconds` of CPU time.
double fma_peak_avx2(double seconds);
// Streams `bytes` (a multiple of 32) from `buf` with 256-bit loads; returns a checksum so the reads stay live.
uint64_t read_stream_avx2(const void* buf, int64_t bytes);
double fma_peak_avx512(double seconds);        // zmm FMA stream
double dot_bf16_peak_avx512(double seconds);   // vdpbf16ps stream, counted as 4 FLOP per FP32 lane
double amx_bf16_peak(double seconds);          // TDPBF16PS stream (gemm_peak_amx_avx512.cpp)

}  // namespace lfm2::gemm_kernels
