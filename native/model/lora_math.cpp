#include "model/lora_math.h"

#include <cmath>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

void check_shape(int64_t rows, int64_t in, int64_t out, int64_t rank) {
  LFM2_CHECK(rows >= 0 && in > 0 && out > 0 && rank > 0, "lora: bad shape rows=", rows, " in=", in, " out=", out,
             " rank=", rank);
}

// splitmix64: small, fast, well-mixed; enough for an init that only needs to be reproducible.
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

float lora_scale(float alpha, int64_t rank, bool use_rslora) {
  LFM2_CHECK(rank > 0, "lora: rank must be > 0");
  return use_rslora ? float(double(alpha) / std::sqrt(double(rank))) : float(double(alpha) / double(rank));
}

void lora_forward(int64_t N, int64_t in, int64_t out, int64_t r, float s, const float* x, const float* A,
                  const float* B, float* xa, float* y) {
  check_shape(N, in, out, r);
  gemm_nt(N, r, in, x, in, A, DType::F32, in, xa, r, 0.f);  // xa = x·Aᵀ
  std::vector<float> xs(static_cast<size_t>(N * r));                       // [N, r] s·xa
  for (int64_t i = 0; i < N * r; ++i) xs[size_t(i)] = s * xa[i];
  gemm_nt(N, out, r, xs.data(), r, B, DType::F32, r, y, out, 1.f);  // y += s·xa·Bᵀ
}

void lora_backward(int64_t N, int64_t in, int64_t out, int64_t r, float s, const float* dy, const float* x,
                   const float* xa, const float* A, const float* B, float* dA, float* dB, float* dx) {
  check_shape(N, in, out, r);
  std::vector<float> dxa(static_cast<size_t>(N * r));  // [N, r]
  gemm_nn(N, r, out, dy, out, B, DType::F32, r, dxa.data(), r, 0.f);
  for (auto& v : dxa) v *= s;  // dxa = s·dy·B
  std::vector<float> xs(static_cast<size_t>(N * r));  // [N, r]
  for (int64_t i = 0; i < N * r; ++i) xs[size_t(i)] = s * xa[i];
  gemm_tn(out, r, N, dy, out, xs.data(), r, dB, r, 1.f);         // dB += dyᵀ·(s·xa)
  gemm_tn(r, in, N, dxa.data(), r, x, in, dA, in, 1.f);          // dA += dxaᵀ·x
  if (dx) gemm_nn(N, in, r, dxa.data(), r, A, DType::F32, in, dx, in, 1.f);  // dx += dxa·A
}

void lora_init(int64_t in, int64_t out, int64_t r, uint64_t seed, float* A, float* B) {
  check_shape(0, in, out, r);
  // kaiming_uniform(a=√5): gain = sqrt(2/(1+a²)) = sqrt(1/3), bound = gain·sqrt(3/fan_in) = 1/sqrt(fan_in).
  const double bound = 1.0 / std::sqrt(double(in));
  uint64_t st = seed;
  for (int64_t i = 0; i < r * in; ++i) {
    const double u = double(splitmix64(st) >> 11) * 0x1.0p-53;  // [0, 1)
    A[i] = float((2.0 * u - 1.0) * bound);
  }
  for (int64_t i = 0; i < out * r; ++i) B[i] = 0.f;
}

void lora_merge(int64_t in, int64_t out, int64_t r, float s, const float* A, const float* B, void* W, DType wtype,
                int sign) {
  check_shape(0, in, out, r);
  LFM2_CHECK(sign == 1 || sign == -1, "lora_merge: sign must be +1 or -1");
  const float k = float(sign) * s;
  parallel_for(
      out,
      [&](int64_t o0, int64_t o1, int) {
        std::vector<float> delta(static_cast<size_t>(in));  // [in] one row of s·B·A
        for (int64_t o = o0; o < o1; ++o) {
          for (int64_t i = 0; i < in; ++i) delta[size_t(i)] = 0.f;
          for (int64_t j = 0; j < r; ++j) {
            const float b = B[o * r + j];
            const float* a = A + j * in;
            for (int64_t i = 0; i < in; ++i) delta[size_t(i)] += b * a[i];
          }
          if (wtype == DType::F32) {
            float* w = static_cast<float*>(W) + o * in;
            for (int64_t i = 0; i < in; ++i) w[i] += k * delta[size_t(i)];
          } else {
            uint16_t* w = static_cast<uint16_t*>(W) + o * in;
            for (int64_t i = 0; i < in; ++i) w[i] = f32_to_bf16(bf16_to_f32(w[i]) + k * delta[size_t(i)]);
          }
        }
      },
      4);
}

}  // namespace lfm2
