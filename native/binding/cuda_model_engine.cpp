// The GPU side of the JS Model: cuda::CudaModel (native/backend/cuda/cuda_model.cuh) over weights uploaded from a
// host copy. Differences from the CPU: precision does not apply (GEMM inputs are always BF16), info() has
// device: 'cuda', memory() reports device bytes.
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/device.h"
#include "binding/model_engine.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_token_logprobs.cuh"
#include "binding/cuda_model_handle.h"
#endif

namespace lfm2::binding {

#ifndef LFM2_WITH_CUDA

std::shared_ptr<ModelEngine> load_cuda_model(const std::string&, int64_t) {
  throw std::runtime_error("device 'cuda' is not available: " + cuda_availability().reason);
}

#else

namespace {

struct CudaState : EngineState {
  cuda::CudaStatePtr st;
  explicit CudaState(cuda::CudaStatePtr s) : st(std::move(s)) {}
  int64_t length() const override { return cuda::CudaModel::length(*st); }
  int64_t bytes() const override { return cuda::CudaModel::bytes(*st); }
};

// The CUDA model locks itself, so no lock here.
class CudaModelEngine final : public CudaModelHandle {
 public:
  ForwardResult forward(const std::vector<std::vector<int32_t>>& seqs, const std::vector<EngineState*>& states,
                        const ForwardOptions& fo, bool want_hidden) override {
    std::vector<cuda::CudaChunk> cs;
    for (size_t i = 0; i < seqs.size(); ++i)
      cs.push_back(cuda::CudaChunk{seqs[i].data(), int64_t(seqs[i].size()),
                                   states.empty() ? nullptr : static_cast<CudaState*>(states[i])->st.get()});
    cuda::CudaForwardResult r = model->forward(cs, fo.logits, want_hidden);
    ForwardResult out;
    out.logits = std::move(r.logits);
    out.rows.assign(r.logit_rows.begin(), r.logit_rows.end());
    out.hidden = std::move(r.hidden);
    out.vocab = model->config().vocab_size;
    out.hidden_size = model->config().hidden_size;
    return out;
  }
  MicroStepResult token_logprobs(const TrainBatch& batch, float temperature, Precision) override {
    return cuda::token_logprobs(*model, batch, temperature);
  }
  std::unique_ptr<EngineState> new_state() override { return std::make_unique<CudaState>(model->new_state()); }
  std::unique_ptr<EngineState> fork(const EngineState& s) override {
    return std::make_unique<CudaState>(model->fork(*static_cast<const CudaState&>(s).st));
  }
  ModelMemory memory() const override {
    return ModelMemory{model->weight_bytes(), model->state_bytes(), model->state_bytes_cap()};
  }
};

}  // namespace

std::shared_ptr<ModelEngine> load_cuda_model(const std::string& dir, int64_t state_bytes_cap) {
  auto h = std::make_shared<CudaModelEngine>();
  cuda::CudaModelOptions mo;
  mo.state_bytes_cap = state_bytes_cap;
  // The GPU engine stores the file's weights as BF16, whatever dtype the host copy has.
  h->host = Lfm2Model::load(dir, WeightDTypeChoice::Auto);
  h->model = cuda::CudaModel::upload(*h->host, mo);
  return h;
}

#endif  // LFM2_WITH_CUDA

}  // namespace lfm2::binding
