#include <cstdint>

#include "backend/cuda/convert.cuh"
#include "backend/cuda/grpo_loss.cuh"
#include "backend/cuda/reduce.cuh"

namespace lfm2::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int32_t kNoIndex = 0x7fffffff;

__device__ __forceinline__ int32_t warp_min_index(int32_t v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const int32_t w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w < v ? w : v;
  }
  return v;
}

// Smallest index over the block (blockDim.x a multiple of 32); every thread gets it. `scratch`: 32 ints of shared
// memory; contains __syncthreads, so all threads must reach it.
__device__ __forceinline__ int32_t block_min_index(int32_t v, int32_t* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_min_index(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : kNoIndex;
  return warp_min_index(v);
}

// Derivation of the fused row backward (one row n, z = logits/τ, p = softmax(z), logp = z_y − lse(z)):
//   ∂logp/∂z_v = onehot_y(v) − p_v, so with g = d(c·m·l)/d logp (the token terms below),
//   dlogits_v = g·(onehot_y(v) − p_v)/τ.
// Token terms (masked rows contribute nothing and never exponentiate junk):
//   ρ = exp(logp − old); s = min(ρA, clip(ρ, 1−ε_low, 1+ε_high)·A); l = −s·w + β·KL, KL = e^{ref−logp} − (ref−logp) − 1;
//   ∂s/∂logp = ρA on the unclipped branch (and inside the clip range), 0 on the clipped one, split evenly at ties
//   (torch.min); ∂KL/∂logp = 1 − e^{ref−logp}.
// sft: l = −logp, so dl/dlogp = −1 (no ratio, advantage or clip).
// Token accuracy: each thread keeps the first index of its own running maximum while it strides over the vocabulary;
// the block's argmax is the smallest index among the threads that hold the block maximum (the first index overall).
__global__ void grpo_rows_kernel(float* __restrict__ logits, int64_t r0, int64_t V, GrpoDeviceInputs in,
                                 GrpoDeviceOptions opt, GrpoDeviceOutputs out) {
  __shared__ float red[32];
  __shared__ int32_t red_index[32];
  __shared__ float g_shared;
  const int64_t i = blockIdx.x;     // row within the chunk
  const int64_t n = r0 + i;         // row within the call
  float* row = logits + i * V;
  const float inv_t = 1.f / opt.temperature;
  float local_max = -INFINITY;
  int32_t local_arg = kNoIndex;
  for (int64_t v = threadIdx.x; v < V; v += kThreads) {
    const float z = row[v] * inv_t;
    if (z > local_max) {  // strict: this thread's earlier index keeps a tie
      local_max = z;
      local_arg = int32_t(v);
    }
  }
  const float mx = block_max(local_max, red);
  const int32_t top = block_min_index(local_max == mx ? local_arg : kNoIndex, red_index);
  float s = 0.f, sz = 0.f;
  for (int64_t v = threadIdx.x; v < V; v += kThreads) {
    const float z = row[v] * inv_t;
    const float e = expf(z - mx);
    s += e;
    sz += e * z;
  }
  s = block_sum(s, red);
  sz = block_sum(sz, red);
  if (threadIdx.x == 0) {
    const int32_t y = in.targets[n];
    const double lse = double(mx) + log(double(s));
    const double logp = double(row[y] * inv_t) - lse;
    const double ent = lse - double(sz) / double(s);
    if (out.logp) out.logp[n] = float(logp);
    if (out.entropy) out.entropy[n] = float(ent);
    double* t = out.terms + n * kGrpoTerms;
    double g = 0;
    const double m = in.mask[n];
    for (int k = 0; k < kGrpoTerms; ++k) t[k] = 0;
    if (m != 0.0) {
      double l, dl;
      bool low = false, high = false;
      if (opt.sft) {
        l = -logp;
        dl = -1.0;
      } else {
        const double old = in.old_logp ? double(in.old_logp[n]) : logp;
        const double A = in.advantages[n];
        const double w = in.is_weight ? double(in.is_weight[n]) : 1.0;
        const double rho = exp(logp - old);
        const double lo = 1.0 - double(opt.epsilon_low), hi = 1.0 + double(opt.epsilon_high);
        const double clipped = fmin(fmax(rho, lo), hi);
        const double uo = rho * A, co = clipped * A;
        const bool in_range = rho >= lo && rho <= hi;
        double ds;
        if (uo < co) ds = rho * A;
        else if (uo > co) ds = in_range ? rho * A : 0.0;
        else ds = 0.5 * rho * A + 0.5 * (in_range ? rho * A : 0.0);
        l = -fmin(uo, co) * w;
        dl = -ds * w;
        low = rho < lo && A < 0;
        high = rho > hi && A > 0;
      }
      double kl = 0;
      if (opt.beta != 0.f) {
        const double d = double(in.ref_logp[n]) - logp;
        kl = exp(d) - d - 1.0;
        l += double(opt.beta) * kl;
        dl += double(opt.beta) * (1.0 - exp(d));
      } else if (in.ref_logp) {
        const double d = double(in.ref_logp[n]) - logp;
        kl = isfinite(d) ? exp(d) - d - 1.0 : 0.0;  // metric only
      }
      const double c = in.row_weight[n];
      t[0] = c * m * l;
      t[1] = m * kl;
      t[2] = m * double(low);
      t[3] = m * double(high);
      t[4] = m * double(low || high);
      t[5] = m * double(top == y);
      g = c * m * dl;
    }
    g_shared = float(g);
  }
  __syncthreads();
  const float g = g_shared;
  const float k = -g / s * inv_t;
  const int32_t y = in.targets[n];
  for (int64_t v = threadIdx.x; v < V; v += kThreads) {
    const float e = expf(row[v] * inv_t - mx);
    row[v] = e * k + (v == y ? g * inv_t : 0.f);
  }
}

}  // namespace

void grpo_loss_forward_backward(const GrpoDeviceInputs& in, const GrpoDeviceOptions& opt,
                                const GrpoDeviceOutputs& out, Gemm& gemm, Arena& arena, cudaStream_t stream) {
  const int64_t N = in.rows, V = in.vocab, C = in.dim;
  LFM2_CHECK(N >= 0 && V > 0 && C > 0, "grpo_loss: bad shape rows=", N, " vocab=", V, " dim=", C);
  LFM2_CHECK(opt.temperature > 0, "grpo_loss: temperature must be positive");
  LFM2_CHECK(out.terms, "grpo_loss: terms output is required");
  LFM2_CHECK(opt.sft || in.advantages, "grpo_loss: advantages are required (only sft goes without)");
  LFM2_CHECK(!opt.sft || (opt.beta == 0.f && opt.temperature == 1.f), "grpo_loss: sft needs beta 0 and temperature 1");
  if (N == 0) return;
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(opt.chunk_rows, N));
  float* logits = arena.take_n<float>(chunk * V);                   // [chunk, V]
  __nv_bfloat16* dl_bf = arena.take_n<__nv_bfloat16>(chunk * V);    // [chunk, V]
  __nv_bfloat16* h_bf = arena.take_n<__nv_bfloat16>(chunk * C);     // [chunk, C]
  for (int64_t r0 = 0; r0 < N; r0 += chunk) {
    const int64_t R = std::min(chunk, N - r0);
    f32_to_bf16(in.hidden + r0 * C, h_bf, R * C, stream);
    gemm.run(GemmShape{R, V, C, false, true, 1.f, 0.f}, h_bf, in.head, logits, stream);  // [R, V]
    LFM2_LAUNCH(grpo_rows_kernel, unsigned(R), kThreads, 0, stream, logits, r0, V, in, opt, out);
    if (!out.dhidden && !out.dhead) continue;
    f32_to_bf16(logits, dl_bf, R * V, stream);
    if (out.dhidden)  // dH[R, C] = dlogits[R, V] · E[V, C]
      gemm.run(GemmShape{R, C, V, false, false, 1.f, 0.f}, dl_bf, in.head, out.dhidden + r0 * C, stream);
    if (out.dhead)  // dE[V, C] += dlogitsᵀ · H
      gemm.run(GemmShape{V, C, R, true, false, 1.f, 1.f}, dl_bf, h_bf, out.dhead, stream);
  }
}

}  // namespace lfm2::cuda
