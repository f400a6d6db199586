// JS face of the CUDA backend (native/backend/cuda). Present in every build: without the backend compiled in, or
// without a GPU, each entry point throws a clear error instead of the addon failing to load.
//
//   resolveDevice('auto'|'cpu'|'cuda') → 'cpu'|'cuda'      (throws for 'cuda' without a usable GPU)
//   cudaStatus() → { compiled, deviceCount, deviceName, reason, cublasLt }
//   cudaOps.*: each kernel family on host arrays (tests compare them with the CPU references)
#include <napi.h>

#include <string>
#include <vector>

#include "backend/device.h"
#include "binding/positional_args.h"
#include "binding/registry.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_api.h"
#include "binding/grpo_loss_args.h"
#include "binding/js_exceptions.h"
#endif

namespace lfm2::binding {
namespace {

Napi::Value resolve_device_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "resolveDevice(name): name must be 'auto', 'cpu' or 'cuda'");
  try {
    return Napi::String::New(env, device_name(resolve_device(info[0].As<Napi::String>().Utf8Value())));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value cuda_status_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaAvailability a = cuda_availability();
  auto o = Napi::Object::New(env);
  o.Set("compiled", a.compiled);
  o.Set("deviceCount", a.device_count);
  o.Set("deviceName", a.device_name);
  o.Set("reason", a.reason);
  o.Set("cublasLt", a.cublaslt);
  return o;
}

#ifndef LFM2_WITH_CUDA

Napi::Value not_compiled(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "device 'cuda' is not available: " + cuda_availability().reason);
}

void register_cuda_impl(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  for (const char* n : {"gemm", "rmsnorm", "rmsnormBackward", "rope", "swiglu", "swigluBackward", "embedding",
                        "embeddingBackward", "shortconv", "shortconvBackward", "attention", "attentionBackward",
                        "adamw", "grpoLoss", "sample"})
    ops.Set(n, Napi::Function::New(env, not_compiled, n));
  exports.Set("cudaOps", ops);
}

#else

// ---- argument helpers (positional_args.h)
template <typename TA>
TA typed(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* fn, const char* what,
         int64_t expect = -1) {
  return typed_arg<TA>(info, i, type, fn, what, expect);
}
using F32 = Napi::Float32Array;
using I32 = Napi::Int32Array;
using U16 = Napi::Uint16Array;

int64_t num(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  return integer_arg(info, i, fn, what, 0);
}
double real(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
std::vector<int64_t> lengths(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  if (info.Length() <= i || !info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be an array of integers");
  auto a = info[i].As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 1)
      throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what + " entries must be integers ≥ 1");
    out.push_back(v.As<Napi::Number>().Int64Value());
  }
  if (out.empty()) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what + " is empty");
  return out;
}
int64_t sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}
F32 f32_new(Napi::Env env, int64_t n) { return F32::New(env, size_t(n)); }

// ---- cudaOps (synchronous; test-sized inputs)

// gemm(A: Uint16Array bf16, B: Uint16Array bf16, C: Float32Array (in/out), M, N, K, transA, transB, alpha, beta,
//      forceFallback) → C
Napi::Value op_gemm(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.gemm";
    int64_t M = num(info, 3, fn, "M"), N = num(info, 4, fn, "N"), K = num(info, 5, fn, "K");
    U16 A = typed<U16>(info, 0, napi_uint16_array, fn, "A", M * K);
    U16 B = typed<U16>(info, 1, napi_uint16_array, fn, "B", K * N);
    F32 C = typed<F32>(info, 2, napi_float32_array, fn, "C", M * N);
    bool ta = info[6].ToBoolean(), tb = info[7].ToBoolean();
    float alpha = float(real(info, 8, fn, "alpha")), beta = float(real(info, 9, fn, "beta"));
    cuda_api::gemm_bf16(A.Data(), B.Data(), C.Data(), M, N, K, ta, tb, alpha, beta, info[10].ToBoolean());
    return C;
  });
}

// rmsnorm(x, w, rows, n, eps) → { y, rstd }
Napi::Value op_rmsnorm(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.rmsnorm";
    int64_t rows = num(info, 2, fn, "rows"), n = num(info, 3, fn, "n");
    F32 x = typed<F32>(info, 0, napi_float32_array, fn, "x", rows * n);
    F32 w = typed<F32>(info, 1, napi_float32_array, fn, "w", n);
    F32 y = f32_new(info.Env(), rows * n), r = f32_new(info.Env(), rows);
    cuda_api::rmsnorm_forward(x.Data(), w.Data(), y.Data(), r.Data(), rows, n, float(real(info, 4, fn, "eps")));
    auto o = Napi::Object::New(info.Env());
    o.Set("y", y);
    o.Set("rstd", r);
    return o;
  });
}

// rmsnormBackward(x, w, rstd, dy, dw (accumulated), rows, n) → dx
Napi::Value op_rmsnorm_backward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.rmsnormBackward";
    int64_t rows = num(info, 5, fn, "rows"), n = num(info, 6, fn, "n");
    F32 x = typed<F32>(info, 0, napi_float32_array, fn, "x", rows * n);
    F32 w = typed<F32>(info, 1, napi_float32_array, fn, "w", n);
    F32 r = typed<F32>(info, 2, napi_float32_array, fn, "rstd", rows);
    F32 dy = typed<F32>(info, 3, napi_float32_array, fn, "dy", rows * n);
    F32 dw = typed<F32>(info, 4, napi_float32_array, fn, "dw", n);
    F32 dx = f32_new(info.Env(), rows * n);
    cuda_api::rmsnorm_backward(x.Data(), w.Data(), r.Data(), dy.Data(), dx.Data(), dw.Data(), rows, n);
    return dx;
  });
}

// rope(x, positions, nHeads, headDim, theta, backward) → rotated copy
Napi::Value op_rope(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.rope";
    int64_t nh = num(info, 2, fn, "nHeads"), D = num(info, 3, fn, "headDim");
    I32 pos = typed<I32>(info, 1, napi_int32_array, fn, "positions");
    const int64_t T = int64_t(pos.ElementLength());
    F32 x = typed<F32>(info, 0, napi_float32_array, fn, "x", T * nh * D);
    F32 y = f32_new(info.Env(), T * nh * D);
    std::copy(x.Data(), x.Data() + T * nh * D, y.Data());
    cuda_api::rope(y.Data(), pos.Data(), T, nh, D, real(info, 4, fn, "theta"), info[5].ToBoolean());
    return y;
  });
}

// swiglu(a, b) → out
Napi::Value op_swiglu(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.swiglu";
    F32 a = typed<F32>(info, 0, napi_float32_array, fn, "a");
    F32 b = typed<F32>(info, 1, napi_float32_array, fn, "b", int64_t(a.ElementLength()));
    F32 out = f32_new(info.Env(), int64_t(a.ElementLength()));
    cuda_api::swiglu_forward(a.Data(), b.Data(), out.Data(), int64_t(a.ElementLength()));
    return out;
  });
}

// swigluBackward(a, b, dout) → { da, db }
Napi::Value op_swiglu_backward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.swigluBackward";
    F32 a = typed<F32>(info, 0, napi_float32_array, fn, "a");
    const int64_t n = int64_t(a.ElementLength());
    F32 b = typed<F32>(info, 1, napi_float32_array, fn, "b", n);
    F32 d = typed<F32>(info, 2, napi_float32_array, fn, "dout", n);
    F32 da = f32_new(info.Env(), n), db = f32_new(info.Env(), n);
    cuda_api::swiglu_backward(a.Data(), b.Data(), d.Data(), da.Data(), db.Data(), n);
    auto o = Napi::Object::New(info.Env());
    o.Set("da", da);
    o.Set("db", db);
    return o;
  });
}

// embedding(ids, tableBf16, vocab, C) → out
Napi::Value op_embedding(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.embedding";
    int64_t V = num(info, 2, fn, "vocab"), C = num(info, 3, fn, "C");
    I32 ids = typed<I32>(info, 0, napi_int32_array, fn, "ids");
    U16 tab = typed<U16>(info, 1, napi_uint16_array, fn, "table", V * C);
    const int64_t T = int64_t(ids.ElementLength());
    F32 out = f32_new(info.Env(), T * C);
    cuda_api::embedding_forward(ids.Data(), T, tab.Data(), V, C, out.Data());
    return out;
  });
}

// embeddingBackward(ids, dout, dtable (accumulated), vocab, C) → dtable
Napi::Value op_embedding_backward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.embeddingBackward";
    int64_t V = num(info, 3, fn, "vocab"), C = num(info, 4, fn, "C");
    I32 ids = typed<I32>(info, 0, napi_int32_array, fn, "ids");
    const int64_t T = int64_t(ids.ElementLength());
    F32 d = typed<F32>(info, 1, napi_float32_array, fn, "dout", T * C);
    F32 tab = typed<F32>(info, 2, napi_float32_array, fn, "dtable", V * C);
    cuda_api::embedding_backward(ids.Data(), T, d.Data(), V, C, tab.Data());
    return tab;
  });
}

// shortconv(z, kernel, C, lengths, states?) → { y, states }
Napi::Value op_shortconv(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.shortconv";
    int64_t C = num(info, 2, fn, "C");
    std::vector<int64_t> lens = lengths(info, 3, fn, "lengths");
    const int64_t T = sum(lens), S = int64_t(lens.size());
    F32 z = typed<F32>(info, 0, napi_float32_array, fn, "z", T * 3 * C);
    F32 k = typed<F32>(info, 1, napi_float32_array, fn, "kernel", C * 3);
    F32 st = f32_new(info.Env(), S * 2 * C);
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      F32 in = typed<F32>(info, 4, napi_float32_array, fn, "states", S * 2 * C);
      std::copy(in.Data(), in.Data() + S * 2 * C, st.Data());
    }
    F32 y = f32_new(info.Env(), T * C);
    cuda_api::shortconv_forward(z.Data(), k.Data(), y.Data(), lens, st.Data(), C);
    auto o = Napi::Object::New(info.Env());
    o.Set("y", y);
    o.Set("states", st);
    return o;
  });
}

// shortconvBackward(z, kernel, dy, dkernel (accumulated), C, lengths) → dz
Napi::Value op_shortconv_backward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.shortconvBackward";
    int64_t C = num(info, 4, fn, "C");
    std::vector<int64_t> lens = lengths(info, 5, fn, "lengths");
    const int64_t T = sum(lens);
    F32 z = typed<F32>(info, 0, napi_float32_array, fn, "z", T * 3 * C);
    F32 k = typed<F32>(info, 1, napi_float32_array, fn, "kernel", C * 3);
    F32 dy = typed<F32>(info, 2, napi_float32_array, fn, "dy", T * C);
    F32 dk = typed<F32>(info, 3, napi_float32_array, fn, "dkernel", C * 3);
    F32 dz = f32_new(info.Env(), T * 3 * C);
    cuda_api::shortconv_backward(z.Data(), k.Data(), dy.Data(), dz.Data(), dk.Data(), lens, C);
    return dz;
  });
}

// attention(q, k, v, nQ[], nKv[], H, KVH, D) → { out, lse }
Napi::Value op_attention(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.attention";
    std::vector<int64_t> nq = lengths(info, 3, fn, "nQ"), nkv = lengths(info, 4, fn, "nKv");
    int64_t H = num(info, 5, fn, "H"), KVH = num(info, 6, fn, "KVH"), D = num(info, 7, fn, "D");
    const int64_t T = sum(nq), TK = sum(nkv);
    F32 q = typed<F32>(info, 0, napi_float32_array, fn, "q", T * H * D);
    F32 k = typed<F32>(info, 1, napi_float32_array, fn, "k", TK * KVH * D);
    F32 v = typed<F32>(info, 2, napi_float32_array, fn, "v", TK * KVH * D);
    F32 out = f32_new(info.Env(), T * H * D), lse = f32_new(info.Env(), T * H);
    cuda_api::attention_forward(q.Data(), k.Data(), v.Data(), out.Data(), lse.Data(), nq, nkv, H, KVH, D);
    auto o = Napi::Object::New(info.Env());
    o.Set("out", out);
    o.Set("lse", lse);
    return o;
  });
}

// attentionBackward(q, k, v, out, lse, dout, lengths[], H, KVH, D) → { dq, dk, dv }
Napi::Value op_attention_backward(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.attentionBackward";
    std::vector<int64_t> lens = lengths(info, 6, fn, "lengths");
    int64_t H = num(info, 7, fn, "H"), KVH = num(info, 8, fn, "KVH"), D = num(info, 9, fn, "D");
    const int64_t T = sum(lens);
    F32 q = typed<F32>(info, 0, napi_float32_array, fn, "q", T * H * D);
    F32 k = typed<F32>(info, 1, napi_float32_array, fn, "k", T * KVH * D);
    F32 v = typed<F32>(info, 2, napi_float32_array, fn, "v", T * KVH * D);
    F32 out = typed<F32>(info, 3, napi_float32_array, fn, "out", T * H * D);
    F32 lse = typed<F32>(info, 4, napi_float32_array, fn, "lse", T * H);
    F32 dout = typed<F32>(info, 5, napi_float32_array, fn, "dout", T * H * D);
    F32 dq = f32_new(info.Env(), T * H * D), dk = f32_new(info.Env(), T * KVH * D), dv = f32_new(info.Env(), T * KVH * D);
    cuda_api::attention_backward(q.Data(), k.Data(), v.Data(), out.Data(), lse.Data(), dout.Data(), dq.Data(),
                                 dk.Data(), dv.Data(), lens, H, KVH, D);
    auto o = Napi::Object::New(info.Env());
    o.Set("dq", dq);
    o.Set("dk", dk);
    o.Set("dv", dv);
    return o;
  });
}

// adamw(w, g, m, v, bf16Copy|null, lr, beta1, beta2, eps, weightDecay, maxGradNorm, step) → gradNorm
// (w, m, v, bf16Copy updated in place; nothing written when the norm is not finite)
Napi::Value op_adamw(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const char* fn = "cudaOps.adamw";
    F32 w = typed<F32>(info, 0, napi_float32_array, fn, "w");
    const int64_t n = int64_t(w.ElementLength());
    F32 g = typed<F32>(info, 1, napi_float32_array, fn, "g", n);
    F32 m = typed<F32>(info, 2, napi_float32_array, fn, "m", n);
    F32 v = typed<F32>(info, 3, napi_float32_array, fn, "v", n);
    uint16_t* bf = nullptr;
    if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined())
      bf = typed<U16>(info, 4, napi_uint16_array, fn, "bf16Copy", n).Data();
    double norm = cuda_api::adamw_step(w.Data(), g.Data(), m.Data(), v.Data(), bf, n, real(info, 5, fn, "lr"),
                                       real(info, 6, fn, "beta1"), real(info, 7, fn, "beta2"),
                                       real(info, 8, fn, "eps"), real(info, 9, fn, "weightDecay"),
                                       real(info, 10, fn, "maxGradNorm"), num(info, 11, fn, "step"));
    return Napi::Number::New(info.Env(), norm);
  });
}

// cudaOps.grpoLoss's fields (read_grpo_loss_call): only `undefined` counts as absent, the head is BF16 bits and
// lossType is checked here.
struct CudaGrpoFields {
  Napi::Env env;
  Napi::Object o;
  std::string fn;
  double number(const char* k, double dflt, bool required) const {
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) {
      if (required) throw Napi::TypeError::New(env, fn + ": " + k + " is required");
      return dflt;
    }
    if (!v.IsNumber()) throw Napi::TypeError::New(env, fn + ": " + k + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  double num(const char* k, double dflt) const { return number(k, dflt, false); }
  void shape(GrpoLossInputs& in) const {
    in.rows = int64_t(number("rows", 0, true));
    in.vocab = int64_t(number("vocab", 0, true));
    in.dim = int64_t(number("dim", 0, true));
    if (in.rows < 1 || in.vocab < 1 || in.dim < 1) throw Napi::RangeError::New(env, fn + ": rows, vocab, dim must be ≥ 1");
  }
  void* arr(const char* k, napi_typedarray_type t, int64_t n, bool required) const {
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) {
      if (required) throw Napi::TypeError::New(env, fn + ": " + k + " is required");
      return nullptr;
    }
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != t)
      throw Napi::TypeError::New(env, fn + ": " + k + " has the wrong array type");
    auto ta = v.As<Napi::TypedArray>();
    if (int64_t(ta.ElementLength()) != n)
      throw Napi::RangeError::New(env, fn + ": " + k + " has " + std::to_string(ta.ElementLength()) +
                                           " elements, expected " + std::to_string(n));
    return static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  }
  float* f32(const char* k, int64_t n, bool optional) const {
    return static_cast<float*>(arr(k, napi_float32_array, n, !optional));
  }
  int32_t* i32(const char* k, int64_t n, bool optional) const {
    return static_cast<int32_t*>(arr(k, napi_int32_array, n, !optional));
  }
  void head(const char* k, int64_t n, GrpoLossInputs& in) const {
    in.head = arr(k, napi_uint16_array, n, true);
    in.head_dtype = DType::BF16;
  }
  bool sft_loss(GrpoLossOptions& opt) const {
    Napi::Value lt = o.Get("lossType");
    const std::string type = lt.IsString() ? lt.As<Napi::String>().Utf8Value() : lt.IsUndefined() ? "dapo" : "";
    try {
      opt.loss_type = parse_grpo_loss_type(type.c_str());
    } catch (const std::exception&) {
      throw Napi::TypeError::New(env, fn + ": lossType must be 'grpo', 'bnpo', 'dr_grpo', 'dapo' or 'sft'");
    }
    return opt.loss_type == GrpoLossType::Sft;
  }
};

// grpoLoss(args) with the fields of train.grpoLoss (head: Uint16Array BF16 bits; outputs dhidden, dhead, logp,
// entropy given as arrays in args) → { loss, tokens, klSum, entropySum, clipLow, clipHigh, clipRegion, correct }
Napi::Value op_grpo_loss(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const std::string fn = "cudaOps.grpoLoss";
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, fn + "(args): args must be an object");
    CudaGrpoFields f{env, info[0].As<Napi::Object>(), fn};
    const GrpoLossCall c = read_grpo_loss_call(f);
    return grpo_stats_to_js(env, cuda_api::grpo_loss(c.in, c.opt, c.out), false);
  });
}

// sample(logits [R, V], R, V, rows: [{ temperature?, topK?, topP?, minP?, repetitionPenalty?, uniform, seen?: Int32Array,
//        allowed?: Int32Array }]) → { token: Int32Array, logq: Float32Array, logp: Float32Array }
Napi::Value op_sample(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const char* fn = "cudaOps.sample";
    int64_t R = num(info, 1, fn, "R"), V = num(info, 2, fn, "V");
    F32 logits = typed<F32>(info, 0, napi_float32_array, fn, "logits", R * V);
    if (info.Length() < 4 || !info[3].IsArray()) throw Napi::TypeError::New(env, "cudaOps.sample: rows must be an array");
    auto rows = info[3].As<Napi::Array>();
    if (int64_t(rows.Length()) != R) throw Napi::RangeError::New(env, "cudaOps.sample: rows must have R entries");
    std::vector<cuda_api::SampleParams> ps(static_cast<size_t>(R));
    std::vector<float> us(static_cast<size_t>(R));
    std::vector<std::vector<int32_t>> seen(static_cast<size_t>(R)), allowed(static_cast<size_t>(R));
    std::vector<bool> all(static_cast<size_t>(R), true);
    for (uint32_t r = 0; r < rows.Length(); ++r) {
      Napi::Value rv = rows.Get(r);
      if (!rv.IsObject()) throw Napi::TypeError::New(env, "cudaOps.sample: rows[" + std::to_string(r) + "] must be an object");
      Napi::Object o = rv.As<Napi::Object>();
      auto get = [&](const char* k, double d) {
        Napi::Value v = o.Get(k);
        if (v.IsUndefined()) return d;
        if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("cudaOps.sample: ") + k + " must be a number");
        return v.As<Napi::Number>().DoubleValue();
      };
      auto ids = [&](const char* k, std::vector<int32_t>& out) {
        Napi::Value v = o.Get(k);
        if (v.IsUndefined()) return false;
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
          throw Napi::TypeError::New(env, std::string("cudaOps.sample: ") + k + " must be an Int32Array");
        auto a = v.As<Napi::Int32Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return true;
      };
      cuda_api::SampleParams& q = ps[r];
      q.temperature = float(get("temperature", 1));
      q.top_k = int32_t(get("topK", 0));
      q.top_p = float(get("topP", 1));
      q.min_p = float(get("minP", 0));
      q.repetition_penalty = float(get("repetitionPenalty", 1));
      us[r] = float(get("uniform", -1));
      ids("seen", seen[r]);
      all[r] = !ids("allowed", allowed[r]);
    }
    cuda_api::SampleResult res = cuda_api::sample(logits.Data(), R, V, ps, us, seen, allowed, all);
    auto out = Napi::Object::New(env);
    auto tok = Napi::Int32Array::New(env, size_t(R));
    auto lq = Napi::Float32Array::New(env, size_t(R));
    auto lp = Napi::Float32Array::New(env, size_t(R));
    for (int64_t r = 0; r < R; ++r) tok[size_t(r)] = res.token[size_t(r)], lq[size_t(r)] = res.logq[size_t(r)],
                                    lp[size_t(r)] = res.logp[size_t(r)];
    out.Set("token", tok);
    out.Set("logq", lq);
    out.Set("logp", lp);
    return out;
  });
}

void register_cuda_impl(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  ops.Set("gemm", Napi::Function::New(env, op_gemm, "gemm"));
  ops.Set("rmsnorm", Napi::Function::New(env, op_rmsnorm, "rmsnorm"));
  ops.Set("rmsnormBackward", Napi::Function::New(env, op_rmsnorm_backward, "rmsnormBackward"));
  ops.Set("rope", Napi::Function::New(env, op_rope, "rope"));
  ops.Set("swiglu", Napi::Function::New(env, op_swiglu, "swiglu"));
  ops.Set("swigluBackward", Napi::Function::New(env, op_swiglu_backward, "swigluBackward"));
  ops.Set("embedding", Napi::Function::New(env, op_embedding, "embedding"));
  ops.Set("embeddingBackward", Napi::Function::New(env, op_embedding_backward, "embeddingBackward"));
  ops.Set("shortconv", Napi::Function::New(env, op_shortconv, "shortconv"));
  ops.Set("shortconvBackward", Napi::Function::New(env, op_shortconv_backward, "shortconvBackward"));
  ops.Set("attention", Napi::Function::New(env, op_attention, "attention"));
  ops.Set("attentionBackward", Napi::Function::New(env, op_attention_backward, "attentionBackward"));
  ops.Set("adamw", Napi::Function::New(env, op_adamw, "adamw"));
  ops.Set("grpoLoss", Napi::Function::New(env, op_grpo_loss, "grpoLoss"));
  ops.Set("sample", Napi::Function::New(env, op_sample, "sample"));
  exports.Set("cudaOps", ops);
}

#endif  // LFM2_WITH_CUDA

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("resolveDevice", Napi::Function::New(env, resolve_device_js, "resolveDevice"));
  exports.Set("cudaStatus", Napi::Function::New(env, cuda_status_js, "cudaStatus"));
  register_cuda_impl(env, exports);
}

}  // namespace lfm2::binding
