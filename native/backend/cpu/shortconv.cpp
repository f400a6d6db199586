#include "backend/cpu/shortconv.h"

#include "core/threadpool.h"

namespace lfm2 {

namespace {
constexpr int64_t kChannelBlock = 256;

void conv_block(const ShortConvSeq& s, const float* kernel, int64_t C, int64_t z_stride, int64_t y_stride,
                int64_t c0, int64_t c1) {
  for (int64_t c = c0; c < c1; ++c) {
    const float k0 = kernel[c * 3 + 0], k1 = kernel[c * 3 + 1], k2 = kernel[c * 3 + 2];
    float um2 = s.state ? s.state[c] : 0.f;      // u_{t-2}
    float um1 = s.state ? s.state[C + c] : 0.f;  // u_{t-1}
    for (int64_t t = 0; t < s.n; ++t) {
      const float* zr = s.z + t * z_stride;
      const float u = zr[c] * zr[2 * C + c];  // B ⊙ X
      const float v = k0 * um2 + k1 * um1 + k2 * u;
      s.y[t * y_stride + c] = zr[C + c] * v;  // C ⊙ v
      um2 = um1;
      um1 = u;
    }
    if (s.state) {
      s.state[c] = um2;
      s.state[C + c] = um1;
    }
  }
}
}  // namespace

void shortconv_forward(const std::vector<ShortConvSeq>& seqs, const float* kernel, int64_t C, int64_t z_stride,
                       int64_t y_stride) {
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const int64_t items = int64_t(seqs.size()) * blocks;
  parallel_for(items, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      const ShortConvSeq& s = seqs[size_t(i / blocks)];
      const int64_t c0 = (i % blocks) * kChannelBlock;
      const int64_t c1 = c0 + kChannelBlock < C ? c0 + kChannelBlock : C;
      conv_block(s, kernel, C, z_stride, y_stride, c0, c1);
    }
  });
}

}  // namespace lfm2
