// The numeric GRPO loss options (docs/grpo.md §4) as JS fields, shared by ops.grpoLoss and Trainer.accumulate so both
// accept the same names and defaults; and the whole loss call as ops.grpoLoss takes it.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>

#include "binding/options_reader.h"
#include "model/grpo_loss.h"

namespace lfm2::binding {

// `Options` is a binding's options-object reader with num(key, default) that throws a TypeError naming the field
// when it is not a number. lossType is left to the caller, which reports an unknown name in its own way.
template <class Options>
void read_grpo_loss_numbers(const Options& o, GrpoLossOptions& lo) {
  lo.epsilon_low = float(o.num("epsilonLow", 0.2));
  lo.epsilon_high = float(o.num("epsilonHigh", lo.epsilon_low));
  lo.beta = float(o.num("beta", 0));
  lo.temperature = float(o.num("temperature", 1));
  lo.max_completion_length = int64_t(o.num("maxCompletionLength", 0));
  lo.token_normalizer = o.num("tokenNormalizer", 0);
  lo.sequence_normalizer = o.num("sequenceNormalizer", 0);
  lo.chunk_rows = int64_t(o.num("chunkRows", 256));
}

// The loss options of Trainer.accumulate (either engine): lossType (an unknown name is a RangeError) and the numbers.
inline GrpoLossOptions read_grpo_loss(const OptionsReader& o) {
  GrpoLossOptions lo;
  const std::string type = o.str("lossType", "dapo");
  try {
    lo.loss_type = parse_grpo_loss_type(type.c_str());
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(o.env, o.fn + ": " + e.what());
  }
  read_grpo_loss_numbers(o, lo);
  return lo;
}

// One loss call: the same fields, read in the same order, for the CPU and the GPU loss.
struct GrpoLossCall {
  GrpoLossInputs in;
  GrpoLossOptions opt;
  GrpoLossOutputs out;
};

// `Fields` keeps each binding's own checks and wording: shape(in) reads rows, vocab and dim; f32/i32(key, len,
// optional) return the array's data (nullptr when optional and absent); head(key, len, in) sets the head and its
// dtype; sft_loss(opt) reads lossType and says whether it is sft; num(key, default) reads a number.
template <class Fields>
GrpoLossCall read_grpo_loss_call(Fields& f) {
  GrpoLossCall c;
  GrpoLossInputs& in = c.in;
  f.shape(in);
  const int64_t N = in.rows, V = in.vocab, C = in.dim;
  in.hidden = f.f32("hidden", N * C, false);
  f.head("head", V * C, in);
  in.targets = f.i32("targets", N, false);
  in.old_logp = f.f32("oldLogp", N, true);
  in.ref_logp = f.f32("refLogp", N, true);
  const bool sft = f.sft_loss(c.opt);
  in.advantages = f.f32("advantages", N, sft);  // sft has none
  in.mask = f.f32("mask", N, false);
  in.seq_ids = f.i32("seqIds", N, false);
  in.is_weight = f.f32("isWeight", N, true);
  read_grpo_loss_numbers(f, c.opt);
  c.out.dhidden = f.f32("dhidden", N * C, true);
  c.out.dhead = f.f32("dhead", V * C, true);
  c.out.logp = f.f32("logp", N, true);
  c.out.entropy = f.f32("entropy", N, true);
  return c;
}

// The statistics as both bindings return them; workspaceBytes only from the CPU loss, which measures it.
inline Napi::Object grpo_stats_to_js(Napi::Env env, const GrpoLossStats& st, bool workspace) {
  const std::pair<const char*, double> fields[] = {{"loss", st.loss},
                                                   {"tokens", st.tokens},
                                                   {"klSum", st.kl_sum},
                                                   {"entropySum", st.entropy_sum},
                                                   {"clipLow", st.clip_low},
                                                   {"clipHigh", st.clip_high},
                                                   {"clipRegion", st.clip_region},
                                                   {"correct", st.correct}};
  auto r = Napi::Object::New(env);
  for (const auto& [key, value] : fields) r.Set(key, value);
  if (workspace) r.Set("workspaceBytes", double(st.workspace_bytes));
  return r;
}

}  // namespace lfm2::binding
