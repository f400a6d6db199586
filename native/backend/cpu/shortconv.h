#pragma once
// Gated short convolution core (docs/lfm2.md §3.3, §3.6), everything between in_proj and out_proj:
//   z = [B | C | X]  (in_proj output, that chunk order)
//   u = B ⊙ X
//   v[t,c] = Σ_{k=0..2} K[c,k] · u[t−2+k, c]      tap 2 = current token; no activation
//   y = C ⊙ v
// Incremental decoding uses the llama.cpp shift register: per sequence and conv layer a state
// S = [u_{t−2}; u_{t−1}] ([2, C], zeros for a fresh sequence) is prepended to the chunk and replaced by the chunk's
// last two u values afterwards, so prefill, chunked prefill and single-token decode are one code path.
#include <cstdint>
#include <vector>

namespace lfm2 {

constexpr int kConvTaps = 3;  // conv_L_cache; the state holds kConvTaps - 1 = 2 values per channel

struct ShortConvSeq {
  const float* z;  // [n, 3C] rows of the packed in_proj output, row stride z_stride
  float* y;        // [n, C] output rows, row stride y_stride
  float* state;    // [2, C] row 0 = u_{t-2}, row 1 = u_{t-1}; nullptr = fresh sequence (zeros), nothing kept
  int64_t n;       // tokens in this chunk (≥ 1)
};

// kernel: [C, 3] (the HF [C, 1, 3] weight squeezed). Sequences are independent; work is split over
// (sequence, channel block) so a batched decode of many one-token chunks still uses every thread.
void shortconv_forward(const std::vector<ShortConvSeq>& seqs, const float* kernel, int64_t C, int64_t z_stride,
                       int64_t y_stride);

}  // namespace lfm2
