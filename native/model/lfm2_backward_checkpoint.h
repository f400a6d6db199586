#pragma once
// Activation checkpointing for training (TRL's gradient_checkpointing): the forward keeps only each layer's input
// x_in [T, C] (plus the final residual stream and hidden states); the backward recomputes one layer's activations at
// a time into a single slot right before that layer's backward. Memory: L·T·C + one layer's activations instead of
// every layer's (~16× less at LFM2-350M shapes), for one extra forward of the block stack.
//
// The layer forward here runs the same kernels in the same order as Lfm2Model::forward (docs/lfm2.md §3, fresh sequences,
// adapter hook after each block linear); test/train-grad.test.ts checks that checkpointed gradients equal the plain
// ones.
#include <cstdint>
#include <vector>

#include "model/lfm2.h"
#include "model/lfm2_backward.h"

namespace lfm2 {

struct CheckpointedActivations {
  int64_t T = 0;
  std::vector<int64_t> chunk_offset;      // [nseq + 1]
  std::vector<int32_t> tokens, positions;  // [T]
  std::vector<float> x_in;                // [L, T, C] input of every layer
  std::vector<float> x_final, hidden;     // [T, C] last residual stream, final-norm output
  std::vector<float> rstd_final;          // [T]
  std::vector<float> rope_cos, rope_sin;  // [T, D/2]
  std::vector<float> slot;                // one layer's activations (both layer kinds' fields)
  LayerActivations la;                    // pointers into slot (x_in points into x_in)
  std::vector<SeqChunk> chunks;           // the forward's chunks (fresh sequences; token memory owned by the caller)
};

// Forward over fresh sequences keeping only the checkpoints. Token memory of `chunks` must outlive the backward.
void checkpointed_forward(const Lfm2Model& model, const std::vector<SeqChunk>& chunks, CheckpointedActivations& ck,
                          const ForwardOptions& opts);

// The backward view whose layer(l) recomputes layer l (with the same options, adapter included) into the slot.
BackwardView checkpointed_view(const Lfm2Model& model, CheckpointedActivations& ck, const ForwardOptions& opts);

}  // namespace lfm2
