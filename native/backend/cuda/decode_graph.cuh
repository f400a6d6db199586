#pragma once
// The decode step of GPU generation: for B live sequences, one token each through every layer, the LM head and the
// sampling kernel, with only the sampled ids and their log-probs coming back. Every step's inputs (token ids,
// positions, KV/conv pointer tables, per-row sampling parameters with their uniforms, seen-id pushes) are written
// into ONE pinned host block and copied by ONE cudaMemcpyAsync into a device block at fixed addresses; the outputs
// come back the same way.
//
// CUDA graphs: the work between the two copies is captured once per row bucket Bb (B rounded up: exact up to 8,
// then multiples of 8), on the bucket's second step (its first runs directly, so anything that sizes itself on
// first use, like an adapter's scratch, does so outside the capture), and replayed every step after; rows [B, Bb) are padding (greedy, unconstrained, writing their KV
// and conv registers into scratch rows). Attention's grid is (rows, heads), independent of the KV lengths, so no
// length bucket is needed. A graph is valid while the buffers it reads stay where they were: growing a buffer,
// changing the model's LoRA adapter (Impl::adapter) or bumping Impl::graph_epoch drops every graph. With graphs off
// the very same enqueue function runs directly on the stream, so both paths compute identical results.
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "backend/cuda/cuda_model_impl.cuh"
#include "backend/cuda/sampling.cuh"
#include "model/sampler.h"

namespace lfm2::cuda {

// One live row of a step.
struct DecodeRow {
  CudaGenerationState* state = nullptr;  // the token goes to position state->length (room reserved by fork)
  int32_t token = 0;                     // input id (first-token sampling: index of the prompt logits row)
  SampleRowParams params;                // seen/allowed ranges index the tables set by set_tables
  int32_t seen_push = -1;                // id to store at seen[params.seen_end − 1] before sampling, −1 none
};

struct DecodeGraphStats {
  int64_t graphs = 0;    // graphs alive now
  int64_t captures = 0;  // since construction
  int64_t replays = 0;
  int64_t direct_steps = 0;  // steps enqueued without a graph (graphs off, or a bucket's first step)
};

class DecodeRunner {
 public:
  explicit DecodeRunner(CudaModel::Impl& m);
  ~DecodeRunner();
  DecodeRunner(const DecodeRunner&) = delete;
  DecodeRunner& operator=(const DecodeRunner&) = delete;

  static int64_t bucket(int64_t rows);

  // Sizes the buffers for up to `rows` live rows, `seen_ids` seen-list entries and `allowed_ids` allowed-list
  // entries (growth frees the graphs). Caller holds the model's mutex.
  void reserve(int64_t rows, int64_t seen_ids, int64_t allowed_ids);
  // Uploads the seen-id lists and the concatenated allowed-id lists (CSR children of every action trie).
  void set_tables(const std::vector<int32_t>& seen, const std::vector<int32_t>& allowed);

  // One decode step over rows (≤ reserved rows): forward + sample. Advances each state's length by one.
  void step(const std::vector<DecodeRow>& rows, bool use_graph, std::vector<TokenChoice>& out);
  // Samples without a forward, from rows of `logits` ([*, V] device): row r uses logits[rows[r].token, :].
  void sample_only(const float* logits, const std::vector<DecodeRow>& rows, std::vector<TokenChoice>& out);

  DecodeGraphStats stats() const;
  void drop_graphs();

 private:
  struct Layout;  // offsets of the step's input/output blocks for a bucket
  Layout layout(int64_t Bb) const;
  void fill_inputs(const std::vector<DecodeRow>& rows, int64_t Bb, bool forward);
  void finish(int64_t Bb, int64_t B, std::vector<TokenChoice>& out);
  void enqueue_forward_and_sample(int64_t Bb);
  void enqueue_sampling(int64_t Bb, const float* logits);

  CudaModel::Impl& m_;
  int64_t rows_cap_ = 0;
  DeviceBuffer in_dev_, out_dev_, iota_, kbuf_, vbuf_, scratch_, hr_, logits_, sample_scratch_;
  DeviceBuffer pad_kv_, pad_conv_;  // KV rows and conv registers of padding rows
  DeviceBuffer seen_, allowed_;
  void* in_host_ = nullptr;   // pinned
  void* out_host_ = nullptr;  // pinned
  size_t in_host_bytes_ = 0, out_host_bytes_ = 0;
  PassScratch pass_;
  std::map<int64_t, cudaGraphExec_t> graphs_;
  std::set<int64_t> warmed_;  // buckets that ran one direct step since the graphs were last dropped
  const CudaLinearAdapter* graph_adapter_ = nullptr;
  uint64_t graph_epoch_ = 0;
  DecodeGraphStats stats_;
};

}  // namespace lfm2::cuda
