#pragma once
// The packed training batch as a JS object (lib/engine/packed-batch.ts), read the same way by the Trainer, the GPU
// trainer and the models' token log-probs:
//   { tokens: Int32Array [T], cuSeqlens: Int32Array [S+1], completionMask: Float32Array [T],
//     advantages?: Float32Array [S], oldLogprobs?: Float32Array [T], refLogprobs?: Float32Array [T] }
// and the results: per-token { logp: Float32Array [T], entropy: Float32Array [T] }, plus the loss statistics for a
// micro-step.
#include <napi.h>

#include <algorithm>
#include <vector>

#include "binding/options_reader.h"
#include "model/loss_passes.h"

namespace lfm2::binding {

// for_loss also reads advantages (optional for sft, which has none) and old/reference log-probs.
inline TrainBatch read_train_batch(const OptionsReader& b, bool for_loss, bool sft = false) {
  TrainBatch tb;
  tb.tokens = b.array<int32_t>("tokens", napi_int32_array, "Int32Array", false);
  std::vector<int32_t> off = b.array<int32_t>("cuSeqlens", napi_int32_array, "Int32Array", false);
  if (off.size() < 2)
    throw Napi::RangeError::New(b.env, b.where("cuSeqlens") + " needs at least 2 entries [0, ..., T]");
  tb.offsets.assign(off.begin(), off.end());
  tb.mask = b.array<float>("completionMask", napi_float32_array, "Float32Array", false);
  if (for_loss) {
    tb.advantages = b.array<float>("advantages", napi_float32_array, "Float32Array", sft);
    tb.old_logp = b.array<float>("oldLogprobs", napi_float32_array, "Float32Array", true);
    tb.ref_logp = b.array<float>("refLogprobs", napi_float32_array, "Float32Array", true);
  }
  return tb;
}

inline Napi::Float32Array float32_array(Napi::Env env, const std::vector<float>& v) {
  auto a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// { loss, tokens, klSum, entropySum, clipLow, clipHigh, clipRegion, correct, logp, entropy }: sums over the scored
// tokens, so micro-batches combine by adding.
inline Napi::Object micro_step_to_js(Napi::Env env, const MicroStepResult& r) {
  auto o = Napi::Object::New(env);
  o.Set("loss", r.stats.loss);
  o.Set("tokens", r.stats.tokens);
  o.Set("klSum", r.stats.kl_sum);
  o.Set("entropySum", r.stats.entropy_sum);
  o.Set("clipLow", r.stats.clip_low);
  o.Set("clipHigh", r.stats.clip_high);
  o.Set("clipRegion", r.stats.clip_region);
  o.Set("correct", r.stats.correct);
  o.Set("logp", float32_array(env, r.logp));
  o.Set("entropy", float32_array(env, r.entropy));
  return o;
}

inline Napi::Object logprobs_to_js(Napi::Env env, const MicroStepResult& r) {
  auto o = Napi::Object::New(env);
  o.Set("logp", float32_array(env, r.logp));
  o.Set("entropy", float32_array(env, r.entropy));
  return o;
}

}  // namespace lfm2::binding
