#include "backend/cuda/attention.cuh"
#include "backend/cuda/reduce.cuh"

namespace lfm2::cuda {
namespace {

constexpr int kThreads = 128;  // = key tile width; each thread also owns output dims tid and tid + 128
constexpr int kMaxD = 256;

__global__ void attention_forward_kernel(AttentionBatch b, const float* __restrict__ q, float* __restrict__ out,
                                         float* __restrict__ lse) {
  __shared__ float qs[kMaxD];
  __shared__ float ps[kThreads];
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  const int64_t h = blockIdx.y;
  const int tid = threadIdx.x;
  const int64_t s = b.row_seq[t];
  const int64_t pos = b.q_pos0[s] + (t - b.q_row0[s]);  // last visible key
  const int64_t g = h / (b.H / b.KVH);
  const int64_t kv_stride = b.KVH * b.D;
  const float* K = b.k[s] + g * b.D;
  const float* V = b.v[s] + g * b.D;
  for (int64_t d = tid; d < b.D; d += kThreads) qs[d] = q[t * b.H * b.D + h * b.D + d];
  __syncthreads();
  float m = -INFINITY, l = 0.f, acc0 = 0.f, acc1 = 0.f;
  for (int64_t j0 = 0; j0 <= pos; j0 += kThreads) {
    const int64_t j = j0 + tid;
    float sc = -INFINITY;
    if (j <= pos) {
      const float* kr = K + j * kv_stride;
      float dot = 0.f;
      for (int64_t d = 0; d < b.D; ++d) dot = fmaf(qs[d], kr[d], dot);
      sc = dot * b.scale;
    }
    const float m_new = fmaxf(m, block_max(sc, red));  // finite: key j0 ≤ pos is always in the tile
    const float p = j <= pos ? expf(sc - m_new) : 0.f;
    ps[tid] = p;
    const float corr = expf(m - m_new);  // 0 on the first tile (m = −inf)
    l = l * corr + block_sum(p, red);    // block_sum syncs, so ps is complete below
    acc0 *= corr;
    acc1 *= corr;
    const int64_t nj = min(int64_t(kThreads), pos + 1 - j0);
    for (int64_t jj = 0; jj < nj; ++jj) {
      const float* vr = V + (j0 + jj) * kv_stride;
      const float pj = ps[jj];
      if (tid < b.D) acc0 = fmaf(pj, vr[tid], acc0);
      if (tid + kThreads < b.D) acc1 = fmaf(pj, vr[tid + kThreads], acc1);
    }
    m = m_new;
    __syncthreads();  // ps is rewritten by the next tile
  }
  const float inv = 1.f / l;
  float* o = out + t * b.H * b.D + h * b.D;
  if (tid < b.D) o[tid] = acc0 * inv;
  if (tid + kThreads < b.D) o[tid + kThreads] = acc1 * inv;
  if (lse && tid == 0) lse[t * b.H + h] = m + logf(l);
}

// Derivation (one query row i, head h; P_ij = exp(s_ij − lse_i), s_ij = scale·q_i·k_j, o_i = Σ_j P_ij·v_j):
//   dv_j += P_ij·do_i;   dP_ij = do_i·v_j;   ds_ij = P_ij·(dP_ij − Δ_i) with Δ_i = Σ_j P_ij·dP_ij = do_i·o_i;
//   dq_i = scale·Σ_j ds_ij·k_j;   dk_j += scale·ds_ij·q_i.
// One block per (row, head) walks its visible keys; thread d owns dimension d of dq and of the dk/dv updates.
__global__ void attention_backward_kernel(AttentionBatch b, const float* __restrict__ q,
                                          const float* __restrict__ out, const float* __restrict__ lse,
                                          const float* __restrict__ dout, float* __restrict__ dq,
                                          float* const* dk, float* const* dv) {
  __shared__ float qs[kMaxD];
  __shared__ float dos[kMaxD];
  __shared__ float red[32];
  const int64_t t = blockIdx.x;
  const int64_t h = blockIdx.y;
  const int tid = threadIdx.x;
  const int64_t s = b.row_seq[t];
  const int64_t pos = b.q_pos0[s] + (t - b.q_row0[s]);
  const int64_t g = h / (b.H / b.KVH);
  const int64_t kv_stride = b.KVH * b.D;
  const int64_t off = t * b.H * b.D + h * b.D;
  const float* K = b.k[s] + g * b.D;
  const float* V = b.v[s] + g * b.D;
  float* dK = dk[s] + g * b.D;
  float* dV = dv[s] + g * b.D;
  float delta_part = 0.f;
  for (int64_t d = tid; d < b.D; d += kThreads) {
    qs[d] = q[off + d];
    dos[d] = dout[off + d];
    delta_part = fmaf(dos[d], out[off + d], delta_part);
  }
  const float delta = block_sum(delta_part, red);  // syncs: qs, dos ready
  const float L = lse[t * b.H + h];
  float dq0 = 0.f, dq1 = 0.f;
  for (int64_t j = 0; j <= pos; ++j) {
    const float* kr = K + j * kv_stride;
    const float* vr = V + j * kv_stride;
    float sdot = 0.f, pdot = 0.f;
    for (int64_t d = tid; d < b.D; d += kThreads) {
      sdot = fmaf(qs[d], kr[d], sdot);
      pdot = fmaf(dos[d], vr[d], pdot);
    }
    sdot = block_sum(sdot, red);
    pdot = block_sum(pdot, red);
    const float p = expf(sdot * b.scale - L);
    const float ds = p * (pdot - delta);
    if (tid < b.D) {
      dq0 = fmaf(ds, kr[tid], dq0);
      atomicAdd(&dK[j * kv_stride + tid], b.scale * ds * qs[tid]);
      atomicAdd(&dV[j * kv_stride + tid], p * dos[tid]);
    }
    if (tid + kThreads < b.D) {
      dq1 = fmaf(ds, kr[tid + kThreads], dq1);
      atomicAdd(&dK[j * kv_stride + tid + kThreads], b.scale * ds * qs[tid + kThreads]);
      atomicAdd(&dV[j * kv_stride + tid + kThreads], p * dos[tid + kThreads]);
    }
  }
  if (tid < b.D) dq[off + tid] = b.scale * dq0;
  if (tid + kThreads < b.D) dq[off + tid + kThreads] = b.scale * dq1;
}

void check(const AttentionBatch& b) {
  LFM2_CHECK(b.T >= 0 && b.nseq >= 0, "attention: bad batch T=", b.T, " nseq=", b.nseq);
  LFM2_CHECK(b.H > 0 && b.KVH > 0 && b.H % b.KVH == 0, "attention: heads ", b.H, " not a multiple of KV heads ",
             b.KVH);
  LFM2_CHECK(b.D > 0 && b.D <= kMaxD, "attention: head_dim ", b.D, " outside [1, ", kMaxD, "]");
  LFM2_CHECK(b.T <= 0x7fffffff && b.H <= 65535, "attention: grid too large (T=", b.T, ", H=", b.H, ")");
}

}  // namespace

void attention_forward(const AttentionBatch& b, const float* q, float* out, float* lse, cudaStream_t stream) {
  check(b);
  if (b.T == 0) return;
  LFM2_LAUNCH(attention_forward_kernel, dim3(unsigned(b.T), unsigned(b.H)), kThreads, 0, stream, b, q, out, lse);
}

void attention_backward(const AttentionBatch& b, const float* q, const float* out, const float* lse,
                        const float* dout, float* dq, float* const* dk, float* const* dv, cudaStream_t stream) {
  check(b);
  if (b.T == 0) return;
  LFM2_LAUNCH(attention_backward_kernel, dim3(unsigned(b.T), unsigned(b.H)), kThreads, 0, stream, b, q, out, lse, dout, dq, dk, dv);
}

}  // namespace lfm2::cuda
