#include "backend/cuda/shortconv.cuh"

namespace lfm2::cuda {
namespace {

// One thread per (sequence, channel), walking the sequence's tokens with the two-value shift register in registers.
__global__ void shortconv_forward_kernel(const float* __restrict__ z, const float* __restrict__ kernel,
                                         float* __restrict__ y, const int32_t* __restrict__ seq_row0,
                                         float* const* __restrict__ states, int64_t nseq, int64_t C) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= nseq * C) return;
  const int64_t s = idx / C, c = idx % C;
  float* st = states ? states[s] : nullptr;
  float u2 = st ? st[c] : 0.f;      // u_{t-2}
  float u1 = st ? st[C + c] : 0.f;  // u_{t-1}
  const float k0 = kernel[c * 3 + 0], k1 = kernel[c * 3 + 1], k2 = kernel[c * 3 + 2];
  for (int64_t t = seq_row0[s]; t < seq_row0[s + 1]; ++t) {
    const float* zr = z + t * 3 * C;
    const float u = zr[c] * zr[2 * C + c];  // B ⊙ X
    const float v = k0 * u2 + k1 * u1 + k2 * u;
    y[t * C + c] = zr[C + c] * v;
    u2 = u1;
    u1 = u;
  }
  if (st) {
    st[c] = u2;
    st[C + c] = u1;
  }
}

__global__ void shortconv_backward_kernel(const float* __restrict__ z, const float* __restrict__ kernel,
                                          const float* __restrict__ dy, float* __restrict__ dz, float* dkernel,
                                          const int32_t* __restrict__ seq_row0, int64_t nseq, int64_t C) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= nseq * C) return;
  const int64_t s = idx / C, c = idx % C;
  const int64_t r0 = seq_row0[s], r1 = seq_row0[s + 1];
  const float k0 = kernel[c * 3 + 0], k1 = kernel[c * 3 + 1], k2 = kernel[c * 3 + 2];
  auto u_at = [&](int64_t t) { return t < r0 ? 0.f : z[t * 3 * C + c] * z[t * 3 * C + 2 * C + c]; };
  // Walk backwards keeping dv_{t+1}, dv_{t+2} (zero past the end of the sequence).
  float dv1 = 0.f, dv2 = 0.f, dk0 = 0.f, dk1 = 0.f, dk2 = 0.f;
  for (int64_t t = r1 - 1; t >= r0; --t) {
    const float* zr = z + t * 3 * C;
    const float u = zr[c] * zr[2 * C + c];
    const float um1 = u_at(t - 1), um2 = u_at(t - 2);
    const float v = k0 * um2 + k1 * um1 + k2 * u;
    const float g = dy[t * C + c];
    const float dv = g * zr[C + c];
    dk0 += dv * um2;
    dk1 += dv * um1;
    dk2 += dv * u;
    // u_t feeds v_t (tap 2), v_{t+1} (tap 1), v_{t+2} (tap 0)
    const float du = k2 * dv + k1 * dv1 + k0 * dv2;
    float* dzr = dz + t * 3 * C;
    dzr[c] = du * zr[2 * C + c];  // dB
    dzr[C + c] = g * v;           // dC
    dzr[2 * C + c] = du * zr[c];  // dX
    dv2 = dv1;
    dv1 = dv;
  }
  atomicAdd(&dkernel[c * 3 + 0], dk0);
  atomicAdd(&dkernel[c * 3 + 1], dk1);
  atomicAdd(&dkernel[c * 3 + 2], dk2);
}

}  // namespace

void shortconv_forward(const float* z, const float* kernel, float* y, const int32_t* seq_row0, float* const* states,
                       int64_t nseq, int64_t C, cudaStream_t stream) {
  LFM2_CHECK(nseq >= 0 && C > 0, "shortconv: bad shape nseq=", nseq, " C=", C);
  if (nseq == 0) return;
  LFM2_LAUNCH(shortconv_forward_kernel, blocks_for(nseq * C, 256), 256, 0, stream, z, kernel, y, seq_row0, states, nseq, C);
}

void shortconv_backward(const float* z, const float* kernel, const float* dy, float* dz, float* dkernel,
                        const int32_t* seq_row0, int64_t nseq, int64_t C, cudaStream_t stream) {
  LFM2_CHECK(nseq >= 0 && C > 0, "shortconv_backward: bad shape nseq=", nseq, " C=", C);
  if (nseq == 0) return;
  LFM2_LAUNCH(shortconv_backward_kernel, blocks_for(nseq * C, 256), 256, 0, stream, z, kernel, dy, dz, dkernel, seq_row0, nseq, C);
}

}  // namespace lfm2::cuda
