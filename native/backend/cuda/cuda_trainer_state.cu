#include "backend/cuda/cuda_trainer_state.cuh"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "core/bf16.h"
#include "core/error.h"
#include "core/json.h"
#include "io/safetensors.h"

namespace lfm2::cuda {
namespace {

// The names and layout of native/model/train_state.cpp (kept identical so the files are interchangeable).
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

void require_f32(const io::SafetensorsFile& f, const std::string& name, int64_t size) {
  const io::TensorInfo* t = f.find(name);
  LFM2_CHECK(t, f.path(), ": missing tensor ", name);
  LFM2_CHECK(t->dtype == io::StDType::F32 && t->numel() == size, f.path(), ": tensor ", name, " should be F32 with ",
             size, " elements, has ", t->dtype_str, " with ", t->numel());
}

const LoraAdapter& require_lora(CudaTrainer& tr, const char* what) {
  const LoraAdapter* l = tr.lora_layout();
  LFM2_CHECK(l, what, ": the trainer is not in LoRA mode");
  return *l;
}

}  // namespace

void save_cuda_trainer_state(CudaTrainer& tr, const std::string& dir, const std::string& extra_json) {
  json::parse(extra_json);  // must be valid JSON (kept as a string, handed back verbatim on load)
  const std::vector<CudaTrainer::HostParam> ps = tr.export_state();
  std::vector<io::TensorToWrite> ts;
  for (const auto& p : ps) {
    const int64_t n = int64_t(p.weight.size());
    ts.push_back({p.name, io::StDType::F32, {n}, p.weight.data()});
    ts.push_back({p.name + ".exp_avg", io::StDType::F32, {n}, p.exp_avg.data()});
    ts.push_back({p.name + ".exp_avg_sq", io::StDType::F32, {n}, p.exp_avg_sq.data()});
  }
  io::write_safetensors(dir + "/" + kStateFile, ts, {{"format", "pt"}});
  std::string j = "{\"format\":\"lfm2-rl-trainer\",\"version\":1,\"mode\":\"";
  j += mode_name(tr.mode());
  j += "\",\"global_step\":" + std::to_string(tr.step_count()) + ",\"extra\":";
  json::append_quoted(j, extra_json);
  j += "}\n";
  write_text(dir + "/" + kStateJson, j);
}

std::string load_cuda_trainer_state(CudaTrainer& tr, const std::string& dir) {
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
  std::vector<CudaTrainer::HostParam> ps;
  for (const std::string& name : tr.parameter_names()) {
    const io::TensorInfo* t = f->find(name);
    LFM2_CHECK(t, f->path(), ": missing tensor ", name);
    const int64_t n = t->numel();
    require_f32(*f, name, n);
    require_f32(*f, name + ".exp_avg", n);
    require_f32(*f, name + ".exp_avg_sq", n);
    CudaTrainer::HostParam p;
    p.name = name;
    p.weight.resize(size_t(n));
    p.exp_avg.resize(size_t(n));
    p.exp_avg_sq.resize(size_t(n));
    ps.push_back(std::move(p));
  }
  LFM2_CHECK(f->tensors().size() == 3 * ps.size(), f->path(), ": holds ", f->tensors().size(), " tensors, expected ",
             3 * ps.size(), " (a different model or adapter?)");
  for (auto& p : ps) {
    const int64_t n = int64_t(p.weight.size());
    f->read_f32(p.name, {n}, p.weight.data());
    f->read_f32(p.name + ".exp_avg", {n}, p.exp_avg.data());
    f->read_f32(p.name + ".exp_avg_sq", {n}, p.exp_avg_sq.data());
  }
  tr.import_state(ps);  // checks every size against the trainer before changing anything
  tr.set_step_count(step);
  return root.get("extra").as_string();
}

void save_cuda_hf_model(CudaTrainer& tr, const std::string& dir) {
  Lfm2Weights& w = tr.host().weights();
  const LoraAdapter* lora = tr.lora_layout();
  // Live values: Full mode → every master from the device; LoRA → the (unchanged) host base plus the device A/B.
  std::map<std::string, std::vector<float>> live;
  if (lora) {
    for (const auto& m : lora->modules()) {
      live[m.path + ".lora_A.weight"] = tr.parameter(m.path + ".lora_A.weight");
      live[m.path + ".lora_B.weight"] = tr.parameter(m.path + ".lora_B.weight");
    }
  }
  std::vector<std::vector<uint16_t>> owned;
  owned.reserve(w.all().size());
  std::vector<io::TensorToWrite> ts;
  for (WeightTensor* t : w.all()) {
    std::vector<int64_t> shape = t->shape;
    if (t->name.find(".conv.conv.weight") != std::string::npos) shape = {t->shape[0], 1, t->shape[1]};  // HF [C,1,3]
    const LoraModule* m = lora ? lora->find(*t) : nullptr;
    if (!lora || m || t->dtype != DType::BF16) {
      owned.emplace_back(size_t(t->numel()));
      uint16_t* out = owned.back().data();
      const int64_t n = t->numel();
      std::vector<float> src;
      if (!lora) {
        src = tr.parameter(t->name);
      } else {
        src.resize(size_t(n));
        for (int64_t i = 0; i < n; ++i)
          src[size_t(i)] = t->dtype == DType::F32 ? t->f32()[i] : bf16_to_f32(static_cast<const uint16_t*>(t->data())[i]);
      }
      if (m) {
        const std::vector<float>& A = live[m->path + ".lora_A.weight"];
        const std::vector<float>& B = live[m->path + ".lora_B.weight"];
        const int64_t r = lora->rank(), cols = m->in;
        const float s = lora->scale();
        for (int64_t o = 0; o < m->out; ++o)
          for (int64_t j = 0; j < r; ++j) {
            const float b = s * B[size_t(o * r + j)];
            const float* a = A.data() + j * cols;
            float* row = src.data() + o * cols;
            for (int64_t i = 0; i < cols; ++i) row[i] += b * a[i];
          }
      }
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(src[size_t(i)]);
      ts.push_back({t->name, io::StDType::BF16, shape, out});
    } else {
      ts.push_back({t->name, io::StDType::BF16, shape, t->data()});
    }
  }
  io::write_safetensors(dir + "/model.safetensors", ts, {{"format", "pt"}});
}

void save_cuda_peft_adapter(CudaTrainer& tr, const std::string& dir) {
  const LoraAdapter& lora = require_lora(tr, "save adapter");
  std::vector<std::vector<float>> owned;
  owned.reserve(2 * lora.modules().size());
  std::vector<io::TensorToWrite> ts;
  for (const auto& m : lora.modules()) {
    owned.push_back(tr.parameter(m.path + ".lora_A.weight"));
    ts.push_back({kPeftPrefix + m.path + ".lora_A.weight", io::StDType::F32, {lora.rank(), m.in}, owned.back().data()});
    owned.push_back(tr.parameter(m.path + ".lora_B.weight"));
    ts.push_back({kPeftPrefix + m.path + ".lora_B.weight", io::StDType::F32, {m.out, lora.rank()}, owned.back().data()});
  }
  io::write_safetensors(dir + "/" + kAdapterFile, ts, {{"format", "pt"}});
}

void load_cuda_peft_adapter(CudaTrainer& tr, const std::string& dir) {
  const LoraAdapter& lora = require_lora(tr, "load adapter");
  auto f = io::SafetensorsFile::open(dir + "/" + kAdapterFile);
  const int64_t r = lora.rank();
  for (const auto& m : lora.modules()) {
    for (int ab = 0; ab < 2; ++ab) {
      const std::string key = kPeftPrefix + m.path + (ab == 0 ? ".lora_A.weight" : ".lora_B.weight");
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
    f->read_f32(kPeftPrefix + m.path + ".lora_A.weight", {r, m.in}, A.data());
    f->read_f32(kPeftPrefix + m.path + ".lora_B.weight", {m.out, r}, B.data());
    vals.emplace_back(m.path + ".lora_A.weight", std::move(A));
    vals.emplace_back(m.path + ".lora_B.weight", std::move(B));
  }
  for (const auto& [name, v] : vals) tr.set_parameter(name, v);
  tr.zero_grad();
}

}  // namespace lfm2::cuda
