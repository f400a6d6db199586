#pragma once
// Positional arguments of the ops bindings that take (typed arrays, integers) in a fixed order: type and length
// checks with errors that name the function and the argument.
#include <napi.h>

#include <cstdint>
#include <string>

namespace lfm2::binding {

// info[i] as a typed array of `type`; `expect` ≥ 0 also checks its element count.
template <typename TA>
TA typed_arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* fn, const char* what,
             int64_t expect = -1) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, std::string(fn) + ": " + what + " has the wrong type");
  TA a = info[i].As<TA>();
  if (expect >= 0 && int64_t(a.ElementLength()) != expect)
    throw Napi::RangeError::New(env, std::string(fn) + ": " + what + " has " + std::to_string(a.ElementLength()) +
                                         " elements, expected " + std::to_string(expect));
  return a;
}

// info[i] as an integer ≥ min.
inline int64_t integer_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what, int64_t min) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d)) || d < double(min))
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + what +
                                                (min == 0 ? std::string(" must be a non-negative integer")
                                                          : " must be an integer >= " + std::to_string(min)));
  return int64_t(d);
}

}  // namespace lfm2::binding
