#include "model/lora.h"

#include <cstring>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "model/lora_math.h"

namespace lfm2 {
namespace {

struct Candidate {
  std::string path;
  WeightTensor* W;
};

// Adaptable linears of every layer, in layer order.
std::vector<Candidate> candidates(Lfm2Weights* w, const Lfm2Config& cfg) {
  std::vector<Candidate> out;
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Lfm2LayerWeights* L = w ? &w->layers[size_t(l)] : nullptr;
    auto add = [&](const char* name, WeightTensor Lfm2LayerWeights::*field) {
      out.push_back(Candidate{p + name, L ? &(L->*field) : nullptr});
    };
    if (cfg.is_attention[size_t(l)]) {
      add("self_attn.q_proj", &Lfm2LayerWeights::q_proj);
      add("self_attn.k_proj", &Lfm2LayerWeights::k_proj);
      add("self_attn.v_proj", &Lfm2LayerWeights::v_proj);
      add("self_attn.out_proj", &Lfm2LayerWeights::out_proj);
    } else {
      add("conv.in_proj", &Lfm2LayerWeights::conv_in_proj);
      add("conv.out_proj", &Lfm2LayerWeights::conv_out_proj);
    }
    add("feed_forward.w1", &Lfm2LayerWeights::w1);
    add("feed_forward.w2", &Lfm2LayerWeights::w2);
    add("feed_forward.w3", &Lfm2LayerWeights::w3);
  }
  return out;
}

bool suffix_match(const std::string& path, const std::string& target) {
  if (path == target) return true;
  return path.size() > target.size() && path.compare(path.size() - target.size(), target.size(), target) == 0 &&
         path[path.size() - target.size() - 1] == '.';
}

// FNV-1a of the module path mixed into the seed: each module's A has its own stream, independent of which other
// modules are adapted.
uint64_t module_seed(uint64_t seed, const std::string& path) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : path) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::vector<std::string> lora_candidate_paths(const Lfm2Config& cfg) {
  std::vector<std::string> out;
  for (const auto& c : candidates(nullptr, cfg)) out.push_back(c.path);
  return out;
}

LoraAdapter::LoraAdapter(Lfm2Weights& weights, const Lfm2Config& cfg, const LoraSpec& spec) : spec_(spec) {
  LFM2_CHECK(spec.rank >= 1, "LoRA rank must be >= 1, got ", spec.rank);
  LFM2_CHECK(spec.alpha > 0, "LoRA alpha must be > 0, got ", spec.alpha);
  scale_ = lora_scale(spec.alpha, spec.rank, spec.use_rslora);
  const auto cands = candidates(&weights, cfg);
  std::vector<bool> chosen(cands.size(), false);
  const std::string kinds = "q_proj, k_proj, v_proj, self_attn.out_proj (attention); in_proj, conv.out_proj (short "
                            "conv); w1, w2, w3 (feed-forward); out_proj means both kinds";
  if (!spec.target_regex.empty()) {
    std::regex re;
    try {
      re = std::regex(spec.target_regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      fail("LoRA target_modules regex '", spec.target_regex, "' is invalid: ", e.what());
    }
    for (size_t i = 0; i < cands.size(); ++i) chosen[i] = std::regex_match(cands[i].path, re);
  } else {
    LFM2_CHECK(!spec.target_list.empty(), "LoRA target_modules is empty (LFM2 modules: ", kinds, ")");
    for (const std::string& t : spec.target_list) {
      bool hit = false;
      for (size_t i = 0; i < cands.size(); ++i)
        if (suffix_match(cands[i].path, t)) chosen[i] = hit = true;
      LFM2_CHECK(hit, "LoRA target module '", t, "' matches no module of this model (LFM2 modules: ", kinds, ")");
    }
  }
  for (size_t i = 0; i < cands.size(); ++i) {
    if (!chosen[i]) continue;
    LoraModule m;
    m.path = cands[i].path;
    m.base = cands[i].W;
    m.out = m.base->shape[0];
    m.in = m.base->shape[1];
    m.A.assign(size_t(spec.rank * m.in), 0.f);
    m.B.assign(size_t(m.out * spec.rank), 0.f);
    m.dA.assign(m.A.size(), 0.f);
    m.dB.assign(m.B.size(), 0.f);
    lora_init(m.in, m.out, spec.rank, module_seed(spec.seed, m.path), m.A.data(), m.B.data());
    index_[m.base] = modules_.size();
    modules_.push_back(std::move(m));
  }
  LFM2_CHECK(!modules_.empty(), "LoRA target_modules regex '", spec.target_regex,
             "' matches no module of this model (module paths look like model.layers.2.self_attn.q_proj)");
}

LoraModule* LoraAdapter::find(const WeightTensor& W) {
  auto it = index_.find(&W);
  return it == index_.end() ? nullptr : &modules_[it->second];
}
const LoraModule* LoraAdapter::find(const WeightTensor& W) const {
  auto it = index_.find(&W);
  return it == index_.end() ? nullptr : &modules_[it->second];
}

int64_t LoraAdapter::parameter_count() const {
  int64_t n = 0;
  for (const auto& m : modules_) n += int64_t(m.A.size() + m.B.size());
  return n;
}

void LoraAdapter::after_linear(const WeightTensor& W, const float* x, int64_t T, float* y) const {
  const LoraModule* m = find(W);
  if (!m || merged()) return;
  if (xa_.size() < size_t(T * spec_.rank)) xa_.resize(size_t(T * spec_.rank));
  lora_forward(T, m->in, m->out, spec_.rank, scale_, x, m->A.data(), m->B.data(), xa_.data(), y);
}

void LoraAdapter::backward(const LoraModule& m, const float* x, const float* dy, int64_t T, float* dx) {
  // xa = x·Aᵀ is recomputed ([T, r], r·in FLOPs per row: cheap next to the base linear) instead of kept per module.
  std::vector<float> xa(size_t(T * spec_.rank));
  gemm_nt(T, spec_.rank, m.in, x, m.in, m.A.data(), DType::F32, m.in, xa.data(), spec_.rank, 0.f);
  LoraModule& mm = const_cast<LoraModule&>(m);
  lora_backward(T, m.in, m.out, spec_.rank, scale_, dy, x, xa.data(), m.A.data(), m.B.data(), mm.dA.data(),
                mm.dB.data(), dx);
}

void LoraAdapter::zero_grad() {
  for (auto& m : modules_) {
    std::fill(m.dA.begin(), m.dA.end(), 0.f);
    std::fill(m.dB.begin(), m.dB.end(), 0.f);
  }
}

void LoraAdapter::merge() {
  LFM2_CHECK(!merged(), "LoRA adapter is already merged");
  backup_.resize(modules_.size());
  for (size_t i = 0; i < modules_.size(); ++i) {
    LoraModule& m = modules_[i];
    const auto* p = static_cast<const uint8_t*>(m.base->data());
    backup_[i].assign(p, p + m.base->bytes());
  }
  for (auto& m : modules_)
    lora_merge(m.in, m.out, spec_.rank, scale_, m.A.data(), m.B.data(), m.base->data(), m.base->dtype, +1);
}

void LoraAdapter::unmerge() {
  LFM2_CHECK(merged(), "LoRA adapter is not merged");
  for (size_t i = 0; i < modules_.size(); ++i)
    std::memcpy(modules_[i].base->data(), backup_[i].data(), backup_[i].size());
  backup_.clear();
}

}  // namespace lfm2
