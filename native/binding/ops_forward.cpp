// opsForward: each forward kernel of the CPU backend on plain typed arrays, for tests against float64 references.
// Synchronous (test-sized inputs); every length is checked so a bad call throws instead of reading out of bounds.
//
//   rmsnorm(x, w, rows, n, eps) → { y, rstd }
//   rope(x, positions: Int32Array, nHeads, headDim, theta) → Float32Array          (x: [T, nHeads*headDim])
//   attention(q, k, v, { nHeads, nKvHeads, headDim, nQ: number[], nKv: number[] }) → { out, lse }
//       q packed [Σ nQ, H*D], k/v packed [Σ nKv, KVH*D]; query i of sequence s sits at position nKv[s]-nQ[s]+i
//   shortconv(z, kernel, C, lengths: number[], states?: Float32Array [nSeq, 2, C]) → { y, states }
//   swiglu(a, b, isa?: 'auto' | 'portable' | 'avx512') → Float32Array
//   embedding(ids: Int32Array, table: Float32Array | Uint16Array (bf16 bits), vocab, C) → Float32Array
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/embedding.h"
#include "backend/cpu/rmsnorm.h"
#include "backend/cpu/rope.h"
#include "backend/cpu/shortconv.h"
#include "backend/cpu/swiglu.h"
#include "binding/js_exceptions.h"
#include "binding/registry.h"
#include "core/error.h"

namespace lfm2::binding {
namespace {

Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + name + " must be a Float32Array");
  return info[i].As<Napi::Float32Array>();
}

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, int64_t min = 1) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + name + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (std::floor(d) != d || d < double(min) || d > 1e12)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + name + " must be an integer ≥ " + std::to_string(min));
  return int64_t(d);
}

void expect_len(Napi::Env env, size_t got, int64_t want, const char* fn, const char* name) {
  if (int64_t(got) != want)
    throw Napi::RangeError::New(env, std::string(fn) + ": " + name + " has " + std::to_string(got) +
                                         " elements, expected " + std::to_string(want));
}

std::vector<int64_t> int_list(Napi::Env env, Napi::Value v, const char* fn, const char* name) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(fn) + ": " + name + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber() || e.As<Napi::Number>().DoubleValue() < 0)
      throw Napi::TypeError::New(env, std::string(fn) + ": " + name + " must hold non-negative integers");
    out.push_back(e.As<Napi::Number>().Int64Value());
  }
  return out;
}

Napi::Value rmsnorm(const Napi::CallbackInfo& info) {
  auto x = f32_arg(info, 0, "rmsnorm", "x");
  auto w = f32_arg(info, 1, "rmsnorm", "w");
  int64_t rows = int_arg(info, 2, "rmsnorm", "rows"), n = int_arg(info, 3, "rmsnorm", "n");
  if (info.Length() <= 4 || !info[4].IsNumber()) throw Napi::TypeError::New(info.Env(), "rmsnorm: eps must be a number");
  float eps = info[4].As<Napi::Number>().FloatValue();
  expect_len(info.Env(), x.ElementLength(), rows * n, "rmsnorm", "x");
  expect_len(info.Env(), w.ElementLength(), n, "rmsnorm", "w");
  auto y = Napi::Float32Array::New(info.Env(), size_t(rows * n));
  auto rstd = Napi::Float32Array::New(info.Env(), size_t(rows));
  rmsnorm_forward(x.Data(), n, w.Data(), y.Data(), n, rstd.Data(), rows, n, eps);
  auto o = Napi::Object::New(info.Env());
  o.Set("y", y);
  o.Set("rstd", rstd);
  return o;
}

Napi::Value rope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = f32_arg(info, 0, "rope", "x");
  if (info.Length() <= 1 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "rope: positions must be an Int32Array");
  auto pos = info[1].As<Napi::Int32Array>();
  int64_t H = int_arg(info, 2, "rope", "nHeads"), D = int_arg(info, 3, "rope", "headDim");
  if (D % 2) throw Napi::RangeError::New(env, "rope: headDim must be even");
  if (info.Length() <= 4 || !info[4].IsNumber()) throw Napi::TypeError::New(env, "rope: theta must be a number");
  double theta = info[4].As<Napi::Number>().DoubleValue();
  const int64_t T = int64_t(pos.ElementLength());
  expect_len(env, x.ElementLength(), T * H * D, "rope", "x");
  std::vector<float> c(size_t(T * D / 2)), s(size_t(T * D / 2));
  rope_table(pos.Data(), T, D, theta, c.data(), s.data());
  auto y = Napi::Float32Array::New(env, x.ElementLength());
  std::copy(x.Data(), x.Data() + x.ElementLength(), y.Data());
  rope_forward(y.Data(), H * D, T, H, D, c.data(), s.data());
  return y;
}

Napi::Value attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto q = f32_arg(info, 0, "attention", "q");
  auto k = f32_arg(info, 1, "attention", "k");
  auto v = f32_arg(info, 2, "attention", "v");
  if (info.Length() <= 3 || !info[3].IsObject()) throw Napi::TypeError::New(env, "attention: options object required");
  auto o = info[3].As<Napi::Object>();
  auto num = [&](const char* key) {
    Napi::Value x = o.Get(key);
    if (!x.IsNumber() || x.As<Napi::Number>().DoubleValue() < 1)
      throw Napi::TypeError::New(env, std::string("attention: ") + key + " must be a positive integer");
    return x.As<Napi::Number>().Int64Value();
  };
  const int64_t H = num("nHeads"), KVH = num("nKvHeads"), D = num("headDim");
  if (H % KVH) throw Napi::RangeError::New(env, "attention: nHeads must be a multiple of nKvHeads");
  auto nq = int_list(env, o.Get("nQ"), "attention", "nQ"), nkv = int_list(env, o.Get("nKv"), "attention", "nKv");
  if (nq.size() != nkv.size()) throw Napi::RangeError::New(env, "attention: nQ and nKv differ in length");
  int64_t sq = 0, skv = 0;
  for (size_t i = 0; i < nq.size(); ++i) {
    if (nq[i] > nkv[i]) throw Napi::RangeError::New(env, "attention: nQ[i] > nKv[i]");
    sq += nq[i];
    skv += nkv[i];
  }
  expect_len(env, q.ElementLength(), sq * H * D, "attention", "q");
  expect_len(env, k.ElementLength(), skv * KVH * D, "attention", "k");
  expect_len(env, v.ElementLength(), skv * KVH * D, "attention", "v");
  auto out = Napi::Float32Array::New(env, size_t(sq * H * D));
  auto lse = Napi::Float32Array::New(env, size_t(sq * H));
  std::vector<AttentionSeq> seqs;
  int64_t oq = 0, okv = 0;
  for (size_t i = 0; i < nq.size(); ++i) {
    AttentionSeq a;
    a.q = q.Data() + oq * H * D;
    a.k = k.Data() + okv * KVH * D;
    a.v = v.Data() + okv * KVH * D;
    a.out = out.Data() + oq * H * D;
    a.lse = lse.Data() + oq * H;
    a.n_q = nq[i];
    a.n_kv = nkv[i];
    seqs.push_back(a);
    oq += nq[i];
    okv += nkv[i];
  }
  AttentionShape shape{H, KVH, D, H * D, KVH * D, H * D, 1.0f / std::sqrt(float(D))};
  if (o.Has("isa") && !o.Get("isa").IsUndefined()) {  // 'auto' | 'portable' | 'avx2' | 'avx512' (tests)
    const std::string isa = o.Get("isa").IsString() ? o.Get("isa").As<Napi::String>().Utf8Value() : "";
    if (!simd_isa_from_name(isa.c_str(), &shape.isa))
      throw Napi::RangeError::New(env, "attention: isa must be one of auto, portable, avx2, avx512");
  }
  try {
    attention_forward(seqs, shape);
  } catch (const Error& e) {
    throw Napi::RangeError::New(env, e.what());
  }
  auto r = Napi::Object::New(env);
  r.Set("out", out);
  r.Set("lse", lse);
  return r;
}

Napi::Value shortconv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto z = f32_arg(info, 0, "shortconv", "z");
  auto kernel = f32_arg(info, 1, "shortconv", "kernel");
  int64_t C = int_arg(info, 2, "shortconv", "C");
  auto lens = int_list(env, info.Length() > 3 ? info[3] : env.Undefined(), "shortconv", "lengths");
  int64_t T = 0;
  for (int64_t n : lens) {
    if (n < 1) throw Napi::RangeError::New(env, "shortconv: every length must be ≥ 1");
    T += n;
  }
  expect_len(env, z.ElementLength(), T * 3 * C, "shortconv", "z");
  expect_len(env, kernel.ElementLength(), C * kConvTaps, "shortconv", "kernel");
  auto states = Napi::Float32Array::New(env, lens.size() * size_t(2 * C));
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    auto s = f32_arg(info, 4, "shortconv", "states");
    expect_len(env, s.ElementLength(), int64_t(lens.size()) * 2 * C, "shortconv", "states");
    std::copy(s.Data(), s.Data() + s.ElementLength(), states.Data());
  }
  auto y = Napi::Float32Array::New(env, size_t(T * C));
  std::vector<ShortConvSeq> seqs;
  int64_t off = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    seqs.push_back(ShortConvSeq{z.Data() + off * 3 * C, y.Data() + off * C, states.Data() + i * 2 * C, lens[i]});
    off += lens[i];
  }
  shortconv_forward(seqs, kernel.Data(), C, 3 * C, C);
  auto r = Napi::Object::New(env);
  r.Set("y", y);
  r.Set("states", states);
  return r;
}

Napi::Value swiglu(const Napi::CallbackInfo& info) {
  auto a = f32_arg(info, 0, "swiglu", "a");
  auto b = f32_arg(info, 1, "swiglu", "b");
  expect_len(info.Env(), b.ElementLength(), int64_t(a.ElementLength()), "swiglu", "b");
  SimdIsa isa = SimdIsa::Auto;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    const std::string name = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    if (!simd_isa_from_name(name.c_str(), &isa))
      throw Napi::RangeError::New(info.Env(), "swiglu: isa must be one of auto, portable, avx2, avx512; got '" + name + "'");
  }
  auto out = Napi::Float32Array::New(info.Env(), a.ElementLength());
  guarded(info.Env(), [&] { swiglu_forward(a.Data(), b.Data(), out.Data(), int64_t(a.ElementLength()), isa); });
  return out;
}

Napi::Value embedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, "embedding(ids: Int32Array, table, vocab, C)");
  auto ids = info[0].As<Napi::Int32Array>();
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "embedding: table must be a Float32Array or Uint16Array");
  auto ta = info[1].As<Napi::TypedArray>();
  DType dt;
  if (ta.TypedArrayType() == napi_float32_array)
    dt = DType::F32;
  else if (ta.TypedArrayType() == napi_uint16_array)
    dt = DType::BF16;
  else
    throw Napi::TypeError::New(env, "embedding: table must be a Float32Array or Uint16Array (bf16 bits)");
  int64_t V = int_arg(info, 2, "embedding", "vocab"), C = int_arg(info, 3, "embedding", "C");
  expect_len(env, ta.ElementLength(), V * C, "embedding", "table");
  auto out = Napi::Float32Array::New(env, ids.ElementLength() * size_t(C));
  const void* data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  try {
    embedding_forward(ids.Data(), int64_t(ids.ElementLength()), data, dt, V, C, out.Data());
  } catch (const Error& e) {
    throw Napi::RangeError::New(env, std::string("embedding: ") + e.what());
  }
  return out;
}

}  // namespace

void register_ops_forward(Napi::Env env, Napi::Object exports) {
  auto o = Napi::Object::New(env);
  o.Set("rmsnorm", Napi::Function::New(env, rmsnorm, "rmsnorm"));
  o.Set("rope", Napi::Function::New(env, rope, "rope"));
  o.Set("attention", Napi::Function::New(env, attention, "attention"));
  o.Set("shortconv", Napi::Function::New(env, shortconv, "shortconv"));
  o.Set("swiglu", Napi::Function::New(env, swiglu, "swiglu"));
  o.Set("embedding", Napi::Function::New(env, embedding, "embedding"));
  exports.Set("opsForward", o);
}

}  // namespace lfm2::binding
