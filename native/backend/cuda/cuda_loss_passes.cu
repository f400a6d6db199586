#include "backend/cuda/cuda_loss_passes.cuh"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "backend/cuda/cuda_token_logprobs.cuh"
#include "backend/cuda/cuda_train_forward.cuh"
#include "backend/cuda/cuda_train_kernels.cuh"
#include "backend/cuda/grpo_loss.cuh"
#include "core/error.h"

namespace lfm2::cuda {

void validate_device_batch(const Lfm2Config& cfg, const TrainBatch& b, const GrpoLossOptions& lo, bool for_loss) {
  const int64_t T = int64_t(b.tokens.size()), S = b.sequences();
  LFM2_CHECK(T < 0x7fffffff, "batch has too many tokens (", T, ")");
  for (int64_t i = 0; i < S; ++i)
    LFM2_CHECK(b.offsets[size_t(i + 1)] - b.offsets[size_t(i)] <= cfg.max_position_embeddings, "sequence ", i,
               " is longer than max_position_embeddings ", cfg.max_position_embeddings);
  if (for_loss) LFM2_CHECK(lo.chunk_rows >= 1, "chunk_rows must be >= 1, got ", lo.chunk_rows);
}

void run_device_loss_passes(CudaModel::Impl& m, const TrainBatch& b, const GrpoLossOptions& lo_in,
                            int64_t max_pass_tokens, const CudaLora* adapter, Arena& arena,
                            const CudaPassBackward* backward, MicroStepResult& res) {
  const Lfm2Config& cfg = m.cfg;
  const int64_t C = cfg.hidden_size, S = b.sequences(), T = int64_t(b.tokens.size());
  cudaStream_t st = m.stream;
  // Fix the normalisers for the whole micro-batch so splitting into passes changes nothing (as the CPU trainer).
  const GrpoLossOptions lo = with_batch_normalizers(lo_in, b);
  res.logp.assign(size_t(T), 0.f);
  res.entropy.assign(size_t(T), 0.f);
  res.stats = GrpoLossStats{};
  const DeviceBuffer& head = m.head.get() ? m.head : m.embed;

  int64_t s0 = 0;
  while (s0 < S) {
    // Sequences [s0, s1) form one pass.
    int64_t s1 = s0 + 1;
    if (max_pass_tokens > 0)
      while (s1 < S && b.offsets[size_t(s1 + 1)] - b.offsets[size_t(s0)] <= max_pass_tokens) ++s1;
    else
      s1 = S;
    const int64_t base = b.offsets[size_t(s0)];
    std::vector<int64_t> lens;
    for (int64_t i = s0; i < s1; ++i) lens.push_back(b.offsets[size_t(i + 1)] - b.offsets[size_t(i)]);
    // Loss rows: completion token t is scored by the hidden state of row t − 1.
    std::vector<int64_t> tok_of_row;
    std::vector<int32_t> hid_row, targets;
    std::vector<float> adv, oldv, refv, maskv;
    std::vector<int64_t> seq_of_row;
    std::map<int64_t, double> seq_tokens;
    for (int64_t i = s0; i < s1; ++i)
      for (int64_t t = b.offsets[size_t(i)] + 1; t < b.offsets[size_t(i + 1)]; ++t)
        if (b.mask[size_t(t)] != 0.f) {
          tok_of_row.push_back(t);
          hid_row.push_back(int32_t(t - 1 - base));
          targets.push_back(b.tokens[size_t(t)]);
          seq_of_row.push_back(i);
          seq_tokens[i] += 1;
          adv.push_back(b.advantages.empty() ? 0.f : b.advantages[size_t(i)]);
          if (!b.old_logp.empty()) oldv.push_back(b.old_logp[size_t(t)]);
          if (!b.ref_logp.empty()) refv.push_back(b.ref_logp[size_t(t)]);
          maskv.push_back(b.mask[size_t(t)]);  // 1, or an sft token weight
        }
    const int64_t N = int64_t(targets.size());
    if (N == 0) {
      s0 = s1;
      continue;
    }
    // Aggregation weight c_n of each row (grpo_loss.h).
    std::vector<double> cw(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) {
      if (lo.loss_type == GrpoLossType::Grpo)
        cw[size_t(n)] = 1.0 / (std::max(1.0, seq_tokens[seq_of_row[size_t(n)]]) * lo.sequence_normalizer);
      else if (lo.loss_type == GrpoLossType::DrGrpo)
        cw[size_t(n)] = 1.0 / (lo.sequence_normalizer * double(lo.max_completion_length));
      else
        cw[size_t(n)] = 1.0 / lo.token_normalizer;
    }
    arena.reset();
    TrainForward f;
    train_forward(m, b.tokens.data() + base, lens, adapter, backward && backward->checkpointing, arena, f);
    auto up = [&](const void* h, size_t bytes) -> void* {
      void* d = arena.take(std::max<size_t>(bytes, 4));
      if (bytes) CUDA_CHECK(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, st));
      return d;
    };
    auto* d_rows = static_cast<int32_t*>(up(hid_row.data(), size_t(N) * 4));
    float* hid = arena.take_n<float>(N * C);  // [N, C]
    gather_rows_f32(f.hidden, d_rows, N, C, hid, st);
    GrpoDeviceInputs in;
    in.rows = N, in.vocab = cfg.vocab_size, in.dim = C;
    in.hidden = hid;
    in.head = bf(head);
    in.targets = static_cast<const int32_t*>(up(targets.data(), size_t(N) * 4));
    in.old_logp = oldv.empty() ? nullptr : static_cast<const float*>(up(oldv.data(), size_t(N) * 4));
    in.ref_logp = refv.empty() ? nullptr : static_cast<const float*>(up(refv.data(), size_t(N) * 4));
    in.advantages = static_cast<const float*>(up(adv.data(), size_t(N) * 4));
    in.mask = static_cast<const float*>(up(maskv.data(), size_t(N) * 4));
    in.row_weight = static_cast<const double*>(up(cw.data(), size_t(N) * 8));
    GrpoDeviceOptions dopt;
    dopt.epsilon_low = lo.epsilon_low, dopt.epsilon_high = lo.epsilon_high, dopt.beta = lo.beta;
    dopt.temperature = lo.temperature, dopt.chunk_rows = lo.chunk_rows;
    dopt.sft = lo.loss_type == GrpoLossType::Sft;
    GrpoDeviceOutputs out;
    out.terms = arena.take_n<double>(N * kGrpoTerms);
    out.logp = arena.take_n<float>(N);
    out.entropy = arena.take_n<float>(N);
    out.dhidden = backward ? arena.take_n<float>(N * C) : nullptr;
    out.dhead = backward ? backward->dhead : nullptr;
    grpo_loss_forward_backward(in, dopt, out, *m.gemm, arena, st);
    if (backward) {
      float* dhidden = arena.take_n<float>(f.T * C);  // [T_pass, C], zero except the scored rows
      CUDA_CHECK(cudaMemsetAsync(dhidden, 0, size_t(f.T * C) * 4, st));
      scatter_rows_f32(out.dhidden, d_rows, N, C, dhidden, st);
      train_backward(m, f, dhidden, backward->grads, backward->lora, arena);
    }
    std::vector<double> terms(static_cast<size_t>(N * kGrpoTerms));
    std::vector<float> lp(static_cast<size_t>(N)), ent(static_cast<size_t>(N));
    CUDA_CHECK(cudaMemcpyAsync(terms.data(), out.terms, terms.size() * 8, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaMemcpyAsync(lp.data(), out.logp, lp.size() * 4, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaMemcpyAsync(ent.data(), out.entropy, ent.size() * 4, cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));
    for (int64_t n = 0; n < N; ++n) {
      const double* tn = terms.data() + n * kGrpoTerms;
      res.stats.loss += tn[0];
      res.stats.tokens += maskv[size_t(n)];  // Σ m, as the CPU loss counts (weighted for sft token weights)
      res.stats.kl_sum += tn[1];
      res.stats.entropy_sum += maskv[size_t(n)] * ent[size_t(n)];
      res.stats.clip_low += tn[2];
      res.stats.clip_high += tn[3];
      res.stats.clip_region += tn[4];
      res.stats.correct += tn[5];
      res.logp[size_t(tok_of_row[size_t(n)])] = lp[size_t(n)];
      res.entropy[size_t(tok_of_row[size_t(n)])] = ent[size_t(n)];
    }
    s0 = s1;
  }
}

MicroStepResult token_logprobs(CudaModel& model, const TrainBatch& b, float temperature) {
  CudaModel::Impl& m = model.impl();
  std::lock_guard<std::mutex> lock(m.mu);
  GrpoLossOptions lo;
  lo.temperature = temperature;
  validate_train_batch(b, m.cfg.vocab_size, lo, false);
  validate_device_batch(m.cfg, b, lo, false);
  MicroStepResult res;
  run_device_loss_passes(m, b, lo, 0, nullptr, m.arena, nullptr, res);
  return res;
}

}  // namespace lfm2::cuda
