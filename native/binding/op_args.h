#pragma once
// Reads the one options object of an op call (binding/ops.cpp, binding/train_math.cpp): numbers, flags, strings and
// typed arrays, each checked for type and element count before any native work runs, with errors naming the function
// and the field.
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cpu/gemm.h"  // DType
#include "binding/options_reader.h"

namespace lfm2::binding {

// The generic reads (has, optional numbers, flags, strings) are OptionsReader's; OpArgs adds required numbers,
// sizes, and typed arrays used in place.
class OpArgs {
 public:
  OpArgs(const Napi::CallbackInfo& info, std::string fn) : r_{info.Env(), Napi::Object(), std::move(fn), true} {
    if (info.Length() < 1 || !info[0].IsObject())
      throw Napi::TypeError::New(r_.env, r_.fn + ": expected an options object");
    r_.o = info[0].As<Napi::Object>();
  }
  OpArgs(Napi::Env env, Napi::Object o, std::string fn) : r_{env, o, std::move(fn), true} {}
  Napi::Env env() const { return r_.env; }
  const Napi::Object& obj() const { return r_.o; }
  const std::string& fn() const { return r_.fn; }
  std::string where(const char* key) const { return r_.where(key); }

  bool has(const char* key) const { return r_.has(key); }
  double num(const char* key) const {
    Napi::Value v = r_.o.Get(key);
    if (!v.IsNumber()) throw Napi::TypeError::New(r_.env, where(key) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  double num(const char* key, double def) const { return r_.num(key, def); }
  // A non-negative integer (sizes, counts).
  int64_t dim(const char* key) const {
    const double d = num(key);
    if (!(d >= 0) || d > 9.0e15 || d != double(int64_t(d)))
      throw Napi::RangeError::New(r_.env, where(key) + " must be a non-negative integer");
    return int64_t(d);
  }
  int64_t dim(const char* key, int64_t def) const { return has(key) ? dim(key) : def; }
  bool flag(const char* key, bool def) const { return r_.flag(key, def); }
  std::string str(const char* key, const char* def) const { return r_.str(key, def); }
  // Non-negative integers from a plain array.
  std::vector<int64_t> ints(const char* key) const {
    Napi::Value v = r_.o.Get(key);
    if (!v.IsArray()) throw Napi::TypeError::New(r_.env, where(key) + " must be an array of integers");
    auto a = v.As<Napi::Array>();
    std::vector<int64_t> out;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber() || e.As<Napi::Number>().DoubleValue() < 0)
        throw Napi::TypeError::New(r_.env, where(key) + " must hold non-negative integers");
      out.push_back(e.As<Napi::Number>().Int64Value());
    }
    return out;
  }

  // A typed array field of exactly `len` elements (len < 0: any length; *got receives it).
  template <typename T>
  T* typed(const char* key, int64_t len, bool optional, napi_typedarray_type kind, const char* kind_name,
           int64_t* got = nullptr) const {
    if (!has(key)) {
      if (optional) return nullptr;
      throw Napi::TypeError::New(r_.env, where(key) + " is required (" + kind_name + ")");
    }
    Napi::Value v = r_.o.Get(key);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind)
      throw Napi::TypeError::New(r_.env, where(key) + " must be a " + kind_name);
    auto arr = v.As<Napi::TypedArrayOf<T>>();
    if (got) *got = int64_t(arr.ElementLength());
    if (len >= 0 && int64_t(arr.ElementLength()) != len)
      throw Napi::RangeError::New(r_.env, where(key) + " has " + std::to_string(arr.ElementLength()) +
                                            " elements, expected " + std::to_string(len));
    return arr.Data();
  }
  float* f32(const char* key, int64_t len, bool optional = false) const {
    return typed<float>(key, len, optional, napi_float32_array, "Float32Array");
  }
  int32_t* i32(const char* key, int64_t len, bool optional = false) const {
    return typed<int32_t>(key, len, optional, napi_int32_array, "Int32Array");
  }
  // The element type of an FP32 (Float32Array) or BF16 (Uint16Array of bit patterns) field.
  DType dtype(const char* key) const {
    Napi::Value v = r_.o.Get(key);
    if (v.IsTypedArray()) {
      const napi_typedarray_type t = v.As<Napi::TypedArray>().TypedArrayType();
      if (t == napi_float32_array) return DType::F32;
      if (t == napi_uint16_array) return DType::BF16;
    }
    throw Napi::TypeError::New(r_.env, where(key) + " must be a Float32Array (FP32) or Uint16Array (BF16 bits)");
  }
  // Such a field with at least `need` elements (strided matrices) or exactly `len` (need < 0).
  void* weight(const char* key, int64_t len, DType* type, int64_t need = -1) const {
    if (!has(key)) throw Napi::TypeError::New(r_.env, where(key) + " is required");
    *type = dtype(key);
    int64_t got = 0;
    void* p = *type == DType::F32
                  ? static_cast<void*>(typed<float>(key, need >= 0 ? -1 : len, false, napi_float32_array,
                                                    "Float32Array", &got))
                  : static_cast<void*>(typed<uint16_t>(key, need >= 0 ? -1 : len, false, napi_uint16_array,
                                                       "Uint16Array", &got));
    if (need >= 0 && got < need)
      throw Napi::RangeError::New(r_.env, where(key) + " has " + std::to_string(got) + " elements, needs " +
                                            std::to_string(need));
    return p;
  }

 private:
  OptionsReader r_;
};

}  // namespace lfm2::binding
