#include "backend/cuda/cuda_train_ops.cuh"

#include <vector>

#include "backend/cuda/convert.cuh"
#include "backend/cuda/cuda_api.h"
#include "backend/cuda/cuda_lora.cuh"
#include "backend/cuda/cuda_train_kernels.cuh"
#include "backend/cuda/gemm.cuh"
#include "backend/cuda/memory.cuh"

namespace lfm2::cuda_train_api {
namespace {

using cuda::DeviceBuffer;

// Device copy of a host array (n elements of T).
template <typename T>
DeviceBuffer to_device(const T* host, int64_t n) {
  DeviceBuffer d(size_t(std::max<int64_t>(n, 1)) * sizeof(T));
  cuda::upload(d.get(), host, size_t(n) * sizeof(T), nullptr);
  return d;
}

// BF16 device copy of a host FP32 array (round to nearest even, as f32_to_bf16 does in the engine).
DeviceBuffer to_device_bf16(const float* host, int64_t n) {
  DeviceBuffer f = to_device(host, n);
  DeviceBuffer b(size_t(std::max<int64_t>(n, 1)) * 2);
  cuda::f32_to_bf16(f.as<float>(), b.as<__nv_bfloat16>(), n, nullptr);
  return b;
}

void check_lora(int64_t T, int64_t in, int64_t out, int64_t r) {
  LFM2_CHECK(T >= 1 && in >= 1 && out >= 1 && r >= 1, "lora: bad shape T=", T, " in=", in, " out=", out, " r=", r);
}

}  // namespace

void lora_forward(const float* x, const float* A, const float* B, float* y, int64_t T, int64_t in, int64_t out,
                  int64_t r, float scale) {
  check_lora(T, in, out, r);
  cuda_api::require_device();
  cuda::Gemm gemm;
  DeviceBuffer dx = to_device_bf16(x, T * in), dA = to_device_bf16(A, r * in), dB = to_device_bf16(B, out * r);
  DeviceBuffer dy = to_device(y, T * out), xa(size_t(T * r) * 4), xa_bf(size_t(T * r) * 2);
  cuda::lora_forward_device(dx.as<__nv_bfloat16>(), dA.as<__nv_bfloat16>(), dB.as<__nv_bfloat16>(), T, in, out, r,
                            scale, dy.as<float>(), xa.as<float>(), xa_bf.as<__nv_bfloat16>(), gemm, nullptr);
  cuda::download(y, dy.get(), size_t(T * out) * 4, nullptr);
}

void lora_backward(const float* x, const float* dy, const float* A, const float* B, float* dA, float* dB, float* dx,
                   int64_t T, int64_t in, int64_t out, int64_t r, float scale) {
  check_lora(T, in, out, r);
  cuda_api::require_device();
  cuda::Gemm gemm;
  cuda::Arena arena;
  DeviceBuffer d_x = to_device_bf16(x, T * in), d_dy = to_device_bf16(dy, T * out);
  DeviceBuffer d_A = to_device_bf16(A, r * in), d_B = to_device_bf16(B, out * r);
  DeviceBuffer d_dA = to_device(dA, r * in), d_dB = to_device(dB, out * r);
  DeviceBuffer d_dx = dx ? to_device(dx, T * in) : DeviceBuffer();
  cuda::lora_backward_device(d_x.as<__nv_bfloat16>(), d_dy.as<__nv_bfloat16>(), d_A.as<__nv_bfloat16>(),
                             d_B.as<__nv_bfloat16>(), T, in, out, r, scale, d_dA.as<float>(), d_dB.as<float>(),
                             dx ? d_dx.as<float>() : nullptr, gemm, arena, nullptr);
  cuda::download(dA, d_dA.get(), size_t(r * in) * 4, nullptr);
  cuda::download(dB, d_dB.get(), size_t(out * r) * 4, nullptr);
  if (dx) cuda::download(dx, d_dx.get(), size_t(T * in) * 4, nullptr);
}

void gather_rows(const float* src, int64_t src_rows, const int32_t* rows, int64_t R, int64_t C, float* dst) {
  LFM2_CHECK(src_rows >= 1 && R >= 1 && C >= 1, "gather_rows: bad shape");
  for (int64_t i = 0; i < R; ++i)
    LFM2_CHECK(rows[i] >= 0 && rows[i] < src_rows, "gather_rows: row ", rows[i], " outside [0, ", src_rows, ")");
  cuda_api::require_device();
  DeviceBuffer d_src = to_device(src, src_rows * C), d_rows = to_device(rows, R), d_dst(size_t(R * C) * 4);
  cuda::gather_rows_f32(d_src.as<float>(), d_rows.as<int32_t>(), R, C, d_dst.as<float>(), nullptr);
  cuda::download(dst, d_dst.get(), size_t(R * C) * 4, nullptr);
}

void scatter_rows(const float* src, const int32_t* rows, int64_t R, int64_t C, float* dst, int64_t dst_rows) {
  LFM2_CHECK(dst_rows >= 1 && R >= 1 && C >= 1, "scatter_rows: bad shape");
  std::vector<bool> seen(size_t(dst_rows), false);
  for (int64_t i = 0; i < R; ++i) {
    LFM2_CHECK(rows[i] >= 0 && rows[i] < dst_rows, "scatter_rows: row ", rows[i], " outside [0, ", dst_rows, ")");
    LFM2_CHECK(!seen[size_t(rows[i])], "scatter_rows: row ", rows[i], " appears twice");
    seen[size_t(rows[i])] = true;
  }
  cuda_api::require_device();
  DeviceBuffer d_src = to_device(src, R * C), d_rows = to_device(rows, R), d_dst = to_device(dst, dst_rows * C);
  cuda::scatter_rows_f32(d_src.as<float>(), d_rows.as<int32_t>(), R, C, d_dst.as<float>(), nullptr);
  cuda::download(dst, d_dst.get(), size_t(dst_rows * C) * 4, nullptr);
}

void embedding_backward_padded(const int32_t* ids, int64_t T, const float* dx, int64_t vocab, int64_t C,
                               int64_t padding_idx, float* dE) {
  LFM2_CHECK(T >= 1 && vocab >= 1 && C >= 1, "embedding_backward: bad shape");
  for (int64_t t = 0; t < T; ++t)
    LFM2_CHECK(ids[t] >= 0 && ids[t] < vocab, "embedding_backward: id ", ids[t], " outside [0, ", vocab, ")");
  cuda_api::require_device();
  DeviceBuffer d_ids = to_device(ids, T), d_dx = to_device(dx, T * C), d_dE = to_device(dE, vocab * C);
  cuda::embedding_backward_padded(d_ids.as<int32_t>(), T, d_dx.as<float>(), vocab, C, padding_idx, d_dE.as<float>(),
                                  nullptr);
  cuda::download(dE, d_dE.get(), size_t(vocab * C) * 4, nullptr);
}

}  // namespace lfm2::cuda_train_api
