#include "backend/cpu/backward/attention_backward.h"

#include <math.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "core/error.h"
#include "core/threadpool.h"

#define LFM2_ATTN_NS portable
#include "backend/cpu/backward/attention_tiles.inc"

namespace lfm2::cpu {
// The other builds of attention_tiles.inc (attention_backward_avx2.cpp, attention_backward_avx512.cpp).
#define LFM2_ATTN_DECLARE(NS)                                                                                       \
  namespace NS {                                                                                                    \
  void forward_rows(const AttentionFwdSeq& a, const AttentionFwdLayout& L, int64_t g, int64_t i0, int64_t i1,       \
                    const AttentionFwdScratch& t);                                                                  \
  void backward_pair(const AttentionShape& s, float scale, const int32_t* cu, int64_t sq, int64_t g, const float* q, \
                     const float* k, const float* v, const float* o, const float* lse, const float* dout, float* dq, \
                     float* dk, float* dv, const AttentionScratch& t);                                              \
  }
LFM2_ATTN_DECLARE(avx2)
LFM2_ATTN_DECLARE(avx512)
#undef LFM2_ATTN_DECLARE

namespace {

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

// Splits (sequence, KV head) pairs over the thread pool; each worker owns one scratch block.
void for_each_pair(const AttentionShape& s, int64_t nseq, const int32_t* cu,
                   const std::function<void(int64_t, int64_t, const AttentionScratch&)>& fn) {
  const int64_t D = s.head_dim, B = portable::kBr, group = s.q_heads / s.kv_heads;
  int64_t maxlen = 0;
  for (int64_t i = 0; i < nseq; ++i) maxlen = cu[i + 1] - cu[i] > maxlen ? cu[i + 1] - cu[i] : maxlen;
  parallel_for(nseq * s.kv_heads, [&](int64_t p0, int64_t p1, int) {
    std::vector<float> buf(size_t(2 * D * B + 2 * B * B + 6 * B * D + 3 * B + 2 * group * maxlen));
    float* b = buf.data();
    AttentionScratch t;
    t.kT = b, b += D * B;
    t.vT = b, b += D * B;
    t.S = b, b += B * B;
    t.dP = b, b += B * B;
    t.acc = b, b += B * D;
    t.dK = b, b += B * D;
    t.dV = b, b += B * D;
    t.qt = b, b += B * D;
    t.gt = b, b += B * D;
    t.kr = b, b += B * D;
    t.m = b, b += B;
    t.l = b, b += B;
    t.lse = b, b += B;
    t.lse_all = b, b += group * maxlen;
    t.Dt_all = b;
    for (int64_t p = p0; p < p1; ++p) fn(p / s.kv_heads, p % s.kv_heads, t);
  });
}

}  // namespace

SimdIsa attention_isa(SimdIsa want) { return simd_isa_choose(want, true, "attention"); }

void attention_forward_tiled(const std::vector<AttentionFwdSeq>& seqs, const AttentionFwdLayout& L) {
  LFM2_CHECK(L.q_heads > 0 && L.kv_heads > 0 && L.head_dim > 0 && L.q_heads % L.kv_heads == 0,
             "attention: bad shape Hq=", L.q_heads, " Hkv=", L.kv_heads, " D=", L.head_dim);
  const int64_t B = portable::kBr, D = L.head_dim, group = L.q_heads / L.kv_heads;
  LFM2_CHECK(L.ldq >= L.q_heads * D && L.ldo >= L.q_heads * D && L.ldk >= L.kv_heads * D &&
                 (L.ldl >= L.q_heads || L.ldl == 0),
             "attention: row strides smaller than the rows");
  const SimdIsa isa = attention_isa(L.isa);
  // Work items (sequence, KV head, 64-row query block), costliest first (cost ∝ rows × key tiles); threads take the
  // next one from a shared counter, so uneven sequences and a thread slowed by other load still balance.
  struct Item {
    int64_t s, g, i0, cost;
  };
  std::vector<Item> items;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const AttentionFwdSeq& a = seqs[s];
    LFM2_CHECK(a.n_q >= 0 && a.n_kv >= a.n_q, "attention: sequence ", s, " has ", a.n_q, " queries but only ",
               a.n_kv, " keys");
    for (int64_t i0 = 0; i0 < a.n_q; i0 += B) {
      const int64_t rows = a.n_q - i0 < B ? a.n_q - i0 : B, keys = a.n_kv - a.n_q + i0 + rows;
      for (int64_t g = 0; g < L.kv_heads; ++g) items.push_back({int64_t(s), g, i0, rows * ((keys + B - 1) / B)});
    }
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& x, const Item& y) { return x.cost > y.cost; });
  std::atomic<int64_t> next{0};
  const int64_t n_items = int64_t(items.size());
  const int64_t workers = n_items < num_threads() ? n_items : num_threads();
  parallel_for(workers, [&](int64_t, int64_t, int) {
    std::vector<float> buf(size_t(2 * D * B + B * B + 2 * group * B * D + 2 * group * B));
    float* b = buf.data();
    AttentionFwdScratch t;
    t.kT = b, b += D * B;
    t.vr = b, b += B * D;
    t.S = b, b += B * B;
    t.qt = b, b += group * B * D;
    t.acc = b, b += group * B * D;
    t.m = b, b += group * B;
    t.l = b;
    for (int64_t p = next++; p < n_items; p = next++) {
      const Item& it = items[size_t(p)];
      const AttentionFwdSeq& a = seqs[size_t(it.s)];
      const int64_t i1 = it.i0 + B < a.n_q ? it.i0 + B : a.n_q;
      switch (isa) {
        case SimdIsa::Avx512: avx512::forward_rows(a, L, it.g, it.i0, i1, t); break;
        case SimdIsa::Avx2: avx2::forward_rows(a, L, it.g, it.i0, i1, t); break;
        default: portable::forward_rows(a, L, it.g, it.i0, i1, t); break;
      }
    }
  });
}

void attention_forward_stats(const AttentionShape& s, int64_t nseq, const int32_t* cu, const float* q,
                             const float* k, const float* v, float* o, float* lse) {
  check_args(s, nseq, cu);
  const int64_t Hq = s.q_heads, Hkv = s.kv_heads, D = s.head_dim;
  std::vector<AttentionFwdSeq> seqs;
  for (int64_t i = 0; i < nseq; ++i) {
    const int64_t off = cu[i], n = cu[i + 1] - cu[i];
    seqs.push_back({q + off * Hq * D, k + off * Hkv * D, v + off * Hkv * D, o + off * Hq * D, lse + off * Hq, n, n});
  }
  attention_forward_tiled(seqs, {Hq, Hkv, D, Hq * D, Hkv * D, Hq * D, Hq, effective_scale(s), s.isa});
}

void attention_backward(const AttentionShape& s, int64_t nseq, const int32_t* cu, const float* q, const float* k,
                        const float* v, const float* o, const float* lse, const float* dout, float* dq, float* dk,
                        float* dv) {
  check_args(s, nseq, cu);
  const float scale = effective_scale(s);
  const SimdIsa isa = attention_isa(s.isa);
  for_each_pair(s, nseq, cu, [&](int64_t sq, int64_t g, const AttentionScratch& t) {
    switch (isa) {
      case SimdIsa::Avx512: avx512::backward_pair(s, scale, cu, sq, g, q, k, v, o, lse, dout, dq, dk, dv, t); break;
      case SimdIsa::Avx2: avx2::backward_pair(s, scale, cu, sq, g, q, k, v, o, lse, dout, dq, dk, dv, t); break;
      default: portable::backward_pair(s, scale, cu, sq, g, q, k, v, o, lse, dout, dq, dk, dv, t); break;
    }
  });
}

}  // namespace lfm2::cpu
