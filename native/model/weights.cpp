#include "model/weights.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/json.h"
#include "io/safetensors.h"

namespace lfm2 {

void AlignedFree::operator()(void* p) const { std::free(p); }

int64_t WeightTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void WeightTensor::allocate() {
  constexpr size_t kHugePage = size_t(2) << 20;
  const size_t n = (bytes() + 63) / 64 * 64;
  // Tensors of at least one 2 MiB page start on a page boundary and their whole pages are advised as transparent
  // huge pages (where the kernel offers them): decode streams every weight once per token, and with 4 KiB pages
  // that is a TLB miss every 4 KiB. On Zen 4 the small-M GEMMs then read 1.1-1.3x the bytes per second. Untouched
  // space past the tensor's end is never faulted in.
  const bool huge = n >= kHugePage;
  void* p = huge ? std::aligned_alloc(kHugePage, (n + kHugePage - 1) / kHugePage * kHugePage)
                 : std::aligned_alloc(64, n == 0 ? 64 : n);
  LFM2_CHECK(p != nullptr, "out of memory allocating ", bytes(), " bytes for ", name);
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, n / kHugePage * kHugePage, MADV_HUGEPAGE);  // advisory: failure leaves 4 KiB pages
#endif
  buf.reset(static_cast<uint8_t*>(p));
}

std::vector<const WeightTensor*> Lfm2Weights::all() const {
  std::vector<const WeightTensor*> out{&embed};
  for (const auto& l : layers) {
    out.push_back(&l.operator_norm);
    if (l.is_attention) {
      for (const WeightTensor* t : {&l.q_proj, &l.k_proj, &l.v_proj, &l.out_proj, &l.q_norm, &l.k_norm}) out.push_back(t);
    } else {
      for (const WeightTensor* t : {&l.conv_in_proj, &l.conv_kernel, &l.conv_out_proj}) out.push_back(t);
    }
    for (const WeightTensor* t : {&l.ffn_norm, &l.w1, &l.w3, &l.w2}) out.push_back(t);
  }
  out.push_back(&final_norm);
  if (lm_head.buf) out.push_back(&lm_head);
  return out;
}

std::vector<WeightTensor*> Lfm2Weights::all() {
  std::vector<WeightTensor*> out;
  for (const WeightTensor* t : static_cast<const Lfm2Weights*>(this)->all()) out.push_back(const_cast<WeightTensor*>(t));
  return out;
}

int64_t Lfm2Weights::parameter_count() const {
  int64_t n = 0;
  for (const WeightTensor* t : all()) n += t->numel();
  return n;
}

namespace {

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LFM2_CHECK(f.good(), "cannot open ", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// name -> the shard that holds it.
struct TensorSource {
  std::shared_ptr<io::SafetensorsFile> file;
  const io::TensorInfo* info = nullptr;
};

class Loader {
 public:
  Loader(const std::string& dir) {
    const std::string single = dir + "/model.safetensors";
    const std::string index = dir + "/model.safetensors.index.json";
    std::vector<std::string> shards;
    if (file_exists(single)) {
      shards.push_back(single);
    } else if (file_exists(index)) {
      json::Value root = json::parse(read_text(index));
      LFM2_CHECK(root.is_object() && root.has("weight_map") && root.get("weight_map").is_object(), index,
                 ": missing \"weight_map\" object");
      std::set<std::string> seen;
      for (const auto& kv : root.get("weight_map").items()) {
        LFM2_CHECK(kv.second.is_string(), index, ": weight_map entry for ", kv.first, " is not a file name");
        const std::string& f = kv.second.as_string();
        LFM2_CHECK(f.find('/') == std::string::npos && f.find("..") == std::string::npos, index,
                   ": shard name '", f, "' must be a plain file name");
        if (seen.insert(f).second) shards.push_back(dir + "/" + f);
      }
      LFM2_CHECK(!shards.empty(), index, ": weight_map is empty");
    } else {
      fail("no model.safetensors or model.safetensors.index.json in ", dir);
    }
    for (const auto& path : shards) {
      auto f = io::SafetensorsFile::open(path);
      for (const auto& t : f->tensors()) {
        LFM2_CHECK(!sources_.count(t.name), "tensor ", t.name, " appears in both ", sources_[t.name].file->path(),
                   " and ", path);
        sources_[t.name] = TensorSource{f, &t};
      }
      files_.push_back(f);
    }
  }

  const TensorSource* find(const std::string& name) const {
    auto it = sources_.find(name);
    return it == sources_.end() ? nullptr : &it->second;
  }

  const TensorSource& require(const std::string& name) const {
    const TensorSource* s = find(name);
    if (!s) {
      std::string where = files_.size() == 1 ? files_[0]->path() : std::to_string(files_.size()) + " shards";
      fail("missing tensor ", name, " in ", where);
    }
    return *s;
  }

  // Reads `name` (whose file shape must equal one of `accepted` shapes) into a tensor held as `shape` / `dtype`.
  void load(WeightTensor& out, const std::string& name, const std::vector<int64_t>& shape, DType dtype,
            const std::vector<std::vector<int64_t>>& accepted_file_shapes = {}) {
    const TensorSource& s = require(name);
    const auto& file_shape = s.info->shape;
    bool ok = file_shape == shape;
    for (const auto& a : accepted_file_shapes) ok = ok || file_shape == a;
    LFM2_CHECK(ok, "tensor ", name, " in ", s.file->path(), " has shape ", shape_str(file_shape), ", expected ",
               shape_str(shape));
    LFM2_CHECK(s.info->dtype == io::StDType::F32 || s.info->dtype == io::StDType::BF16 ||
                   s.info->dtype == io::StDType::F16,
               "tensor ", name, " in ", s.file->path(), " has dtype ", s.info->dtype_str, "; expected F32, BF16 or F16");
    out.name = name;
    out.shape = shape;
    out.dtype = dtype;
    out.source = s.file->path();
    out.allocate();
    if (dtype == DType::F32)
      s.file->read_f32(name, file_shape, out.f32());
    else
      s.file->read_bf16(name, file_shape, reinterpret_cast<uint16_t*>(out.data()));
    used_.insert(name);
  }

  io::StDType dtype_of(const std::string& name) const { return require(name).info->dtype; }
  std::vector<int64_t> shape_of(const std::string& name) const { return require(name).info->shape; }

  void check_all_used() const {
    for (const auto& kv : sources_)
      LFM2_CHECK(used_.count(kv.first), "unexpected tensor ", kv.first, " in ", kv.second.file->path(),
                 " (not part of an LFM2 model with this config)");
  }

 private:
  std::vector<std::shared_ptr<io::SafetensorsFile>> files_;
  std::map<std::string, TensorSource> sources_;
  std::set<std::string> used_;
};

}  // namespace

Lfm2Weights load_lfm2_weights(const std::string& dir, Lfm2Config& cfg, WeightDTypeChoice choice) {
  Loader ld(dir);
  const int64_t C = cfg.hidden_size, V = cfg.vocab_size, H = cfg.num_heads, KVH = cfg.num_kv_heads,
                D = cfg.head_dim;
  Lfm2Weights w;
  const std::string embed_name = "model.embed_tokens.weight";
  if (choice == WeightDTypeChoice::Auto)
    w.dtype = ld.dtype_of(embed_name) == io::StDType::BF16 ? DType::BF16 : DType::F32;
  else
    w.dtype = choice == WeightDTypeChoice::BF16 ? DType::BF16 : DType::F32;
  const DType big = w.dtype;

  // Tensor shapes win over the config's FFN numbers (mis-converted configs exist, docs/lfm2.md §6.2).
  if (cfg.num_layers > 0) {
    auto s = ld.shape_of("model.layers.0.feed_forward.w1.weight");
    LFM2_CHECK(s.size() == 2 && s[1] == C && s[0] > 0, "tensor model.layers.0.feed_forward.w1.weight has shape ",
               shape_str(s), ", expected [ff, ", C, "]");
    cfg.ff_dim = s[0];
  }
  const int64_t F = cfg.ff_dim;

  ld.load(w.embed, embed_name, {V, C}, big);
  ld.load(w.final_norm, "model.embedding_norm.weight", {C}, DType::F32);
  if (ld.find("lm_head.weight")) ld.load(w.lm_head, "lm_head.weight", {V, C}, big);

  w.layers.resize(size_t(cfg.num_layers));
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    auto& L = w.layers[size_t(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    L.is_attention = cfg.is_attention[size_t(l)];
    ld.load(L.operator_norm, p + "operator_norm.weight", {C}, DType::F32);
    if (L.is_attention) {
      ld.load(L.q_proj, p + "self_attn.q_proj.weight", {H * D, C}, big);
      ld.load(L.k_proj, p + "self_attn.k_proj.weight", {KVH * D, C}, big);
      ld.load(L.v_proj, p + "self_attn.v_proj.weight", {KVH * D, C}, big);
      ld.load(L.out_proj, p + "self_attn.out_proj.weight", {C, H * D}, big);
      ld.load(L.q_norm, p + "self_attn.q_layernorm.weight", {D}, DType::F32);
      ld.load(L.k_norm, p + "self_attn.k_layernorm.weight", {D}, DType::F32);
    } else {
      ld.load(L.conv_in_proj, p + "conv.in_proj.weight", {3 * C, C}, big);
      ld.load(L.conv_kernel, p + "conv.conv.weight", {C, cfg.conv_L_cache}, DType::F32, {{C, 1, cfg.conv_L_cache}});
      ld.load(L.conv_out_proj, p + "conv.out_proj.weight", {C, C}, big);
    }
    ld.load(L.ffn_norm, p + "ffn_norm.weight", {C}, DType::F32);
    ld.load(L.w1, p + "feed_forward.w1.weight", {F, C}, big);
    ld.load(L.w3, p + "feed_forward.w3.weight", {F, C}, big);
    ld.load(L.w2, p + "feed_forward.w2.weight", {C, F}, big);
  }
  ld.check_all_used();
  return w;
}

}  // namespace lfm2
