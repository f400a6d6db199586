#include "model/train_state.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/bf16.h"
#include "core/error.h"
#include "core/json.h"
#include "core/threadpool.h"
#include "io/safetensors.h"

namespace lfm2 {
namespace {

const char* kStateFile = "optimizer.safetensors";
const char* kStateJson = "trainer_state.json";
const char* kAdapterFile = "adapter_model.safetensors";
const std::string kPeftPrefix = "base_model.model.";

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LFM2_CHECK(f.good(), "cannot open ", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    LFM2_CHECK(f.good(), "cannot write ", tmp);
    f << text;
    LFM2_CHECK(f.good(), "error writing ", tmp);
  }
  LFM2_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename ", tmp, " to ", path);
}

const char* mode_name(TrainMode m) { return m == TrainMode::Full ? "full" : "lora"; }

// Checks that tensor `name` exists in f as F32 with `size` elements.
void require_f32(const io::SafetensorsFile& f, const std::string& name, int64_t size) {
  const io::TensorInfo* t = f.find(name);
  LFM2_CHECK(t, f.path(), ": missing tensor ", name);
  LFM2_CHECK(t->dtype == io::StDType::F32 && t->numel() == size, f.path(), ": tensor ", name, " should be F32 with ",
             size, " elements, has ", t->dtype_str, " with ", t->numel());
}

const LoraAdapter& require_lora(TrainStateAccess& tr, const char* what) {
  const LoraAdapter* l = tr.lora();
  LFM2_CHECK(l, what, ": the trainer is not in LoRA mode");
  return *l;
}

std::string lora_key(const LoraModule& m, int ab) { return m.path + (ab == 0 ? ".lora_A.weight" : ".lora_B.weight"); }

}  // namespace

void save_trainer_state(TrainStateAccess& tr, const std::string& dir, const std::string& extra_json) {
  json::parse(extra_json);  // must be valid JSON (kept as a string, handed back verbatim on load)
  const std::vector<StateArrays> ps = tr.current_state();
  std::vector<io::TensorToWrite> ts;
  for (const auto& p : ps) {
    ts.push_back({p.name, io::StDType::F32, {p.size}, p.weight});
    ts.push_back({p.name + ".exp_avg", io::StDType::F32, {p.size}, p.exp_avg});
    ts.push_back({p.name + ".exp_avg_sq", io::StDType::F32, {p.size}, p.exp_avg_sq});
  }
  io::write_safetensors(dir + "/" + kStateFile, ts, {{"format", "pt"}});
  std::string j = "{\"format\":\"lfm2-rl-trainer\",\"version\":1,\"mode\":\"";
  j += mode_name(tr.mode());
  j += "\",\"global_step\":" + std::to_string(tr.step_count()) + ",\"extra\":";
  json::append_quoted(j, extra_json);
  j += "}\n";
  write_text(dir + "/" + kStateJson, j);
}

std::string load_trainer_state(TrainStateAccess& tr, const std::string& dir) {
  const std::string jpath = dir + "/" + kStateJson;
  json::Value root = json::parse(read_text(jpath));
  LFM2_CHECK(root.is_object() && root.has("format") && root.get("format").is_string() &&
                 root.get("format").as_string() == "lfm2-rl-trainer",
             jpath, ": not an lfm2-rl trainer state");
  LFM2_CHECK(root.get("version").as_int() == 1, jpath, ": unsupported version");
  const std::string mode = root.get("mode").as_string();
  LFM2_CHECK(mode == mode_name(tr.mode()), jpath, ": state was saved in ", mode, " mode, the trainer is in ",
             mode_name(tr.mode()), " mode");
  const int64_t step = root.get("global_step").as_int();
  LFM2_CHECK(step >= 0, jpath, ": negative global_step");
  auto f = io::SafetensorsFile::open(dir + "/" + kStateFile);
  const std::vector<StateArrays> ps = tr.load_buffers();
  // Check everything before changing anything.
  for (const auto& p : ps) {
    require_f32(*f, p.name, p.size);
    require_f32(*f, p.name + ".exp_avg", p.size);
    require_f32(*f, p.name + ".exp_avg_sq", p.size);
  }
  LFM2_CHECK(f->tensors().size() == 3 * ps.size(), f->path(), ": holds ", f->tensors().size(), " tensors, expected ",
             3 * ps.size(), " (a different model or adapter?)");
  for (const auto& p : ps) {
    f->read_f32(p.name, {p.size}, p.weight);
    f->read_f32(p.name + ".exp_avg", {p.size}, p.exp_avg);
    f->read_f32(p.name + ".exp_avg_sq", {p.size}, p.exp_avg_sq);
  }
  tr.commit_state();
  tr.set_step_count(step);
  return root.get("extra").as_string();
}

void save_hf_model(TrainStateAccess& tr, const std::string& dir) {
  Lfm2Weights& w = tr.weights();
  const LoraAdapter* lora = tr.lora();
  // A merged adapter is already in the base weights.
  const bool fold = lora && !lora->merged();
  std::vector<std::vector<uint16_t>> owned;
  owned.reserve(w.all().size());
  std::vector<io::TensorToWrite> ts;
  for (WeightTensor* t : w.all()) {
    std::vector<int64_t> shape = t->shape;
    if (t->name.find(".conv.conv.weight") != std::string::npos)
      shape = {t->shape[0], 1, t->shape[1]};  // HF layout [C, 1, 3]
    const LoraModule* m = fold ? lora->find(*t) : nullptr;
    const float* live = tr.live_weight(*t);
    if (t->dtype == DType::BF16 && !m && !live) {
      ts.push_back({t->name, io::StDType::BF16, shape, t->data()});
      continue;
    }
    owned.emplace_back(size_t(t->numel()));
    uint16_t* out = owned.back().data();
    const int64_t n = t->numel();
    const int64_t cols = t->shape.size() == 2 ? t->shape[1] : n;
    const float s = lora ? lora->scale() : 0.f;
    const int64_t r = lora ? lora->rank() : 0;
    const float* A = m ? tr.parameter(lora_key(*m, 0)) : nullptr;
    const float* B = m ? tr.parameter(lora_key(*m, 1)) : nullptr;
    parallel_for(n / cols, [&](int64_t r0, int64_t r1, int) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t o = r0; o < r1; ++o) {
        for (int64_t i = 0; i < cols; ++i)
          row[size_t(i)] = live                      ? live[o * cols + i]
                           : t->dtype == DType::F32 ? t->f32()[o * cols + i]
                                                    : bf16_to_f32(static_cast<const uint16_t*>(t->data())[o * cols + i]);
        if (m)
          for (int64_t j = 0; j < r; ++j) {
            const float b = s * B[o * r + j];
            const float* a = A + j * cols;
            for (int64_t i = 0; i < cols; ++i) row[size_t(i)] += b * a[i];
          }
        for (int64_t i = 0; i < cols; ++i) out[o * cols + i] = f32_to_bf16(row[size_t(i)]);
      }
    });
    ts.push_back({t->name, io::StDType::BF16, shape, out});
  }
  io::write_safetensors(dir + "/model.safetensors", ts, {{"format", "pt"}});
}

void save_peft_adapter(TrainStateAccess& tr, const std::string& dir) {
  const LoraAdapter& lora = require_lora(tr, "save adapter");
  std::vector<io::TensorToWrite> ts;
  for (const auto& m : lora.modules()) {
    ts.push_back({kPeftPrefix + lora_key(m, 0), io::StDType::F32, {lora.rank(), m.in}, tr.parameter(lora_key(m, 0))});
    ts.push_back({kPeftPrefix + lora_key(m, 1), io::StDType::F32, {m.out, lora.rank()}, tr.parameter(lora_key(m, 1))});
  }
  io::write_safetensors(dir + "/" + kAdapterFile, ts, {{"format", "pt"}});
}

void load_peft_adapter(TrainStateAccess& tr, const std::string& dir) {
  const LoraAdapter& lora = require_lora(tr, "load adapter");
  LFM2_CHECK(!lora.merged(), "load adapter: unmerge the current adapter first");
  auto f = io::SafetensorsFile::open(dir + "/" + kAdapterFile);
  const int64_t r = lora.rank();
  for (const auto& m : lora.modules()) {
    for (int ab = 0; ab < 2; ++ab) {
      const std::string key = kPeftPrefix + lora_key(m, ab);
      const io::TensorInfo* t = f->find(key);
      LFM2_CHECK(t, f->path(), ": missing tensor ", key, " (the adapter config and file disagree?)");
      const std::vector<int64_t> want = ab == 0 ? std::vector<int64_t>{r, m.in} : std::vector<int64_t>{m.out, r};
      LFM2_CHECK(t->shape == want, f->path(), ": tensor ", key, " has the wrong shape for rank ", r);
    }
  }
  LFM2_CHECK(f->tensors().size() == 2 * lora.modules().size(), f->path(), ": holds ", f->tensors().size(),
             " tensors but the adapter config selects ", lora.modules().size(), " modules (",
             2 * lora.modules().size(), " tensors)");
  std::vector<std::pair<std::string, std::vector<float>>> vals;
  for (const auto& m : lora.modules()) {
    std::vector<float> A(size_t(r * m.in)), B(size_t(m.out * r));
    f->read_f32(kPeftPrefix + lora_key(m, 0), {r, m.in}, A.data());
    f->read_f32(kPeftPrefix + lora_key(m, 1), {m.out, r}, B.data());
    vals.emplace_back(lora_key(m, 0), std::move(A));
    vals.emplace_back(lora_key(m, 1), std::move(B));
  }
  tr.set_parameters(vals);
}

}  // namespace lfm2
