#include "backend/cpu/backward/attention_backward.h"

#include <math.h>
#include <string.h>

#include <cmath>
#include <functional>
#include <vector>

#include "backend/cpu/cpu_features.h"
#include "core/error.h"
#include "core/threadpool.h"

#define LFM2_ATTN_NS portable
#include "backend/cpu/backward/attention_tiles.inc"

namespace lfm2::cpu {
namespace avx512 {
void forward_pair(const AttentionShape& s, float scale, const int32_t* cu, int64_t sq, int64_t g, const float* q,
                  const float* k, const float* v, float* o, float* lse, const AttentionScratch& t);
void backward_pair(const AttentionShape& s, float scale, const int32_t* cu, int64_t sq, int64_t g, const float* q,
                   const float* k, const float* v, const float* o, const float* lse, const float* dout, float* dq,
                   float* dk, float* dv, const AttentionScratch& t);
}  // namespace avx512

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

bool use_avx512() {
  return cpu_features().has_avx512();  // every flag the *_avx512.cpp files are compiled with
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

void attention_forward_stats(const AttentionShape& s, int64_t nseq, const int32_t* cu, const float* q,
                             const float* k, const float* v, float* o, float* lse) {
  check_args(s, nseq, cu);
  const float scale = effective_scale(s);
  const bool simd = !s.portable && use_avx512();
  for_each_pair(s, nseq, cu, [&](int64_t sq, int64_t g, const AttentionScratch& t) {
    if (simd) avx512::forward_pair(s, scale, cu, sq, g, q, k, v, o, lse, t);
    else portable::forward_pair(s, scale, cu, sq, g, q, k, v, o, lse, t);
  });
}

void attention_backward(const AttentionShape& s, int64_t nseq, const int32_t* cu, const float* q, const float* k,
                        const float* v, const float* o, const float* lse, const float* dout, float* dq, float* dk,
                        float* dv) {
  check_args(s, nseq, cu);
  const float scale = effective_scale(s);
  const bool simd = !s.portable && use_avx512();
  for_each_pair(s, nseq, cu, [&](int64_t sq, int64_t g, const AttentionScratch& t) {
    if (simd) avx512::backward_pair(s, scale, cu, sq, g, q, k, v, o, lse, dout, dq, dk, dv, t);
    else portable::backward_pair(s, scale, cu, sq, g, q, k, v, o, lse, dout, dq, dk, dv, t);
  });
}

}  // namespace lfm2::cpu
