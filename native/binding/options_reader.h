#pragma once
// Reads the fields of a JS options object, naming the function and the key in every error (shared by the Trainer,
// the GPU trainer and the models' token log-probs).
#include <napi.h>

#include <string>
#include <vector>

namespace lfm2::binding {

struct OptionsReader {
  Napi::Env env;
  Napi::Object o;
  std::string fn;
  // Op calls (binding/op_args.h) name a key in quotes ("gemm: 'M' must be a number"), the engines' options plainly.
  bool quote_keys = false;

  bool has(const char* k) const {
    if (!o.Has(k)) return false;
    Napi::Value v = o.Get(k);
    return !v.IsUndefined() && !v.IsNull();
  }
  std::string where(const char* k) const { return quote_keys ? fn + ": '" + k + "'" : fn + ": " + k; }
  double num(const char* k, double def) const {
    if (!has(k)) return def;
    Napi::Value v = o.Get(k);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, where(k) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  }
  bool flag(const char* k, bool def) const {
    if (!has(k)) return def;
    Napi::Value v = o.Get(k);
    if (!v.IsBoolean()) throw Napi::TypeError::New(env, where(k) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }
  std::string str(const char* k, const std::string& def) const {
    if (!has(k)) return def;
    Napi::Value v = o.Get(k);
    if (!v.IsString()) throw Napi::TypeError::New(env, where(k) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  OptionsReader sub(const char* k) const {
    if (!has(k)) return OptionsReader{env, Napi::Object::New(env), fn + ": " + k};
    Napi::Value v = o.Get(k);
    if (!v.IsObject()) throw Napi::TypeError::New(env, where(k) + " must be an object");
    return OptionsReader{env, v.As<Napi::Object>(), fn + ": " + k};
  }
  // A copy of a typed array field (JS memory may change while the work runs); empty when optional and absent.
  template <typename T>
  std::vector<T> array(const char* k, napi_typedarray_type kind, const char* kind_name, bool optional) const {
    if (!has(k)) {
      if (optional) return {};
      throw Napi::TypeError::New(env, where(k) + " is required");
    }
    Napi::Value v = o.Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind)
      throw Napi::TypeError::New(env, where(k) + " must be a " + kind_name);
    auto ta = v.As<Napi::TypedArrayOf<T>>();
    return std::vector<T>(ta.Data(), ta.Data() + ta.ElementLength());
  }
};

// The options object at info[i]: empty when absent/undefined, a TypeError naming `fn` when not an object.
inline OptionsReader options_at(const Napi::CallbackInfo& info, size_t i, const std::string& fn) {
  if (info.Length() <= i || info[i].IsUndefined()) return OptionsReader{info.Env(), Napi::Object::New(info.Env()), fn};
  if (!info[i].IsObject()) throw Napi::TypeError::New(info.Env(), fn + ": expected an options object");
  return OptionsReader{info.Env(), info[i].As<Napi::Object>(), fn};
}

}  // namespace lfm2::binding
