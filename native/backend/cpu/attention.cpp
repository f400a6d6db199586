#include "backend/cpu/attention.h"

#include <cmath>
#include <vector>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/backward/attention_backward.h"
#include "backend/cpu/cpu_features.h"
#include "core/error.h"
#include "core/threadpool.h"

// Two paths with the same math:
//  * row path (decode, short chunks): one work item per (sequence, query row, KV head) computes the scores of the
//    group's query heads against the visible keys, the softmax and the weighted V sum; items run in parallel.
//  * tile path (training and prefill chunks of ≥ kBlockMinRows queries): the FlashAttention-2 forward of
//    backward/attention_tiles.inc (64×64 tiles, register-blocked tile products, online softmax with a vectorised
//    exp), work items (sequence, KV head, 64-row query block) in parallel.
namespace lfm2 {

namespace attention_kernels {

void attend_group_portable(const float* q, const float* k, const float* v, int64_t kv_stride, int64_t n_vis,
                           int64_t D, int64_t G, float scale, float* scores, float* out, float* lse) {
  for (int64_t g = 0; g < G; ++g) {
    const float* qg = q + g * D;
    float* sg = scores + g * n_vis;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_vis; ++j) {
      const float* kr = k + j * kv_stride;
      float s = 0;
      for (int64_t d = 0; d < D; ++d) s += qg[d] * kr[d];
      sg[j] = s * scale;
      mx = sg[j] > mx ? sg[j] : mx;
    }
    float sum = 0;
    for (int64_t j = 0; j < n_vis; ++j) {
      float e = std::exp(sg[j] - mx);
      sg[j] = e;
      sum += e;
    }
    if (lse) lse[g] = mx + std::log(sum);
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < n_vis; ++j) sg[j] *= inv;
  }
  for (int64_t i = 0; i < G * D; ++i) out[i] = 0;
  for (int64_t j = 0; j < n_vis; ++j) {
    const float* vr = v + j * kv_stride;
    for (int64_t g = 0; g < G; ++g) {
      const float p = scores[g * n_vis + j];
      for (int64_t d = 0; d < D; ++d) out[g * D + d] += p * vr[d];
    }
  }
}

}  // namespace attention_kernels

namespace {

constexpr int64_t kBlockMinRows = 32;  // chunks with at least this many queries take the tile path

}  // namespace

void attention_forward(const std::vector<AttentionSeq>& seqs, const AttentionShape& sh) {
  LFM2_CHECK(sh.n_kv_heads > 0 && sh.n_heads % sh.n_kv_heads == 0, "attention: ", sh.n_heads,
             " query heads are not a multiple of ", sh.n_kv_heads, " KV heads");
  const int64_t group = sh.n_heads / sh.n_kv_heads, D = sh.head_dim;
  const SimdIsa isa = cpu::attention_isa(sh.isa);
  const bool avx2 = isa != SimdIsa::Portable && D % 8 == 0;  // the row kernel's AVX2 build also serves AVX-512
  auto row_kernel = avx2 ? attention_kernels::attend_group_avx2 : attention_kernels::attend_group_portable;

  // Long chunks: tile path, all of them in one parallel loop.
  std::vector<cpu::AttentionFwdSeq> tiled;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const AttentionSeq& a = seqs[s];
    LFM2_CHECK(a.n_q >= 0 && a.n_kv >= a.n_q, "attention: sequence ", s, " has ", a.n_q, " queries but only ",
               a.n_kv, " keys");
    if (a.n_q >= kBlockMinRows) tiled.push_back({a.q, a.k, a.v, a.out, a.lse, a.n_q, a.n_kv});
  }
  if (!tiled.empty())
    cpu::attention_forward_tiled(tiled, {sh.n_heads, sh.n_kv_heads, D, sh.q_stride, sh.kv_stride, sh.out_stride,
                                         sh.n_heads, sh.scale, isa});

  // Short chunks: flatten (sequence, query row, KV head) so many one-token decodes share the threads.
  std::vector<int64_t> first_item(seqs.size() + 1, 0);
  int64_t max_kv = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int64_t rows = seqs[s].n_q >= kBlockMinRows ? 0 : seqs[s].n_q;
    first_item[s + 1] = first_item[s] + rows * sh.n_kv_heads;
    max_kv = seqs[s].n_kv > max_kv ? seqs[s].n_kv : max_kv;
  }
  const int64_t items = first_item.back();
  if (items == 0) return;
  parallel_for(items, [&](int64_t i0, int64_t i1, int) {
    thread_local std::vector<float> scratch;
    if (int64_t(scratch.size()) < group * max_kv) scratch.resize(size_t(group * max_kv));
    size_t s = 0;
    for (int64_t it = i0; it < i1; ++it) {
      while (it >= first_item[s + 1]) ++s;
      const AttentionSeq& a = seqs[s];
      const int64_t local = it - first_item[s];
      const int64_t row = local / sh.n_kv_heads, g = local % sh.n_kv_heads;
      const int64_t n_vis = a.n_kv - a.n_q + row + 1;
      // The group's query heads are contiguous in q, out and lse rows.
      row_kernel(a.q + row * sh.q_stride + g * group * D, a.k + g * D, a.v + g * D, sh.kv_stride, n_vis, D, group,
                 sh.scale, scratch.data(), a.out + row * sh.out_stride + g * group * D,
                 a.lse ? a.lse + row * sh.n_heads + g * group : nullptr);
    }
  });
}

}  // namespace lfm2
