// `train`: the host-side training math that has no backend (LR schedules, LoRA scale, init and merge), on typed
// arrays, for tests. The ops with a CPU and a CUDA kernel are in `ops` (binding/ops.cpp).
#include <napi.h>

#include "binding/js_exceptions.h"
#include "binding/op_args.h"
#include "binding/registry.h"
#include "model/lora_math.h"
#include "model/lr_schedule.h"

namespace lfm2::binding {
namespace {

Napi::Value lr_at_js(const Napi::CallbackInfo& info) {
  OpArgs a(info, "lrAt");
  LrSchedule sch;
  const std::string kind = a.str("kind", "linear");
  sch.base_lr = a.num("baseLr");
  sch.warmup_steps = a.dim("warmupSteps");
  sch.total_steps = a.dim("totalSteps");
  sch.num_cycles = a.num("numCycles", 0.5);
  const int64_t step = a.dim("step");
  const double lr = guarded(a.env(), [&] {
    sch.kind = parse_lr_schedule(kind.c_str());
    return lr_at(sch, step);
  });
  return Napi::Number::New(a.env(), lr);
}

Napi::Value lora_init_js(const Napi::CallbackInfo& info) {
  OpArgs a(info, "loraInit");
  const int64_t in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const uint64_t seed = uint64_t(a.dim("seed"));
  float *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  guarded(a.env(), [&] { lora_init(in, out, r, seed, A, B); });
  return a.env().Undefined();
}

Napi::Value lora_merge_js(const Napi::CallbackInfo& info) {
  OpArgs a(info, "loraMerge");
  const int64_t in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const float s = float(a.num("scale"));
  const float *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  DType wt = DType::F32;
  void* W = a.weight("W", out * in, &wt);
  const int sign = int(a.num("sign", 1));
  guarded(a.env(), [&] { lora_merge(in, out, r, s, A, B, W, wt, sign); });
  return a.env().Undefined();
}

Napi::Value lora_scale_js(const Napi::CallbackInfo& info) {
  OpArgs a(info, "loraScale");
  const float alpha = float(a.num("alpha"));
  const int64_t r = a.dim("rank");
  const bool rs = a.flag("useRslora", false);
  return Napi::Number::New(a.env(), guarded(a.env(), [&] { return lora_scale(alpha, r, rs); }));
}

}  // namespace

void register_train_math(Napi::Env env, Napi::Object exports) {
  auto o = Napi::Object::New(env);
  o.Set("lrAt", Napi::Function::New(env, lr_at_js, "lrAt"));
  o.Set("loraInit", Napi::Function::New(env, lora_init_js, "loraInit"));
  o.Set("loraMerge", Napi::Function::New(env, lora_merge_js, "loraMerge"));
  o.Set("loraScale", Napi::Function::New(env, lora_scale_js, "loraScale"));
  exports.Set("train", o);
}

}  // namespace lfm2::binding
