#pragma once
// The LFM2 weight set, loaded from model.safetensors (or a sharded model.safetensors.index.json) with HF names.
// Storage policy: the large matrices (embedding, every linear) are held in the chosen dtype (BF16 or FP32);
// the small vectors (all norm weights and the [C,3] conv kernels) are always FP32 (a BF16 source upcasts exactly).
// Buffers are 64-byte aligned and owned here, so a trainer may update them in place.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"
#include "model/config.h"

namespace lfm2 {

struct AlignedFree {
  void operator()(void* p) const;
};

struct WeightTensor {
  std::string name;            // HF name, e.g. "model.layers.0.conv.in_proj.weight"
  std::vector<int64_t> shape;  // as held here (the conv kernel is squeezed to [C, 3])
  DType dtype = DType::F32;
  std::string source;          // file it was read from ("" when not from a file)
  std::unique_ptr<uint8_t[], AlignedFree> buf;

  int64_t numel() const;
  size_t bytes() const { return size_t(numel()) * (dtype == DType::F32 ? 4 : 2); }
  void* data() { return buf.get(); }
  const void* data() const { return buf.get(); }
  float* f32() { return reinterpret_cast<float*>(buf.get()); }
  const float* f32() const { return reinterpret_cast<const float*>(buf.get()); }
  void allocate();  // (re)allocates bytes() aligned bytes, uninitialised
};

struct Lfm2LayerWeights {
  bool is_attention = false;
  WeightTensor operator_norm;  // [C] f32
  // short-conv layers
  WeightTensor conv_in_proj;   // [3C, C]   rows: B | C | X
  WeightTensor conv_kernel;    // [C, 3] f32 (HF [C, 1, 3])
  WeightTensor conv_out_proj;  // [C, C]
  // attention layers
  WeightTensor q_proj;         // [H*D, C]
  WeightTensor k_proj;         // [KVH*D, C]
  WeightTensor v_proj;         // [KVH*D, C]
  WeightTensor out_proj;       // [C, H*D]
  WeightTensor q_norm;         // [D] f32
  WeightTensor k_norm;         // [D] f32
  // every layer
  WeightTensor ffn_norm;       // [C] f32
  WeightTensor w1;             // [F, C] gate
  WeightTensor w3;             // [F, C] up
  WeightTensor w2;             // [C, F] down
};

struct Lfm2Weights {
  DType dtype = DType::BF16;   // dtype of the large matrices
  WeightTensor embed;          // [V, C] model.embed_tokens.weight (also the LM head when tied)
  WeightTensor final_norm;     // [C] f32 model.embedding_norm.weight (the FINAL norm, docs/lfm2.md §6.1)
  WeightTensor lm_head;        // [V, C] only when the file has an untied lm_head.weight (else empty)
  std::vector<Lfm2LayerWeights> layers;

  const WeightTensor& head() const { return lm_head.buf ? lm_head : embed; }
  // Every tensor in HF order (for listing, parameter counts, checkpoint writing).
  std::vector<const WeightTensor*> all() const;
  std::vector<WeightTensor*> all();
  int64_t parameter_count() const;
};

enum class WeightDTypeChoice { Auto, BF16, F32 };  // Auto = the file's dtype (BF16 stays BF16, anything else F32)

// Loads every tensor of the model in `dir`, checks each shape against `cfg` (naming tensor and file on any
// mismatch), rejects unknown tensors, accepts a missing lm_head.weight (tied head). cfg.ff_dim is set from the
// w1 tensor shape when it disagrees with the config rule (tensor shapes win, docs/lfm2.md §6.2).
Lfm2Weights load_lfm2_weights(const std::string& dir, Lfm2Config& cfg, WeightDTypeChoice choice);

}  // namespace lfm2
