#include "backend/cuda/cuda_trainer.cuh"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "backend/cuda/adamw.cuh"
#include "backend/cuda/convert.cuh"
#include "backend/cuda/cuda_backward.cuh"
#include "backend/cuda/cuda_lora.cuh"
#include "backend/cuda/cuda_loss_passes.cuh"
#include "backend/cuda/cuda_model_impl.cuh"
#include "backend/cuda/cuda_train_forward.cuh"
#include "backend/cuda/cuda_train_kernels.cuh"
#include "backend/cuda/grpo_loss.cuh"
#include "core/error.h"

namespace lfm2::cuda {
namespace {

// HF excludes norm weights from weight decay (same rule as the CPU trainer).
bool is_norm_weight(const std::string& name) { return name.find("norm") != std::string::npos; }

}  // namespace

// One trainable tensor on the device.
struct DevParam {
  std::string name;
  int64_t size = 0;
  bool decay = true;
  float* weight = nullptr;           // FP32 master
  float* grad = nullptr;             // FP32 gradient (+=)
  __nv_bfloat16* bf16 = nullptr;     // BF16 copy the GEMMs read, rewritten after each update (nullptr: none)
  DeviceBuffer master, grad_buf, exp_avg, exp_avg_sq;  // master/grad_buf empty when owned elsewhere
};

struct CudaTrainer::Impl {
  CudaModel::Impl& m;
  Lfm2Model& host;
  TrainerOptions opt;
  std::unique_ptr<LoraAdapter> host_lora;  // module layout and initial A/B (Lora mode)
  std::unique_ptr<CudaLora> lora;
  std::vector<DevParam> params;
  CudaGrads grads;
  float* dhead = nullptr;  // gradient of the LM head (tied: the embedding's), Full mode only
  int64_t step = 0;
  Arena arena;
  DeviceBuffer sumsq;      // [params] double

  Impl(CudaModel::Impl& mi, Lfm2Model& h, const TrainerOptions& o) : m(mi), host(h), opt(o) {}

  DevParam& find(const std::string& name) {
    for (auto& p : params)
      if (p.name == name) return p;
    fail("no trainable tensor named '", name, "'");
  }
};

CudaTrainer::CudaTrainer(CudaModel& model, Lfm2Model& host, const TrainerOptions& opt) {
  CudaModel::Impl& m = model.impl();
  std::lock_guard<std::mutex> lock(m.mu);
  LFM2_CHECK(opt.max_pass_tokens >= 0, "max_pass_tokens must be >= 0");
  const Lfm2Config& hc = host.config();
  LFM2_CHECK(hc.num_layers == m.cfg.num_layers && hc.hidden_size == m.cfg.hidden_size &&
                 hc.vocab_size == m.cfg.vocab_size,
             "CUDA trainer: the host weights do not belong to this CUDA model");
  impl_ = std::make_unique<Impl>(m, host, opt);
  Impl& t = *impl_;
  cudaStream_t st = m.stream;
  if (opt.mode == TrainMode::Lora) {
    t.host_lora = std::make_unique<LoraAdapter>(host.weights(), hc, opt.lora);
    t.lora = std::make_unique<CudaLora>(*t.host_lora, m.cfg, st);
    for (auto& lm : t.lora->modules()) {
      for (int ab = 0; ab < 2; ++ab) {
        DevParam p;
        p.name = lm.path + (ab == 0 ? ".lora_A.weight" : ".lora_B.weight");
        p.size = (ab == 0 ? t.lora->rank() * lm.in : lm.out * t.lora->rank());
        p.weight = (ab == 0 ? lm.A : lm.B).as<float>();
        p.grad = (ab == 0 ? lm.dA : lm.dB).as<float>();
        p.bf16 = (ab == 0 ? lm.A_bf : lm.B_bf).as<__nv_bfloat16>();
        t.params.push_back(std::move(p));
      }
    }
  } else {
    // Device buffer of each host tensor, and where its gradient pointer goes in CudaGrads.
    Lfm2Weights& w = host.weights();
    t.grads.layers.assign(size_t(m.cfg.num_layers), CudaGrads::Layer{});
    std::map<const WeightTensor*, std::pair<DeviceBuffer*, float**>> where;
    where[&w.embed] = {&m.embed, &t.grads.embed};
    where[&w.final_norm] = {&m.final_norm, &t.grads.final_norm};
    if (w.lm_head.buf) where[&w.lm_head] = {&m.head, &t.dhead};
    for (int64_t l = 0; l < m.cfg.num_layers; ++l) {
      Lfm2LayerWeights& H = w.layers[size_t(l)];
      DevLayer& D = m.layers[size_t(l)];
      CudaGrads::Layer& G = t.grads.layers[size_t(l)];
      where[&H.operator_norm] = {&D.op_norm, &G.op_norm};
      where[&H.ffn_norm] = {&D.ffn_norm, &G.ffn_norm};
      if (H.is_attention) {
        where[&H.q_proj] = {&D.q, &G.q};
        where[&H.k_proj] = {&D.k, &G.k};
        where[&H.v_proj] = {&D.v, &G.v};
        where[&H.out_proj] = {&D.o, &G.o};
        where[&H.q_norm] = {&D.q_norm, &G.q_norm};
        where[&H.k_norm] = {&D.k_norm, &G.k_norm};
      } else {
        where[&H.conv_in_proj] = {&D.conv_in, &G.conv_in};
        where[&H.conv_out_proj] = {&D.conv_out, &G.conv_out};
        where[&H.conv_kernel] = {&D.conv_kernel, &G.conv_kernel};
      }
      where[&H.w1] = {&D.w1, &G.w1};
      where[&H.w3] = {&D.w3, &G.w3};
      where[&H.w2] = {&D.w2, &G.w2};
    }
    for (WeightTensor* ht : w.all()) {
      auto it = where.find(ht);
      LFM2_CHECK(it != where.end(), "CUDA trainer: tensor ", ht->name, " has no device copy");
      DeviceBuffer& dev = *it->second.first;
      DevParam p;
      p.name = ht->name;
      p.size = ht->numel();
      p.decay = !is_norm_weight(ht->name);
      if (dev.bytes() == size_t(p.size) * 4) {  // FP32 on the device (norms, conv kernel): its own master
        p.weight = dev.as<float>();
      } else {
        LFM2_CHECK(dev.bytes() == size_t(p.size) * 2, "CUDA trainer: device copy of ", ht->name, " has ", dev.bytes(),
                   " bytes for ", p.size, " elements");
        p.master.resize(size_t(p.size) * 4);
        p.weight = p.master.as<float>();
        p.bf16 = dev.as<__nv_bfloat16>();
        if (ht->dtype == DType::F32)  // an FP32 file keeps its exact values as the master (like the CPU trainer)
          upload(p.weight, ht->data(), size_t(p.size) * 4, st);
        else
          bf16_to_f32(p.bf16, p.weight, p.size, st);
      }
      p.grad_buf.resize(size_t(p.size) * 4);
      p.grad = p.grad_buf.as<float>();
      *it->second.second = p.grad;
      t.params.push_back(std::move(p));
    }
    if (!w.lm_head.buf) t.dhead = t.grads.embed;
  }
  for (auto& p : t.params) {
    p.exp_avg.resize(size_t(p.size) * 4);
    p.exp_avg_sq.resize(size_t(p.size) * 4);
    CUDA_CHECK(cudaMemsetAsync(p.exp_avg.get(), 0, p.exp_avg.bytes(), st));
    CUDA_CHECK(cudaMemsetAsync(p.exp_avg_sq.get(), 0, p.exp_avg_sq.bytes(), st));
    CUDA_CHECK(cudaMemsetAsync(p.grad, 0, size_t(p.size) * 4, st));
  }
  t.sumsq.resize(std::max<size_t>(t.params.size(), 1) * sizeof(double));
  CUDA_CHECK(cudaStreamSynchronize(st));
  if (t.lora) {
    t.lora->prepare_hook(m.gemm.get(), &m.graph_epoch, 4096);
    m.adapter = t.lora.get();
    ++m.graph_epoch;  // a later adapter may reuse this one's address: graphs must not take it for the same one
  }
}

CudaTrainer::~CudaTrainer() {
  if (!impl_) return;
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  if (impl_->lora && impl_->m.adapter == impl_->lora.get()) {
    impl_->m.adapter = nullptr;
    ++impl_->m.graph_epoch;
  }
  cudaStreamSynchronize(impl_->m.stream);  // no kernel may still read buffers freed below
}

void CudaTrainer::validate(const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss) const {
  validate_train_batch(b, impl_->m.cfg.vocab_size, lo, for_loss);
  validate_device_batch(impl_->m.cfg, b, lo, for_loss);
}

MicroStepResult CudaTrainer::accumulate(const TrainBatch& b, const GrpoLossOptions& lo) {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  validate(b, lo, true);
  MicroStepResult res;
  const CudaPassBackward bw{impl_->grads, impl_->lora.get(), impl_->dhead, impl_->opt.checkpointing};
  run_device_loss_passes(impl_->m, b, lo, impl_->opt.max_pass_tokens, impl_->lora.get(), impl_->arena, &bw, res);
  return res;
}

MicroStepResult CudaTrainer::logprobs(const TrainBatch& b, bool use_adapter, float temperature) {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  GrpoLossOptions lo;
  lo.temperature = temperature;
  validate(b, lo, false);
  MicroStepResult res;
  run_device_loss_passes(impl_->m, b, lo, impl_->opt.max_pass_tokens, use_adapter ? impl_->lora.get() : nullptr,
                         impl_->arena, nullptr, res);
  return res;
}

void CudaTrainer::zero_grad() {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  for (auto& p : impl_->params) CUDA_CHECK(cudaMemsetAsync(p.grad, 0, size_t(p.size) * 4, impl_->m.stream));
  CUDA_CHECK(cudaStreamSynchronize(impl_->m.stream));
}

StepResult CudaTrainer::step() {
  Impl& t = *impl_;
  std::lock_guard<std::mutex> lock(t.m.mu);
  cudaStream_t st = t.m.stream;
  StepResult r;
  r.lr = lr_at(t.opt.schedule, t.step);
  const size_t P = t.params.size();
  // Per-tensor Σ g² (a NaN/Inf gradient makes its sum non-finite): the global norm and the first bad tensor.
  auto* sums = t.sumsq.as<double>();
  CUDA_CHECK(cudaMemsetAsync(sums, 0, P * sizeof(double), st));
  for (size_t i = 0; i < P; ++i) grad_sumsq(t.params[i].grad, t.params[i].size, sums + i, st);
  std::vector<double> h(P);
  CUDA_CHECK(cudaMemcpyAsync(h.data(), sums, P * sizeof(double), cudaMemcpyDeviceToHost, st));
  CUDA_CHECK(cudaStreamSynchronize(st));
  double total = 0;
  for (size_t i = 0; i < P; ++i) {
    if (!std::isfinite(h[i]) && r.adamw.bad_tensor < 0) r.adamw.bad_tensor = int64_t(i);
    total += h[i];
  }
  r.adamw.grad_norm = std::sqrt(total);
  if (r.adamw.bad_tensor >= 0 || !std::isfinite(r.adamw.grad_norm)) {
    r.adamw.skipped = true;
    if (r.adamw.bad_tensor >= 0) r.bad_tensor = t.params[size_t(r.adamw.bad_tensor)].name;
  } else {
    const AdamWConfig& c = t.opt.adamw;
    r.adamw.clip_coef = c.max_grad_norm > 0 ? std::min(1.0, c.max_grad_norm / (r.adamw.grad_norm + 1e-6)) : 1.0;
    AdamWParams p;
    p.lr = r.lr, p.beta1 = c.beta1, p.beta2 = c.beta2, p.eps = c.eps, p.clip_coef = r.adamw.clip_coef;
    p.step = t.step + 1;
    for (auto& q : t.params) {
      p.weight_decay = q.decay ? c.weight_decay : 0.0;
      adamw_update(q.weight, q.grad, q.exp_avg.as<float>(), q.exp_avg_sq.as<float>(), q.bf16, q.size, p, st);
    }
    ++t.step;
  }
  r.step = t.step;
  for (auto& q : t.params) CUDA_CHECK(cudaMemsetAsync(q.grad, 0, size_t(q.size) * 4, st));  // a skipped step too
  CUDA_CHECK(cudaStreamSynchronize(st));
  return r;
}

TrainMode CudaTrainer::mode() const { return impl_->opt.mode; }
const TrainerOptions& CudaTrainer::options() const { return impl_->opt; }
int64_t CudaTrainer::step_count() const { return impl_->step; }
void CudaTrainer::set_step_count(int64_t s) { impl_->step = s; }
const LoraAdapter* CudaTrainer::lora_layout() const { return impl_->host_lora.get(); }
Lfm2Model& CudaTrainer::host() { return impl_->host; }

int64_t CudaTrainer::trainable_parameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->params) n += p.size;
  return n;
}

std::vector<std::string> CudaTrainer::parameter_names() const {
  std::vector<std::string> out;
  for (const auto& p : impl_->params) out.push_back(p.name);
  return out;
}

std::vector<int64_t> CudaTrainer::parameter_sizes() const {
  std::vector<int64_t> out;
  for (const auto& p : impl_->params) out.push_back(p.size);
  return out;
}

std::vector<float> CudaTrainer::parameter(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  const DevParam& p = impl_->find(name);
  std::vector<float> out(size_t(p.size));
  download(out.data(), p.weight, out.size() * 4, impl_->m.stream);
  return out;
}

std::vector<float> CudaTrainer::gradient(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  const DevParam& p = impl_->find(name);
  std::vector<float> out(size_t(p.size));
  download(out.data(), p.grad, out.size() * 4, impl_->m.stream);
  return out;
}

void CudaTrainer::set_parameter(const std::string& name, const std::vector<float>& data) {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  DevParam& p = impl_->find(name);
  LFM2_CHECK(int64_t(data.size()) == p.size, "setParameter: ", name, " has ", p.size, " elements, got ", data.size());
  cudaStream_t st = impl_->m.stream;
  upload(p.weight, data.data(), data.size() * 4, st);
  if (p.bf16) f32_to_bf16(p.weight, p.bf16, p.size, st);
  CUDA_CHECK(cudaStreamSynchronize(st));
}

std::vector<CudaTrainer::HostParam> CudaTrainer::export_state() const {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  cudaStream_t st = impl_->m.stream;
  std::vector<HostParam> out;
  for (const auto& p : impl_->params) {
    HostParam h;
    h.name = p.name;
    h.weight.resize(size_t(p.size));
    h.exp_avg.resize(size_t(p.size));
    h.exp_avg_sq.resize(size_t(p.size));
    download(h.weight.data(), p.weight, size_t(p.size) * 4, st);
    download(h.exp_avg.data(), p.exp_avg.get(), size_t(p.size) * 4, st);
    download(h.exp_avg_sq.data(), p.exp_avg_sq.get(), size_t(p.size) * 4, st);
    out.push_back(std::move(h));
  }
  return out;
}

void CudaTrainer::import_state(const std::vector<HostParam>& ps) {
  std::lock_guard<std::mutex> lock(impl_->m.mu);
  auto& params = impl_->params;
  LFM2_CHECK(ps.size() == params.size(), "trainer state holds ", ps.size(), " tensors, the trainer has ",
             params.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    const HostParam& h = ps[i];
    const DevParam& p = params[i];
    LFM2_CHECK(h.name == p.name, "trainer state tensor ", i, " is ", h.name, ", expected ", p.name);
    LFM2_CHECK(int64_t(h.weight.size()) == p.size && int64_t(h.exp_avg.size()) == p.size &&
                   int64_t(h.exp_avg_sq.size()) == p.size,
               "trainer state tensor ", h.name, " has the wrong size (expected ", p.size, ")");
  }
  cudaStream_t st = impl_->m.stream;
  for (size_t i = 0; i < ps.size(); ++i) {
    DevParam& p = params[i];
    upload(p.weight, ps[i].weight.data(), size_t(p.size) * 4, st);
    upload(p.exp_avg.get(), ps[i].exp_avg.data(), size_t(p.size) * 4, st);
    upload(p.exp_avg_sq.get(), ps[i].exp_avg_sq.data(), size_t(p.size) * 4, st);
    if (p.bf16) f32_to_bf16(p.weight, p.bf16, p.size, st);
    CUDA_CHECK(cudaMemsetAsync(p.grad, 0, size_t(p.size) * 4, st));
  }
  CUDA_CHECK(cudaStreamSynchronize(st));
}

}  // namespace lfm2::cuda
