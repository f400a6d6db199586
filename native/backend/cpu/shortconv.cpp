#include "backend/cpu/shortconv.h"

#include "core/threadpool.h"

namespace lfm2 {

namespace {
constexpr int64_t kChannelBlock = 256;

// Channels [c0, c1) of one sequence. Time runs in the outer loop and channels in the inner one, so every access
// is contiguous and the inner loop vectorises; the shift register lives in two small per-block arrays.
void conv_block(const ShortConvSeq& s, const float* kernel, int64_t C, int64_t z_stride, int64_t y_stride,
                int64_t c0, int64_t c1) {
  const int64_t n = c1 - c0;
  float k0[kChannelBlock], k1[kChannelBlock], k2[kChannelBlock];  // taps, transposed from [C, 3]
  float um2[kChannelBlock], um1[kChannelBlock];                     // u_{t-2}, u_{t-1}
  for (int64_t i = 0; i < n; ++i) {
    const float* k = kernel + (c0 + i) * 3;
    k0[i] = k[0], k1[i] = k[1], k2[i] = k[2];
    um2[i] = s.state ? s.state[c0 + i] : 0.f;
    um1[i] = s.state ? s.state[C + c0 + i] : 0.f;
  }
  for (int64_t t = 0; t < s.n; ++t) {
    const float* zb = s.z + t * z_stride + c0;  // B
    const float* zc = zb + C;                    // C gate
    const float* zx = zb + 2 * C;                // X
    float* y = s.y + t * y_stride + c0;
    for (int64_t i = 0; i < n; ++i) {
      const float u = zb[i] * zx[i];  // B ⊙ X
      const float v = k0[i] * um2[i] + k1[i] * um1[i] + k2[i] * u;
      y[i] = zc[i] * v;  // C ⊙ v
      um2[i] = um1[i];
      um1[i] = u;
    }
  }
  if (s.state)
    for (int64_t i = 0; i < n; ++i) {
      s.state[c0 + i] = um2[i];
      s.state[C + c0 + i] = um1[i];
    }
}
}  // namespace

void shortconv_forward(const std::vector<ShortConvSeq>& seqs, const float* kernel, int64_t C, int64_t z_stride,
                       int64_t y_stride) {
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const int64_t items = int64_t(seqs.size()) * blocks;
  int64_t tokens = 0;
  for (const ShortConvSeq& s : seqs) tokens += s.n;
  // Decode of a few sequences is a few thousand channel steps: less work than a thread-pool hand-off.
  const int64_t grain = tokens * C < (int64_t(1) << 15) ? items : 1;
  parallel_for(items, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      const ShortConvSeq& s = seqs[size_t(i / blocks)];
      const int64_t c0 = (i % blocks) * kChannelBlock;
      const int64_t c1 = c0 + kChannelBlock < C ? c0 + kChannelBlock : C;
      conv_block(s, kernel, C, z_stride, y_stride, c0, c1);
    }
  }, grain);
}

}  // namespace lfm2
