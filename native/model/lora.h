#pragma once
// LoRA adapters on LFM2's linear modules (docs/architecture.md §5), PEFT semantics: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with
// A [r, in], B [out, r], s = alpha/r (alpha/sqrt(r) with rsLoRA); A ~ kaiming_uniform(a=√5), B = 0.
//
// Adaptable modules (HF module paths, the weight name without ".weight"):
//   attention layers  model.layers.L.self_attn.{q_proj,k_proj,v_proj,out_proj}
//   short-conv layers model.layers.L.conv.{in_proj,out_proj}
//   every layer       model.layers.L.feed_forward.{w1,w2,w3}
// Target matching follows PEFT's check_target_module_exists:
//   - a list of names: a module matches an entry when its path equals it or ends with "." + entry. So 'out_proj'
//     hits both attention and conv out_proj, 'self_attn.out_proj' only the attention one, 'conv.out_proj' only the
//     conv one, and 'layers.3.feed_forward.w1' one module;
//   - a single regular expression (ECMAScript syntax): a module matches when the regex matches its whole path, e.g.
//     '.*\.(self_attn\.(q|k|v)_proj|conv\.out_proj)'.
// Stricter than PEFT (which only fails when nothing matches): every list entry must match at least one module, so a
// Llama name such as 'o_proj' or 'gate_proj' is an error instead of silently adapting fewer modules.
//
// The adapter is a LinearHook: the forward adds its term after each adapted base linear. The frozen base may stay
// BF16; A and B are FP32 and are the only trainable tensors. merge()/unmerge() fold s·B·A into the base weights for
// hook-free sampling; unmerge restores the exact original bytes (a copy is kept while merged).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/lfm2.h"

namespace lfm2 {

struct LoraSpec {
  int64_t rank = 8;
  float alpha = 16.f;
  bool use_rslora = false;
  std::vector<std::string> target_list;  // PEFT list form (used when target_regex is empty)
  std::string target_regex;              // PEFT string form (full-match regex)
  uint64_t seed = 0;                     // A init stream (each module derives its own from seed and its path)
};

struct LoraModule {
  std::string path;             // e.g. "model.layers.2.self_attn.q_proj"
  WeightTensor* base = nullptr; // the adapted weight [out, in]
  int64_t in = 0, out = 0;
  std::vector<float> A, B;      // [r, in], [out, r]
  std::vector<float> dA, dB;    // gradients (+=)
};

// Every adaptable module path of a model with this config, in layer order (for error messages and docs).
std::vector<std::string> lora_candidate_paths(const Lfm2Config& cfg);

class LoraAdapter : public LinearHook {
 public:
  // Selects the target modules of `weights` (throws naming bad entries and the valid names) and initialises A, B.
  LoraAdapter(Lfm2Weights& weights, const Lfm2Config& cfg, const LoraSpec& spec);

  const LoraSpec& spec() const { return spec_; }
  float scale() const { return scale_; }
  int64_t rank() const { return spec_.rank; }
  std::vector<LoraModule>& modules() { return modules_; }
  const std::vector<LoraModule>& modules() const { return modules_; }
  // The module adapting W, or nullptr.
  LoraModule* find(const WeightTensor& W);
  const LoraModule* find(const WeightTensor& W) const;
  int64_t parameter_count() const;

  // LinearHook: y [T, out] += s·(x·Aᵀ)·Bᵀ for adapted W (no-op for others).
  void after_linear(const WeightTensor& W, const float* x, int64_t T, float* y) const override;

  // Backward of the adapter term of one linear: dA, dB += and dx += (dx may be nullptr).
  void backward(const LoraModule& m, const float* x, const float* dy, int64_t T, float* dx);

  void zero_grad();
  bool merged() const { return !backup_.empty(); }
  void merge();    // W += s·B·A for every module (keeps the original bytes)
  void unmerge();  // restores the original bytes exactly

 private:
  LoraSpec spec_;
  float scale_ = 1.f;
  std::vector<LoraModule> modules_;
  std::map<const WeightTensor*, size_t> index_;
  std::vector<std::vector<uint8_t>> backup_;  // [modules] original weight bytes while merged
  mutable std::vector<float> xa_;             // [T, r] scratch of the forward hook
};

}  // namespace lfm2
