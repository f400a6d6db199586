// Training kernels on typed arrays: op backwards, the GRPO loss, AdamW, LR schedules and LoRA math.
// Each function takes one options object; output arrays are supplied by the caller, so accumulation (+=) versus
// overwrite (=) is visible from JS exactly as in C++. Every array length is checked before any native work runs.
#include <napi.h>

#include <string>
#include <vector>

#include "backend/cpu/backward/attention_backward.h"
#include "backend/cpu/backward/embedding_backward.h"
#include "backend/cpu/backward/rmsnorm_backward.h"
#include "backend/cpu/backward/rope_backward.h"
#include "backend/cpu/backward/shortconv_backward.h"
#include "backend/cpu/backward/softmax_rows.h"
#include "backend/cpu/backward/swiglu_backward.h"
#include "binding/grpo_loss_args.h"
#include "binding/js_exceptions.h"
#include "binding/registry.h"
#include "model/adamw.h"
#include "model/grpo_loss.h"
#include "model/lora_math.h"
#include "model/lr_schedule.h"

namespace lfm2::binding {
namespace {

// Reads fields of one options object and reports problems by function and field name.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : env_(info.Env()), fn_(fn) {
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env_, std::string(fn) + ": expected an options object");
    o_ = info[0].As<Napi::Object>();
  }
  Napi::Env env() const { return env_; }
  const Napi::Object& obj() const { return o_; }

  bool has(const char* key) const {
    if (!o_.Has(key)) return false;
    Napi::Value v = o_.Get(key);
    return !v.IsUndefined() && !v.IsNull();
  }
  double num(const char* key) const {
    Napi::Value v = o_.Get(key);
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, where(key) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  double num(const char* key, double def) const { return has(key) ? num(key) : def; }
  int64_t dim(const char* key) const {
    const double d = num(key);
    if (!(d >= 0) || d != double(int64_t(d))) throw Napi::RangeError::New(env_, where(key) + " must be a non-negative integer");
    return int64_t(d);
  }
  bool flag(const char* key, bool def) const {
    if (!has(key)) return def;
    Napi::Value v = o_.Get(key);
    if (!v.IsBoolean()) throw Napi::TypeError::New(env_, where(key) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  std::string str(const char* key, const char* def) const {
    if (!has(key)) return def;
    Napi::Value v = o_.Get(key);
    if (!v.IsString()) throw Napi::TypeError::New(env_, where(key) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  // Kernel family: 'auto' (default), 'portable', 'avx2' or 'avx512' (tests force each one the CPU has).
  SimdIsa isa(const char* key) const {
    const std::string name = str(key, "auto");
    SimdIsa out = SimdIsa::Auto;
    if (!simd_isa_from_name(name.c_str(), &out))
      throw Napi::RangeError::New(env_, where(key) + " must be one of auto, portable, avx2, avx512; got '" + name + "'");
    return out;
  }
  float* f32(const char* key, int64_t len, bool optional = false) const {
    return typed<float>(o_, key, len, optional, napi_float32_array, "Float32Array");
  }
  int32_t* i32(const char* key, int64_t len, bool optional = false) const {
    return typed<int32_t>(o_, key, len, optional, napi_int32_array, "Int32Array");
  }
  // A weight that may be FP32 (Float32Array) or BF16 bits (Uint16Array).
  void* weight(const char* key, int64_t len, DType* type) const {
    if (!has(key)) throw Napi::TypeError::New(env_, where(key) + " is required");
    Napi::Value v = o_.Get(key);
    if (v.IsTypedArray()) {
      auto ta = v.As<Napi::TypedArray>();
      if (ta.TypedArrayType() == napi_float32_array) {
        *type = DType::F32;
        return f32(key, len);
      }
      if (ta.TypedArrayType() == napi_uint16_array) {
        *type = DType::BF16;
        return typed<uint16_t>(o_, key, len, false, napi_uint16_array, "Uint16Array");
      }
    }
    throw Napi::TypeError::New(env_, where(key) + " must be a Float32Array (FP32) or Uint16Array (BF16 bits)");
  }
  template <typename T>
  T* typed(const Napi::Object& o, const char* key, int64_t len, bool optional, napi_typedarray_type kind,
           const char* kind_name) const {
    const bool present = o.Has(key) && !o.Get(key).IsUndefined() && !o.Get(key).IsNull();
    if (!present) {
      if (optional) return nullptr;
      throw Napi::TypeError::New(env_, where(key) + " is required (" + kind_name + ")");
    }
    Napi::Value v = o.Get(key);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind)
      throw Napi::TypeError::New(env_, where(key) + " must be a " + kind_name);
    auto arr = v.As<Napi::TypedArrayOf<T>>();
    if (int64_t(arr.ElementLength()) != len)
      throw Napi::RangeError::New(env_, where(key) + " has " + std::to_string(arr.ElementLength()) +
                                            " elements, expected " + std::to_string(len));
    return arr.Data();
  }
  std::string where(const char* key) const { return std::string(fn_) + ": '" + key + "'"; }

 private:
  Napi::Env env_;
  const char* fn_;
  Napi::Object o_;
};

Napi::Value rmsnorm_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormBackward");
  const int64_t rows = a.dim("rows"), n = a.dim("n");
  const float *x = a.f32("x", rows * n), *w = a.f32("w", n), *dy = a.f32("dy", rows * n);
  float *dx = a.f32("dx", rows * n), *dw = a.f32("dw", n);
  const float eps = float(a.num("eps", 1e-5));
  guarded(a.env(), [&] { cpu::rmsnorm_backward(rows, n, x, w, dy, eps, dx, dw); });
  return a.env().Undefined();
}

Napi::Value rmsnorm_heads_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "rmsnormHeadsBackward");
  const int64_t T = a.dim("tokens"), H = a.dim("heads"), D = a.dim("headDim");
  const float *x = a.f32("x", T * H * D), *w = a.f32("w", D), *dy = a.f32("dy", T * H * D);
  float *dx = a.f32("dx", T * H * D), *dw = a.f32("dw", D);
  const float eps = float(a.num("eps", 1e-5));
  guarded(a.env(), [&] { cpu::rmsnorm_heads_backward(T, H, D, x, w, dy, eps, dx, dw); });
  return a.env().Undefined();
}

Napi::Value rope_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "ropeBackward");
  const int64_t T = a.dim("tokens"), H = a.dim("heads"), D = a.dim("headDim");
  const int32_t* pos = a.i32("pos", T);
  const float* dy = a.f32("dy", T * H * D);
  float* dx = a.f32("dx", T * H * D);
  const double theta = a.num("theta", 1e6);
  guarded(a.env(), [&] { cpu::rope_backward(T, H, D, pos, theta, dy, dx); });
  return a.env().Undefined();
}

cpu::AttentionShape attention_shape(const Args& a) {
  cpu::AttentionShape s;
  s.tokens = a.dim("tokens");
  s.q_heads = a.dim("qHeads");
  s.kv_heads = a.dim("kvHeads");
  s.head_dim = a.dim("headDim");
  s.scale = float(a.num("scale", 0));
  // portable: true is the older spelling of isa: 'portable'.
  if (a.flag("portable", false)) s.isa = SimdIsa::Portable;
  if (const SimdIsa isa = a.isa("isa"); isa != SimdIsa::Auto) s.isa = isa;
  return s;
}

int32_t* seqlens(const Args& a, int64_t* nseq) {
  if (!a.has("cuSeqlens")) throw Napi::TypeError::New(a.env(), a.where("cuSeqlens") + " is required (Int32Array)");
  Napi::Value v = a.obj().Get("cuSeqlens");
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(a.env(), a.where("cuSeqlens") + " must be an Int32Array");
  const int64_t len = int64_t(v.As<Napi::Int32Array>().ElementLength());
  if (len < 2) throw Napi::RangeError::New(a.env(), a.where("cuSeqlens") + " needs at least 2 entries");
  *nseq = len - 1;
  return a.i32("cuSeqlens", len);
}

Napi::Value attention_forward_stats_js(const Napi::CallbackInfo& info) {
  Args a(info, "attentionForwardStats");
  const cpu::AttentionShape s = attention_shape(a);
  int64_t nseq = 0;
  const int32_t* cu = seqlens(a, &nseq);
  const int64_t nq = s.tokens * s.q_heads * s.head_dim, nk = s.tokens * s.kv_heads * s.head_dim;
  const float *q = a.f32("q", nq), *k = a.f32("k", nk), *v = a.f32("v", nk);
  float *o = a.f32("o", nq), *lse = a.f32("lse", s.tokens * s.q_heads);
  guarded(a.env(), [&] { cpu::attention_forward_stats(s, nseq, cu, q, k, v, o, lse); });
  return a.env().Undefined();
}

Napi::Value attention_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward");
  const cpu::AttentionShape s = attention_shape(a);
  int64_t nseq = 0;
  const int32_t* cu = seqlens(a, &nseq);
  const int64_t nq = s.tokens * s.q_heads * s.head_dim, nk = s.tokens * s.kv_heads * s.head_dim;
  const float *q = a.f32("q", nq), *k = a.f32("k", nk), *v = a.f32("v", nk), *dout = a.f32("dout", nq);
  const float *o = a.f32("o", nq, true), *lse = a.f32("lse", s.tokens * s.q_heads, true);
  float *dq = a.f32("dq", nq), *dk = a.f32("dk", nk), *dv = a.f32("dv", nk);
  guarded(a.env(), [&] { cpu::attention_backward(s, nseq, cu, q, k, v, o, lse, dout, dq, dk, dv); });
  return a.env().Undefined();
}

Napi::Value shortconv_forward_js(const Napi::CallbackInfo& info) {
  Args a(info, "shortconvForward");
  const int64_t C = a.dim("channels");
  int64_t nseq = 0;
  const int32_t* cu = seqlens(a, &nseq);
  const int64_t T = cu[nseq];
  const float *z = a.f32("z", T * 3 * C), *K = a.f32("kernel", C * 3);
  float* y = a.f32("y", T * C);
  guarded(a.env(), [&] { cpu::shortconv_forward(C, nseq, cu, z, K, y); });
  return a.env().Undefined();
}

Napi::Value shortconv_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "shortconvBackward");
  const int64_t C = a.dim("channels");
  int64_t nseq = 0;
  const int32_t* cu = seqlens(a, &nseq);
  const int64_t T = cu[nseq];
  if (T < 0) throw Napi::RangeError::New(a.env(), "shortconvBackward: negative token count");
  const float *z = a.f32("z", T * 3 * C), *K = a.f32("kernel", C * 3), *dy = a.f32("dy", T * C);
  float *dz = a.f32("dz", T * 3 * C), *dK = a.f32("dkernel", C * 3);
  guarded(a.env(), [&] { cpu::shortconv_backward(C, nseq, cu, z, K, dy, dz, dK); });
  return a.env().Undefined();
}

Napi::Value swiglu_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "swigluBackward");
  const int64_t rows = a.dim("rows"), F = a.dim("F");
  const float *x = a.f32("a", rows * F), *b = a.f32("b", rows * F), *dh = a.f32("dh", rows * F);
  float *da = a.f32("da", rows * F), *db = a.f32("db", rows * F);
  const SimdIsa isa = a.isa("isa");
  guarded(a.env(), [&] { cpu::swiglu_backward(rows, F, x, b, F, dh, F, da, db, isa); });
  return a.env().Undefined();
}

Napi::Value embedding_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBackward");
  const int64_t T = a.dim("tokens"), V = a.dim("vocab"), C = a.dim("dim");
  const int32_t* ids = a.i32("ids", T);
  const float* dx = a.f32("dx", T * C);
  float* dE = a.f32("dE", V * C);
  const int64_t pad = int64_t(a.num("paddingIdx", 0));
  guarded(a.env(), [&] { cpu::embedding_backward(T, V, C, ids, dx, dE, pad); });
  return a.env().Undefined();
}

// grpoLoss's fields (read_grpo_loss_call): an FP32 or BF16 head; lossType is parsed when the loss runs.
struct GrpoFields {
  const Args& a;
  std::string loss_type;
  void shape(GrpoLossInputs& in) const {
    in.rows = a.dim("rows");
    in.vocab = a.dim("vocab");
    in.dim = a.dim("dim");
  }
  float* f32(const char* key, int64_t len, bool optional) const { return a.f32(key, len, optional); }
  int32_t* i32(const char* key, int64_t len, bool optional) const { return a.i32(key, len, optional); }
  void head(const char* key, int64_t len, GrpoLossInputs& in) const { in.head = a.weight(key, len, &in.head_dtype); }
  bool sft_loss(GrpoLossOptions&) {
    loss_type = a.str("lossType", "dapo");
    return loss_type == "sft";
  }
  double num(const char* key, double def) const { return a.num(key, def); }
};

Napi::Value grpo_loss_js(const Napi::CallbackInfo& info) {
  Args a(info, "grpoLoss");
  GrpoFields f{a, {}};
  GrpoLossCall c = read_grpo_loss_call(f);
  const bool fused = a.flag("fused", true);
  const GrpoLossStats st = guarded(a.env(), [&] {
    c.opt.loss_type = parse_grpo_loss_type(f.loss_type.c_str());
    return fused ? grpo_loss_fused(c.in, c.opt, c.out) : grpo_loss_unfused(c.in, c.opt, c.out);
  });
  return grpo_stats_to_js(a.env(), st, true);
}

Napi::Value adamw_step_js(const Napi::CallbackInfo& info) {
  Args a(info, "adamwStep");
  Napi::Env env = a.env();
  if (!a.has("tensors") || !a.obj().Get("tensors").IsArray())
    throw Napi::TypeError::New(env, "adamwStep: 'tensors' must be an array");
  auto arr = a.obj().Get("tensors").As<Napi::Array>();
  std::vector<AdamWTensor> ts;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(env, "adamwStep: tensors[" + std::to_string(i) + "] must be an object");
    auto o = arr.Get(i).As<Napi::Object>();
    const std::string name = "tensors[" + std::to_string(i) + "]";
    Napi::Value w = o.Get("weight");
    if (!w.IsTypedArray() || w.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, "adamwStep: " + name + ".weight must be a Float32Array");
    AdamWTensor t;
    t.size = int64_t(w.As<Napi::Float32Array>().ElementLength());
    t.weight = a.typed<float>(o, "weight", t.size, false, napi_float32_array, "Float32Array");
    t.grad = a.typed<float>(o, "grad", t.size, false, napi_float32_array, "Float32Array");
    t.exp_avg = a.typed<float>(o, "expAvg", t.size, false, napi_float32_array, "Float32Array");
    t.exp_avg_sq = a.typed<float>(o, "expAvgSq", t.size, false, napi_float32_array, "Float32Array");
    t.bf16_copy = a.typed<uint16_t>(o, "bf16", t.size, true, napi_uint16_array, "Uint16Array");
    t.decay = !(o.Has("decay") && o.Get("decay").IsBoolean()) || o.Get("decay").As<Napi::Boolean>().Value();
    ts.push_back(t);
  }
  AdamWConfig cfg;
  cfg.lr = a.num("lr");
  cfg.beta1 = a.num("beta1", 0.9);
  cfg.beta2 = a.num("beta2", 0.999);
  cfg.eps = a.num("eps", 1e-8);
  cfg.weight_decay = a.num("weightDecay", 0);
  cfg.max_grad_norm = a.num("maxGradNorm", 1);
  cfg.isa = a.isa("isa");
  const int64_t step = int64_t(a.num("step"));
  const AdamWResult res = guarded(env, [&] { return adamw_step(ts, cfg, step); });
  auto r = Napi::Object::New(env);
  r.Set("gradNorm", res.grad_norm);
  r.Set("clipCoef", res.clip_coef);
  r.Set("skipped", res.skipped);
  r.Set("badTensor", double(res.bad_tensor));
  return r;
}

Napi::Value lr_at_js(const Napi::CallbackInfo& info) {
  Args a(info, "lrAt");
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

Napi::Value lora_forward_js(const Napi::CallbackInfo& info) {
  Args a(info, "loraForward");
  const int64_t N = a.dim("rows"), in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const float s = float(a.num("scale"));
  const float *x = a.f32("x", N * in), *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  float *xa = a.f32("xa", N * r), *y = a.f32("y", N * out);
  guarded(a.env(), [&] { lora_forward(N, in, out, r, s, x, A, B, xa, y); });
  return a.env().Undefined();
}

Napi::Value lora_backward_js(const Napi::CallbackInfo& info) {
  Args a(info, "loraBackward");
  const int64_t N = a.dim("rows"), in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const float s = float(a.num("scale"));
  const float *dy = a.f32("dy", N * out), *x = a.f32("x", N * in), *xa = a.f32("xa", N * r);
  const float *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  float *dA = a.f32("dA", r * in), *dB = a.f32("dB", out * r), *dx = a.f32("dx", N * in, true);
  guarded(a.env(), [&] { lora_backward(N, in, out, r, s, dy, x, xa, A, B, dA, dB, dx); });
  return a.env().Undefined();
}

Napi::Value lora_init_js(const Napi::CallbackInfo& info) {
  Args a(info, "loraInit");
  const int64_t in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const uint64_t seed = uint64_t(a.dim("seed"));
  float *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  guarded(a.env(), [&] { lora_init(in, out, r, seed, A, B); });
  return a.env().Undefined();
}

Napi::Value lora_merge_js(const Napi::CallbackInfo& info) {
  Args a(info, "loraMerge");
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
  Args a(info, "loraScale");
  const float alpha = float(a.num("alpha"));
  const int64_t r = a.dim("rank");
  const bool rs = a.flag("useRslora", false);
  return Napi::Number::New(a.env(), guarded(a.env(), [&] { return lora_scale(alpha, r, rs); }));
}

// Exposes the softmax row kernel so tests can check the portable and the dispatched (SIMD) versions directly.
Napi::Value row_exp_stats_js(const Napi::CallbackInfo& info) {
  Args a(info, "rowExpStats");
  const int64_t V = a.dim("length");
  float* z = a.f32("z", V);
  const float shift = float(a.num("shift"));
  const bool portable = a.flag("portable", false);
  double sum = 0, sum_ez = 0;
  if (portable) cpu::row_exp_stats_portable(z, V, shift, &sum, &sum_ez);
  else cpu::row_exp_stats(z, V, shift, &sum, &sum_ez);
  auto r = Napi::Object::New(a.env());
  r.Set("sum", sum);
  r.Set("sumEz", sum_ez);
  return r;
}

}  // namespace

void register_ops_train(Napi::Env env, Napi::Object exports) {
  auto o = Napi::Object::New(env);
  o.Set("rmsnormBackward", Napi::Function::New(env, rmsnorm_backward_js, "rmsnormBackward"));
  o.Set("rmsnormHeadsBackward", Napi::Function::New(env, rmsnorm_heads_backward_js, "rmsnormHeadsBackward"));
  o.Set("ropeBackward", Napi::Function::New(env, rope_backward_js, "ropeBackward"));
  o.Set("attentionForwardStats", Napi::Function::New(env, attention_forward_stats_js, "attentionForwardStats"));
  o.Set("attentionBackward", Napi::Function::New(env, attention_backward_js, "attentionBackward"));
  o.Set("shortconvForward", Napi::Function::New(env, shortconv_forward_js, "shortconvForward"));
  o.Set("shortconvBackward", Napi::Function::New(env, shortconv_backward_js, "shortconvBackward"));
  o.Set("swigluBackward", Napi::Function::New(env, swiglu_backward_js, "swigluBackward"));
  o.Set("embeddingBackward", Napi::Function::New(env, embedding_backward_js, "embeddingBackward"));
  o.Set("grpoLoss", Napi::Function::New(env, grpo_loss_js, "grpoLoss"));
  o.Set("adamwStep", Napi::Function::New(env, adamw_step_js, "adamwStep"));
  o.Set("lrAt", Napi::Function::New(env, lr_at_js, "lrAt"));
  o.Set("loraForward", Napi::Function::New(env, lora_forward_js, "loraForward"));
  o.Set("loraBackward", Napi::Function::New(env, lora_backward_js, "loraBackward"));
  o.Set("loraInit", Napi::Function::New(env, lora_init_js, "loraInit"));
  o.Set("loraMerge", Napi::Function::New(env, lora_merge_js, "loraMerge"));
  o.Set("loraScale", Napi::Function::New(env, lora_scale_js, "loraScale"));
  o.Set("rowExpStats", Napi::Function::New(env, row_exp_stats_js, "rowExpStats"));
  exports.Set("train", o);
}

}  // namespace lfm2::binding
