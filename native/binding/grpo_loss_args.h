// The numeric GRPO loss options (docs/grpo.md §4) as JS fields, shared by opsTrain.grpoLoss and Trainer.accumulate so both
// accept the same names and defaults.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace lfm2::binding
