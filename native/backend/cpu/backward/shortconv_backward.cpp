#include "backend/cpu/backward/shortconv_backward.h"

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {
namespace {

void check_seqs(int64_t channels, int64_t nseq, const int32_t* cu) {
  LFM2_CHECK(channels > 0, "shortconv: channels must be > 0");
  LFM2_CHECK(nseq >= 1, "shortconv: need at least one sequence");
  LFM2_CHECK(cu[0] == 0, "shortconv: cu_seqlens[0] must be 0");
  for (int64_t i = 0; i < nseq; ++i)
    LFM2_CHECK(cu[i + 1] >= cu[i], "shortconv: cu_seqlens must be non-decreasing (index ", i + 1, ")");
}

}  // namespace

void shortconv_forward(int64_t C, int64_t nseq, const int32_t* cu, const float* z, const float* K, float* y) {
  check_seqs(C, nseq, cu);
  const int64_t ld = 3 * C;
  // Channels are independent: split them over threads; within a chunk walk time with channels innermost.
  parallel_for(
      C,
      [&](int64_t c0, int64_t c1, int) {
        for (int64_t s = 0; s < nseq; ++s) {
          const int64_t off = cu[s], len = cu[s + 1] - cu[s];
          for (int64_t t = 0; t < len; ++t) {
            const float* zt = z + (off + t) * ld;
            for (int64_t c = c0; c < c1; ++c) {
              float acc = 0.f;
              for (int64_t kk = 0; kk < 3; ++kk) {
                const int64_t tau = t - 2 + kk;
                if (tau < 0) continue;
                const float* zs = z + (off + tau) * ld;
                acc += K[c * 3 + kk] * zs[c] * zs[2 * C + c];
              }
              y[(off + t) * C + c] = zt[C + c] * acc;
            }
          }
        }
      },
      16);
}

void shortconv_backward(int64_t C, int64_t nseq, const int32_t* cu, const float* z, const float* K, const float* dy,
                        float* dz, float* dK) {
  check_seqs(C, nseq, cu);
  const int64_t ld = 3 * C;
  auto u_at = [&](int64_t row, int64_t c) { return z[row * ld + c] * z[row * ld + 2 * C + c]; };
  auto dv_at = [&](int64_t row, int64_t c) { return dy[row * C + c] * z[row * ld + C + c]; };
  parallel_for(
      C,
      [&](int64_t c0, int64_t c1, int) {
        for (int64_t s = 0; s < nseq; ++s) {
          const int64_t off = cu[s], len = cu[s + 1] - cu[s];
          for (int64_t t = 0; t < len; ++t) {
            const int64_t row = off + t;
            const float* zt = z + row * ld;
            float* dzt = dz + row * ld;
            for (int64_t c = c0; c < c1; ++c) {
              // v[t] (for dC) and the three dv terms that reach u[t] (for du).
              float v = 0.f, du = 0.f;
              for (int64_t kk = 0; kk < 3; ++kk) {
                const int64_t tau = t - 2 + kk;
                if (tau >= 0) v += K[c * 3 + kk] * u_at(off + tau, c);
                const int64_t tf = t + 2 - kk;  // output position that tap kk of u[t] feeds
                if (tf < len) du += K[c * 3 + kk] * dv_at(off + tf, c);
              }
              const float dvt = dv_at(row, c);
              for (int64_t kk = 0; kk < 3; ++kk) {
                const int64_t tau = t - 2 + kk;
                if (tau >= 0) dK[c * 3 + kk] += dvt * u_at(off + tau, c);
              }
              dzt[c] = du * zt[2 * C + c];          // dB = du ⊙ X
              dzt[C + c] = dy[row * C + c] * v;     // dC = dy ⊙ v
              dzt[2 * C + c] = du * zt[c];          // dX = du ⊙ B
            }
          }
        }
      },
      16);
}

}  // namespace lfm2::cpu
