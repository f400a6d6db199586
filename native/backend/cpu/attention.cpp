#include "backend/cpu/attention.h"

#include <cmath>
#include <vector>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "core/threadpool.h"

// Two paths with the same math:
//  * row path (decode, short chunks): one work item per (sequence, query row, KV head) computes the scores of the
//    group's query heads against the visible keys, the softmax and the weighted V sum; items run in parallel.
//  * block path (prefill chunks of ≥ kBlockMinRows queries): per (sequence, query head, block of query rows)
//    S = Q·Kᵀ and O = P·V are GEMMs (the GEMM threads itself), restricted to the keys visible to the block's last
//    row, with the causal softmax in between. Quadratic-in-T work then runs at GEMM speed.
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

constexpr int64_t kBlockMinRows = 32;  // chunks with at least this many queries take the GEMM block path
constexpr int64_t kBlockRows = 128;    // query rows per block (S scratch = kBlockRows × n_kv floats)

// Softmax of one score row in place over its n_vis visible entries (scaled), zeroing the masked tail up to n_cols.
void softmax_row(float* s, int64_t n_vis, int64_t n_cols, float scale, float* lse) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n_vis; ++j) {
    s[j] *= scale;
    mx = s[j] > mx ? s[j] : mx;
  }
  float sum = 0;
  for (int64_t j = 0; j < n_vis; ++j) {
    float e = std::exp(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n_vis; ++j) s[j] *= inv;
  for (int64_t j = n_vis; j < n_cols; ++j) s[j] = 0;
  if (lse) *lse = mx + std::log(sum);
}

void block_path(const AttentionSeq& a, const AttentionShape& sh, std::vector<float>& S) {
  const int64_t group = sh.n_heads / sh.n_kv_heads, D = sh.head_dim;
  S.resize(size_t(kBlockRows * a.n_kv));
  for (int64_t h = 0; h < sh.n_heads; ++h) {
    const int64_t g = h / group;
    for (int64_t i0 = 0; i0 < a.n_q; i0 += kBlockRows) {
      const int64_t i1 = i0 + kBlockRows < a.n_q ? i0 + kBlockRows : a.n_q;
      const int64_t M = i1 - i0;
      const int64_t first_vis = a.n_kv - a.n_q + i0 + 1;  // keys visible to row i0
      const int64_t n_cols = a.n_kv - a.n_q + i1;         // keys visible to the block's last row
      // S[M, n_cols] = Q_blk · K_gᵀ
      gemm_nt(M, n_cols, D, a.q + i0 * sh.q_stride + h * D, sh.q_stride, a.k + g * D, DType::F32, sh.kv_stride,
              S.data(), n_cols, 0.f);
      parallel_for(M, [&](int64_t r0, int64_t r1, int) {
        for (int64_t r = r0; r < r1; ++r)
          softmax_row(S.data() + r * n_cols, first_vis + r, n_cols, sh.scale,
                      a.lse ? a.lse + (i0 + r) * sh.n_heads + h : nullptr);
      }, 8);
      // O_blk[M, D] = P · V_g
      gemm_nn(M, D, n_cols, S.data(), n_cols, a.v + g * D, DType::F32, sh.kv_stride,
              a.out + i0 * sh.out_stride + h * D, sh.out_stride, 0.f);
    }
  }
}

}  // namespace

void attention_forward(const std::vector<AttentionSeq>& seqs, const AttentionShape& sh) {
  LFM2_CHECK(sh.n_kv_heads > 0 && sh.n_heads % sh.n_kv_heads == 0, "attention: ", sh.n_heads,
             " query heads are not a multiple of ", sh.n_kv_heads, " KV heads");
  const int64_t group = sh.n_heads / sh.n_kv_heads, D = sh.head_dim;
  const bool avx2 = cpu_features().has_avx2_fma() && D % 8 == 0;
  auto row_kernel = avx2 ? attention_kernels::attend_group_avx2 : attention_kernels::attend_group_portable;

  // Long chunks: block path, one sequence after another (each GEMM uses every thread).
  std::vector<float> S;
  for (size_t s = 0; s < seqs.size(); ++s) {
    LFM2_CHECK(seqs[s].n_q >= 0 && seqs[s].n_kv >= seqs[s].n_q, "attention: sequence ", s, " has ", seqs[s].n_q,
               " queries but only ", seqs[s].n_kv, " keys");
    if (seqs[s].n_q >= kBlockMinRows) block_path(seqs[s], sh, S);
  }

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
