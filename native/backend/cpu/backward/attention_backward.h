#pragma once
// Causal GQA attention backward over a ragged batch of packed sequences (docs/lfm2.md §3.4, §4).
//
// Forward, per sequence, query head h, KV head g = h / (Hq/Hkv), query row i, key row j ≤ i (positions restart at 0
// in every sequence, so a token only sees earlier tokens of its own sequence):
//   S_ij = scale · q̂_i·k̂_j      P_i = softmax_j(S_i)      O_i = Σ_j P_ij v_j      lse_i = log Σ_j exp(S_ij)
// Backward (FlashAttention-2 form):
//   D_i   = dO_i·O_i                           (= rowsum(dP ⊙ P))
//   dP_ij = dO_i·v_j
//   dS_ij = P_ij (dP_ij − D_i)
//   dq̂_i  = scale · Σ_j dS_ij k̂_j
//   dk̂_j  = scale · Σ_{i, both query heads of the group} dS_ij q̂_i
//   dv_j  = Σ_{i, both query heads} P_ij dO_i
// P is rebuilt tile by tile (64 query rows × 64 keys) from lse, so no T×T matrix is ever held. When lse or O is not
// given, a forward pass over the same tiles (online softmax) recomputes them first, one query block at a time.
// The loops run key tile by key tile: dK̂/dv of a tile accumulate in scratch over all query tiles of the group and
// are written once. The tile products are register-blocked AVX-512 kernels where head_dim is 16, 32, 48 or 64;
// the same loops are built a second time with AVX2+FMA flags (8-wide blocks) for CPUs without AVX-512, and a third
// time portable (4-wide blocks).
// Work is split over (sequence, KV head) pairs: each pair owns its dk̂/dv rows and the dq̂ rows of its query heads,
// so threads never write the same memory.
//
// Gradient accumulation policy: dq, dk, dv are activation gradients and are written (=).
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_features.h"

namespace lfm2::cpu {

struct AttentionShape {
  int64_t tokens = 0;    // T: packed tokens of all sequences
  int64_t q_heads = 0;   // Hq
  int64_t kv_heads = 0;  // Hkv (divides Hq)
  int64_t head_dim = 0;  // D
  float scale = 0.f;     // score scale; 0 → 1/sqrt(D)
  SimdIsa isa = SimdIsa::Auto;  // which build of the tile loops runs (tests force each one the CPU has)
};

// Per-thread scratch of the tiled kernels (sizes for Br = Bc = 64): kT, vT [D, 64]; S, dP [64, 64]; acc, dK, dV,
// qt, gt, kr [64, D]; m, l, lse [64]; lse_all, Dt_all [group, longest sequence]. Allocated by attention_backward, one
// per worker thread.
struct AttentionScratch {
  float *kT, *vT, *S, *dP, *acc, *dK, *dV, *qt, *gt, *kr, *m, *l, *lse, *lse_all, *Dt_all;
};

// cu_seqlens: [nseq+1] offsets of each sequence in the packed token axis (cu_seqlens[0] = 0, last = T).
// q, o, dout, dq: [T, Hq, D]   k, v, dk, dv: [T, Hkv, D]
// lse: [T, Hq] natural-log softmax normaliser of the scaled scores, or nullptr; o may be nullptr (both recomputed).
void attention_backward(const AttentionShape& shape, int64_t nseq, const int32_t* cu_seqlens, const float* q,
                        const float* k, const float* v, const float* o, const float* lse, const float* dout,
                        float* dq, float* dk, float* dv);

// Forward with softmax statistics (same tiling): o [T, Hq, D] and lse [T, Hq]. Used by the backward's recompute
// path and by tests that need O and lse consistent with the backward.
void attention_forward_stats(const AttentionShape& shape, int64_t nseq, const int32_t* cu_seqlens, const float* q,
                             const float* k, const float* v, float* o, float* lse);

// ---- Tiled causal forward (training and prefill) -------------------------------------------------------------
// The same tiles as above, online softmax (FlashAttention-2 forward): per (sequence, KV head, block of 64 query rows)
// the group's query heads run over the key tiles in order, so no score row longer than 64 is ever held. Sequences may
// bring a cached prefix: query i sits at position n_kv − n_q + i and sees keys 0 ..= that position.
struct AttentionFwdSeq {
  const float* q;  // [n_q rows, stride ldq], query head h at column h·D
  const float* k;  // [n_kv rows, stride ldk], KV head g at column g·D
  const float* v;  // as k
  float* o;        // [n_q rows, stride ldo], as q
  float* lse;      // [n_q rows, stride ldl], column h; optional (nullptr)
  int64_t n_q = 0, n_kv = 0;
};
struct AttentionFwdLayout {
  int64_t q_heads = 0, kv_heads = 0, head_dim = 0;
  int64_t ldq = 0, ldk = 0, ldo = 0, ldl = 0;
  float scale = 0.f;
  SimdIsa isa = SimdIsa::Auto;
};
// Scratch of one worker: kT [D, 64], vr [64, D], S [64, 64], qt and acc [group, 64, D], m and l [group, 64].
struct AttentionFwdScratch {
  float *kT, *vr, *S, *qt, *acc, *m, *l;
};

void attention_forward_tiled(const std::vector<AttentionFwdSeq>& seqs, const AttentionFwdLayout& layout);

// The tile loops build a run with `want` resolves to: Auto → the widest the CPU has; a forced one the CPU lacks is
// an error (LFM2_CHECK), never an illegal instruction.
SimdIsa attention_isa(SimdIsa want);

}  // namespace lfm2::cpu
