#include "backend/cpu/backward/attention_backward.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2::cpu {
namespace {

constexpr int64_t kBr = 64;  // query rows per tile
constexpr int64_t kBc = 64;  // keys per tile

void check_args(const AttentionShape& s, int64_t nseq, const int32_t* cu) {
  LFM2_CHECK(s.tokens >= 0 && s.q_heads > 0 && s.kv_heads > 0 && s.head_dim > 0, "attention: bad shape T=", s.tokens,
             " Hq=", s.q_heads, " Hkv=", s.kv_heads, " D=", s.head_dim);
  LFM2_CHECK(s.q_heads % s.kv_heads == 0, "attention: q_heads (", s.q_heads, ") must be a multiple of kv_heads (",
             s.kv_heads, ")");
  LFM2_CHECK(nseq >= 1, "attention: need at least one sequence");
  LFM2_CHECK(cu[0] == 0, "attention: cu_seqlens[0] must be 0, got ", cu[0]);
  for (int64_t i = 0; i < nseq; ++i)
    LFM2_CHECK(cu[i + 1] >= cu[i], "attention: cu_seqlens must be non-decreasing (index ", i + 1, ")");
  LFM2_CHECK(cu[nseq] == s.tokens, "attention: cu_seqlens[nseq] = ", cu[nseq], " but tokens = ", s.tokens);
}

float effective_scale(const AttentionShape& s) {
  return s.scale != 0.f ? s.scale : float(1.0 / std::sqrt(double(s.head_dim)));
}

// Per-thread scratch for one tile.
struct Tiles {
  explicit Tiles(int64_t D)
      : kT(size_t(D * kBc)), vT(size_t(D * kBc)), S(size_t(kBr * kBc)), dP(size_t(kBr * kBc)),
        acc(size_t(kBr * D)), m(size_t(kBr)), l(size_t(kBr)), lse(size_t(kBr)), Dt(size_t(kBr)) {}
  std::vector<float> kT, vT;  // [D, Bc] transposed key / value tile
  std::vector<float> S, dP;   // [Br, Bc]
  std::vector<float> acc;     // [Br, D] running O in the recompute pass
  std::vector<float> m, l, lse, Dt;  // [Br]
};

// Loads keys j0..j1 of KV head g (global token offset `off`) transposed into kT [D, Bc].
void load_transposed(const float* src, int64_t off, int64_t j0, int64_t j1, int64_t Hkv, int64_t g, int64_t D,
                     float* dstT) {
  for (int64_t j = j0; j < j1; ++j) {
    const float* r = src + ((off + j) * Hkv + g) * D;
    for (int64_t d = 0; d < D; ++d) dstT[d * kBc + (j - j0)] = r[d];
  }
  for (int64_t j = j1; j < j0 + kBc; ++j)
    for (int64_t d = 0; d < D; ++d) dstT[d * kBc + (j - j0)] = 0.f;
}

// out[i, 0..nj) = Σ_d rows_i[d] · tileT[d, j] for query rows i0..i1 of `rows` (head h of Hq).
void tile_scores(const float* rows, int64_t off, int64_t i0, int64_t i1, int64_t H, int64_t h, int64_t D,
                 const float* tileT, float mul, float* out) {
  for (int64_t i = i0; i < i1; ++i) {
    float* o = out + (i - i0) * kBc;
    for (int64_t j = 0; j < kBc; ++j) o[j] = 0.f;
    const float* r = rows + ((off + i) * H + h) * D;
    for (int64_t d = 0; d < D; ++d) {
      const float a = r[d] * mul;
      const float* t = tileT + d * kBc;
      for (int64_t j = 0; j < kBc; ++j) o[j] += a * t[j];
    }
  }
}

// Online-softmax forward for query rows i0..i1 of head h: fills t.lse and O (into t.acc, normalised).
void forward_block(const AttentionShape& s, float scale, int64_t off, int64_t i0, int64_t i1, int64_t h, int64_t g,
                   const float* q, const float* k, const float* v, Tiles& t) {
  const int64_t D = s.head_dim, Hq = s.q_heads, Hkv = s.kv_heads;
  const int64_t nr = i1 - i0;
  std::fill(t.acc.begin(), t.acc.begin() + nr * D, 0.f);
  std::fill(t.m.begin(), t.m.begin() + nr, -std::numeric_limits<float>::infinity());
  std::fill(t.l.begin(), t.l.begin() + nr, 0.f);
  for (int64_t j0 = 0; j0 < i1; j0 += kBc) {
    const int64_t j1 = std::min(j0 + kBc, i1);
    load_transposed(k, off, j0, j1, Hkv, g, D, t.kT.data());
    tile_scores(q, off, i0, i1, Hq, h, D, t.kT.data(), scale, t.S.data());
    for (int64_t i = i0; i < i1; ++i) {
      float* Si = t.S.data() + (i - i0) * kBc;
      const int64_t jmax = std::min(j1, i + 1);  // causal: keys j ≤ i
      if (jmax <= j0) continue;
      float mt = t.m[size_t(i - i0)];
      for (int64_t j = j0; j < jmax; ++j) mt = std::max(mt, Si[j - j0]);
      const float corr = std::exp(t.m[size_t(i - i0)] - mt);  // exp(−inf) = 0 on the first tile
      float* a = t.acc.data() + (i - i0) * D;
      for (int64_t d = 0; d < D; ++d) a[d] *= corr;
      float lsum = t.l[size_t(i - i0)] * corr;
      for (int64_t j = j0; j < jmax; ++j) {
        const float p = std::exp(Si[j - j0] - mt);
        lsum += p;
        const float* vr = v + ((off + j) * Hkv + g) * D;
        for (int64_t d = 0; d < D; ++d) a[d] += p * vr[d];
      }
      t.m[size_t(i - i0)] = mt;
      t.l[size_t(i - i0)] = lsum;
    }
  }
  for (int64_t i = 0; i < nr; ++i) {
    const float inv = 1.f / t.l[size_t(i)];
    float* a = t.acc.data() + i * D;
    for (int64_t d = 0; d < D; ++d) a[d] *= inv;
    t.lse[size_t(i)] = t.m[size_t(i)] + std::log(t.l[size_t(i)]);
  }
}

void for_each_pair(const AttentionShape& s, int64_t nseq, const std::function<void(int64_t, int64_t, Tiles&)>& fn) {
  const int64_t pairs = nseq * s.kv_heads;
  parallel_for(pairs, [&](int64_t p0, int64_t p1, int) {
    Tiles t(s.head_dim);
    for (int64_t p = p0; p < p1; ++p) fn(p / s.kv_heads, p % s.kv_heads, t);
  });
}

}  // namespace

void attention_forward_stats(const AttentionShape& s, int64_t nseq, const int32_t* cu, const float* q,
                             const float* k, const float* v, float* o, float* lse) {
  check_args(s, nseq, cu);
  const float scale = effective_scale(s);
  const int64_t group = s.q_heads / s.kv_heads, D = s.head_dim, Hq = s.q_heads;
  for_each_pair(s, nseq, [&](int64_t sq, int64_t g, Tiles& t) {
    const int64_t off = cu[sq], len = cu[sq + 1] - cu[sq];
    for (int64_t hh = 0; hh < group; ++hh) {
      const int64_t h = g * group + hh;
      for (int64_t i0 = 0; i0 < len; i0 += kBr) {
        const int64_t i1 = std::min(i0 + kBr, len);
        forward_block(s, scale, off, i0, i1, h, g, q, k, v, t);
        for (int64_t i = i0; i < i1; ++i) {
          std::copy(t.acc.begin() + (i - i0) * D, t.acc.begin() + (i - i0 + 1) * D, o + ((off + i) * Hq + h) * D);
          lse[(off + i) * Hq + h] = t.lse[size_t(i - i0)];
        }
      }
    }
  });
}

void attention_backward(const AttentionShape& s, int64_t nseq, const int32_t* cu, const float* q, const float* k,
                        const float* v, const float* o, const float* lse, const float* dout, float* dq, float* dk,
                        float* dv) {
  check_args(s, nseq, cu);
  const float scale = effective_scale(s);
  const int64_t group = s.q_heads / s.kv_heads, D = s.head_dim, Hq = s.q_heads, Hkv = s.kv_heads;
  const bool recompute = (o == nullptr || lse == nullptr);
  for_each_pair(s, nseq, [&](int64_t sq, int64_t g, Tiles& t) {
    const int64_t off = cu[sq], len = cu[sq + 1] - cu[sq];
    for (int64_t i = 0; i < len; ++i) {
      std::fill(dk + ((off + i) * Hkv + g) * D, dk + ((off + i) * Hkv + g + 1) * D, 0.f);
      std::fill(dv + ((off + i) * Hkv + g) * D, dv + ((off + i) * Hkv + g + 1) * D, 0.f);
      for (int64_t hh = 0; hh < group; ++hh) {
        const int64_t h = g * group + hh;
        std::fill(dq + ((off + i) * Hq + h) * D, dq + ((off + i) * Hq + h + 1) * D, 0.f);
      }
    }
    for (int64_t hh = 0; hh < group; ++hh) {
      const int64_t h = g * group + hh;
      for (int64_t i0 = 0; i0 < len; i0 += kBr) {
        const int64_t i1 = std::min(i0 + kBr, len);
        // Row statistics: lse_i and D_i = dO_i·O_i.
        if (recompute) forward_block(s, scale, off, i0, i1, h, g, q, k, v, t);
        for (int64_t i = i0; i < i1; ++i) {
          const float* orow = recompute ? t.acc.data() + (i - i0) * D : o + ((off + i) * Hq + h) * D;
          const float* grow = dout + ((off + i) * Hq + h) * D;
          float acc = 0.f;
          for (int64_t d = 0; d < D; ++d) acc += grow[d] * orow[d];
          t.Dt[size_t(i - i0)] = acc;
          if (!recompute) t.lse[size_t(i - i0)] = lse[(off + i) * Hq + h];
        }
        for (int64_t j0 = 0; j0 < i1; j0 += kBc) {
          const int64_t j1 = std::min(j0 + kBc, i1);
          load_transposed(k, off, j0, j1, Hkv, g, D, t.kT.data());
          load_transposed(v, off, j0, j1, Hkv, g, D, t.vT.data());
          tile_scores(q, off, i0, i1, Hq, h, D, t.kT.data(), scale, t.S.data());     // S  [Br, Bc]
          tile_scores(dout, off, i0, i1, Hq, h, D, t.vT.data(), 1.f, t.dP.data());   // dP [Br, Bc]
          // S → dS in place (P kept in S's place is not needed after dv, so compute dv first per row).
          for (int64_t i = i0; i < i1; ++i) {
            float* Si = t.S.data() + (i - i0) * kBc;
            float* dPi = t.dP.data() + (i - i0) * kBc;
            const int64_t jmax = std::min(j1, i + 1);
            const float li = t.lse[size_t(i - i0)], Di = t.Dt[size_t(i - i0)];
            for (int64_t j = j0; j < j0 + kBc; ++j) {
              if (j < jmax) {
                const float p = std::exp(Si[j - j0] - li);
                Si[j - j0] = p;                         // P
                dPi[j - j0] = p * (dPi[j - j0] - Di);   // dS
              } else {
                Si[j - j0] = 0.f;
                dPi[j - j0] = 0.f;
              }
            }
          }
          // dq̂_i += scale · Σ_j dS_ij k̂_j
          for (int64_t i = i0; i < i1; ++i) {
            float* dqi = dq + ((off + i) * Hq + h) * D;
            const float* dSi = t.dP.data() + (i - i0) * kBc;
            for (int64_t j = j0; j < std::min(j1, i + 1); ++j) {
              const float c = scale * dSi[j - j0];
              const float* kr = k + ((off + j) * Hkv + g) * D;
              for (int64_t d = 0; d < D; ++d) dqi[d] += c * kr[d];
            }
          }
          // dk̂_j += scale · Σ_i dS_ij q̂_i ;  dv_j += Σ_i P_ij dO_i
          for (int64_t j = j0; j < j1; ++j) {
            float* dkj = dk + ((off + j) * Hkv + g) * D;
            float* dvj = dv + ((off + j) * Hkv + g) * D;
            for (int64_t i = std::max(i0, j); i < i1; ++i) {
              const float cs = scale * t.dP[size_t((i - i0) * kBc + (j - j0))];
              const float cp = t.S[size_t((i - i0) * kBc + (j - j0))];
              const float* qr = q + ((off + i) * Hq + h) * D;
              const float* gr = dout + ((off + i) * Hq + h) * D;
              for (int64_t d = 0; d < D; ++d) {
                dkj[d] += cs * qr[d];
                dvj[d] += cp * gr[d];
              }
            }
          }
        }
      }
    }
  });
}

}  // namespace lfm2::cpu
