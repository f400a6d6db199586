#pragma once
// Work split of the small-M gemm_nt kernels (decode): tiles of NB weight rows over every part of a gemm_nt_multi
// call, in part order, handed to the thread pool in contiguous runs, so each thread streams one contiguous stretch
// of the weights and the whole call costs one pool hand-off. Included only by gemm_<isa>.cpp files (internal
// linkage: each is compiled with its file's instruction set).
#include <algorithm>
#include <cstdint>

#include "backend/cpu/gemm.h"
#include "core/threadpool.h"

namespace lfm2 {
namespace {

// tile(part, n, nb): rows [n, n + nb) of part's B against every row of A, nb ≤ NB.
template <int NB, class TileFn>
void run_part_tiles(int64_t M, int64_t K, const GemmNtPart* parts, int n_parts, const TileFn& tile) {
  int64_t first[kGemmMaxParts + 1];  // first tile of each part
  first[0] = 0;
  int64_t rows = 0;
  for (int p = 0; p < n_parts; ++p) {
    first[p + 1] = first[p] + (parts[p].N + NB - 1) / NB;
    rows += parts[p].N;
  }
  const int64_t tiles = first[n_parts];
  if (tiles == 0) return;
  // Below ~0.25 M multiply-adds the pool's hand-off costs more than it saves.
  const int64_t grain = M * rows * K < (int64_t(1) << 18) ? tiles : 1;
  parallel_for(
      tiles,
      [&](int64_t t0, int64_t t1, int) {
        int p = 0;
        for (int64_t t = t0; t < t1; ++t) {
          while (t >= first[p + 1]) ++p;
          const int64_t n = (t - first[p]) * NB;
          tile(parts[p], n, int(std::min<int64_t>(NB, parts[p].N - n)));
        }
      },
      grain);
}

}  // namespace
}  // namespace lfm2
