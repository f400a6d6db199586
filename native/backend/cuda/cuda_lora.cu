#include "backend/cuda/cuda_lora.cuh"

#include <algorithm>

#include "backend/cuda/convert.cuh"

namespace lfm2::cuda {

void lora_module_site(const std::string& path, int64_t& layer, LinearKind& kind) {
  const std::string pre = "model.layers.";
  LFM2_CHECK(path.compare(0, pre.size(), pre) == 0, "LoRA module path '", path, "' is not a layer module");
  size_t dot = path.find('.', pre.size());
  LFM2_CHECK(dot != std::string::npos, "LoRA module path '", path, "' has no module name");
  layer = std::stoll(path.substr(pre.size(), dot - pre.size()));
  const std::string name = path.substr(dot + 1);
  static const std::pair<const char*, LinearKind> kinds[] = {
      {"conv.in_proj", LinearKind::ConvIn},   {"conv.out_proj", LinearKind::ConvOut},
      {"self_attn.q_proj", LinearKind::Q},    {"self_attn.k_proj", LinearKind::K},
      {"self_attn.v_proj", LinearKind::V},    {"self_attn.out_proj", LinearKind::O},
      {"feed_forward.w1", LinearKind::W1},    {"feed_forward.w3", LinearKind::W3},
      {"feed_forward.w2", LinearKind::W2}};
  for (const auto& k : kinds)
    if (name == k.first) {
      kind = k.second;
      return;
    }
  fail("LoRA module path '", path, "' names no adaptable LFM2 linear");
}

CudaLora::CudaLora(const LoraAdapter& host, const Lfm2Config& cfg, cudaStream_t stream)
    : scale_(host.scale()), rank_(host.rank()) {
  const int64_t r = rank_;
  for (const LoraModule& hm : host.modules()) {
    CudaLoraModule m;
    m.path = hm.path;
    lora_module_site(hm.path, m.layer, m.kind);
    LFM2_CHECK(m.layer >= 0 && m.layer < cfg.num_layers, "LoRA module ", hm.path, " is outside the model");
    m.in = hm.in, m.out = hm.out;
    m.A.resize(size_t(r * m.in) * 4);
    m.B.resize(size_t(m.out * r) * 4);
    m.A_bf.resize(size_t(r * m.in) * 2);
    m.B_bf.resize(size_t(m.out * r) * 2);
    m.dA.resize(m.A.bytes());
    m.dB.resize(m.B.bytes());
    upload(m.A.get(), hm.A.data(), m.A.bytes(), stream);
    upload(m.B.get(), hm.B.data(), m.B.bytes(), stream);
    modules_.push_back(std::move(m));
  }
  refresh_bf16(stream);
  zero_grad(stream);
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

const CudaLoraModule* CudaLora::find(int64_t layer, LinearKind kind) const {
  for (const auto& m : modules_)
    if (m.layer == layer && m.kind == kind) return &m;
  return nullptr;
}

void CudaLora::prepare_hook(Gemm* g, uint64_t* graph_epoch, int64_t rows) {
  hook_gemm_ = g;
  graph_epoch_ = graph_epoch;
  const size_t need = size_t(std::max<int64_t>(rows, 1) * rank_) * 6;
  if (hook_scratch_.bytes() < need) hook_scratch_.resize(need);
}

void CudaLora::refresh_bf16(cudaStream_t stream) {
  for (auto& m : modules_) {
    f32_to_bf16(m.A.as<float>(), m.A_bf.as<__nv_bfloat16>(), rank_ * m.in, stream);
    f32_to_bf16(m.B.as<float>(), m.B_bf.as<__nv_bfloat16>(), m.out * rank_, stream);
  }
}

void CudaLora::zero_grad(cudaStream_t stream) {
  for (auto& m : modules_) {
    CUDA_CHECK(cudaMemsetAsync(m.dA.get(), 0, m.dA.bytes(), stream));
    CUDA_CHECK(cudaMemsetAsync(m.dB.get(), 0, m.dB.bytes(), stream));
  }
}

void lora_forward_device(const __nv_bfloat16* x, const __nv_bfloat16* A, const __nv_bfloat16* B, int64_t T,
                         int64_t in, int64_t out, int64_t r, float s, float* y, float* xa, __nv_bfloat16* xa_bf,
                         Gemm& gemm, cudaStream_t stream) {
  if (T <= 0) return;
  gemm.run(GemmShape{T, r, in, false, true, 1.f, 0.f}, x, A, xa, stream);  // xa = x·Aᵀ [T, r]
  f32_to_bf16(xa, xa_bf, T * r, stream);
  gemm.run(GemmShape{T, out, r, false, true, s, 1.f}, xa_bf, B, y, stream);  // y += s·xa·Bᵀ [T, out]
}

void lora_backward_device(const __nv_bfloat16* x, const __nv_bfloat16* dy, const __nv_bfloat16* A,
                          const __nv_bfloat16* B, int64_t T, int64_t in, int64_t out, int64_t r, float s, float* dA,
                          float* dB, float* dx, Gemm& gemm, Arena& arena, cudaStream_t stream) {
  if (T <= 0) return;
  float* xa = arena.take_n<float>(T * r);               // [T, r]
  auto* xa_bf = arena.take_n<__nv_bfloat16>(T * r);
  float* dxa = arena.take_n<float>(T * r);              // [T, r]
  auto* dxa_bf = arena.take_n<__nv_bfloat16>(T * r);
  gemm.run(GemmShape{T, r, in, false, true, 1.f, 0.f}, x, A, xa, stream);     // xa = x·Aᵀ
  f32_to_bf16(xa, xa_bf, T * r, stream);
  gemm.run(GemmShape{T, r, out, false, false, s, 0.f}, dy, B, dxa, stream);   // dxa = s·dy·B
  f32_to_bf16(dxa, dxa_bf, T * r, stream);
  gemm.run(GemmShape{out, r, T, true, false, s, 1.f}, dy, xa_bf, dB, stream);  // dB += s·dyᵀ·xa
  gemm.run(GemmShape{r, in, T, true, false, 1.f, 1.f}, dxa_bf, x, dA, stream);  // dA += dxaᵀ·x
  if (dx) gemm.run(GemmShape{T, in, r, false, false, 1.f, 1.f}, dxa_bf, A, dx, stream);  // dx += dxa·A
}

void CudaLora::after_linear(int64_t layer, LinearKind kind, const __nv_bfloat16* x, int64_t T, int64_t out,
                            int64_t in, float* y, cudaStream_t stream) const {
  const CudaLoraModule* m = find(layer, kind);
  if (!m || T <= 0) return;
  LFM2_CHECK(m->in == in && m->out == out, "LoRA module ", m->path, " is [", m->out, ", ", m->in,
             "] but the linear is [", out, ", ", in, "]");
  LFM2_CHECK(hook_gemm_, "LoRA inference hook has no GEMM handle");
  const size_t need = size_t(T * rank_) * 6;  // FP32 xa + BF16 xa
  if (hook_scratch_.bytes() < need) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream, &cs));
    LFM2_CHECK(cs == cudaStreamCaptureStatusNone, "LoRA hook: ", T, " rows exceed its scratch during graph capture");
    hook_scratch_.resize(need);
    if (graph_epoch_) ++*graph_epoch_;
  }
  float* xa = hook_scratch_.as<float>();
  auto* xa_bf = reinterpret_cast<__nv_bfloat16*>(xa + T * rank_);
  lora_forward_device(x, m->A_bf.as<__nv_bfloat16>(), m->B_bf.as<__nv_bfloat16>(), T, m->in, m->out, rank_, scale_,
                      y, xa, xa_bf, *hook_gemm_, stream);
}

void CudaLora::forward(const CudaLoraModule& m, const __nv_bfloat16* x, int64_t T, float* y, Gemm& gemm,
                       Arena& arena, cudaStream_t stream) const {
  if (T <= 0) return;
  float* xa = arena.take_n<float>(T * rank_);
  auto* xa_bf = arena.take_n<__nv_bfloat16>(T * rank_);
  lora_forward_device(x, m.A_bf.as<__nv_bfloat16>(), m.B_bf.as<__nv_bfloat16>(), T, m.in, m.out, rank_, scale_, y,
                      xa, xa_bf, gemm, stream);
}

void CudaLora::backward(CudaLoraModule& m, const __nv_bfloat16* x, const __nv_bfloat16* dy_bf, int64_t T, float* dx,
                        Gemm& gemm, Arena& arena, cudaStream_t stream) {
  lora_backward_device(x, dy_bf, m.A_bf.as<__nv_bfloat16>(), m.B_bf.as<__nv_bfloat16>(), T, m.in, m.out, rank_, scale_,
                       m.dA.as<float>(), m.dB.as<float>(), dx, gemm, arena, stream);
}

}  // namespace lfm2::cuda
