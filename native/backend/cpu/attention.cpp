#include "backend/cpu/attention.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/threadpool.h"

namespace lfm2 {

namespace {

// One query row of one head: two passes over the visible keys (scores + max, then exp-weighted V sum).
void attend_row(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t n_vis, int64_t D,
                float scale, float* scores, float* out, float* lse) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n_vis; ++j) {
    const float* kr = k + j * kv_stride;
    float s = 0;
    for (int64_t d = 0; d < D; ++d) s += q[d] * kr[d];
    s *= scale;
    scores[j] = s;
    mx = s > mx ? s : mx;
  }
  float sum = 0;
  for (int64_t j = 0; j < n_vis; ++j) {
    float e = std::exp(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  for (int64_t d = 0; d < D; ++d) out[d] = 0;
  for (int64_t j = 0; j < n_vis; ++j) {
    const float p = scores[j];
    const float* vr = v + j * kv_stride;
    for (int64_t d = 0; d < D; ++d) out[d] += p * vr[d];
  }
  const float inv = 1.0f / sum;
  for (int64_t d = 0; d < D; ++d) out[d] *= inv;
  if (lse) *lse = mx + std::log(sum);
}

}  // namespace

void attention_forward(const std::vector<AttentionSeq>& seqs, const AttentionShape& sh) {
  LFM2_CHECK(sh.n_kv_heads > 0 && sh.n_heads % sh.n_kv_heads == 0, "attention: ", sh.n_heads,
             " query heads are not a multiple of ", sh.n_kv_heads, " KV heads");
  const int64_t group = sh.n_heads / sh.n_kv_heads;
  // Flatten (sequence, query row, head) into one index space so short decode chunks and long prefills share threads.
  std::vector<int64_t> first_item(seqs.size() + 1, 0);
  int64_t max_kv = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    LFM2_CHECK(seqs[s].n_q >= 0 && seqs[s].n_kv >= seqs[s].n_q, "attention: sequence ", s, " has ", seqs[s].n_q,
               " queries but only ", seqs[s].n_kv, " keys");
    first_item[s + 1] = first_item[s] + seqs[s].n_q * sh.n_heads;
    max_kv = seqs[s].n_kv > max_kv ? seqs[s].n_kv : max_kv;
  }
  const int64_t items = first_item.back();
  parallel_for(items, [&](int64_t i0, int64_t i1, int) {
    thread_local std::vector<float> scores;
    if (int64_t(scores.size()) < max_kv) scores.resize(size_t(max_kv));
    size_t s = 0;
    for (int64_t it = i0; it < i1; ++it) {
      while (it >= first_item[s + 1]) ++s;
      const AttentionSeq& a = seqs[s];
      const int64_t local = it - first_item[s];
      const int64_t row = local / sh.n_heads, head = local % sh.n_heads, g = head / group;
      const int64_t n_vis = a.n_kv - a.n_q + row + 1;
      attend_row(a.q + row * sh.q_stride + head * sh.head_dim, a.k + g * sh.head_dim, a.v + g * sh.head_dim,
                 sh.kv_stride, n_vis, sh.head_dim, sh.scale, scores.data(),
                 a.out + row * sh.out_stride + head * sh.head_dim, a.lse ? a.lse + row * sh.n_heads + head : nullptr);
    }
  });
}

}  // namespace lfm2
