// JS access to the strict JSON parser (native/core/json.h), so tests can check it against JSON.parse:
//   jsonParse(text, { integers?: 'number' | 'bigint' }) -> the parsed value (objects keep document order).
// With integers: 'bigint', numbers written as integers come back as BigInt through Value::as_int (exact, overflow
// is an error), which is how config and header readers get sizes.
#include <napi.h>

#include "binding/registry.h"
#include "core/json.h"

namespace lfm2::binding {
namespace {

Napi::Value to_js(Napi::Env env, const json::Value& v, bool bigint) {
  switch (v.type()) {
    case json::Type::Null: return env.Null();
    case json::Type::Bool: return Napi::Boolean::New(env, v.as_bool());
    case json::Type::Number: {
      const std::string& t = v.number_text();
      if (bigint && t.find_first_of(".eE") == std::string::npos) return Napi::BigInt::New(env, v.as_int());
      return Napi::Number::New(env, v.as_number());
    }
    case json::Type::String: return Napi::String::New(env, v.as_string());
    case json::Type::Array: {
      auto a = Napi::Array::New(env, v.size());
      uint32_t i = 0;
      for (const auto& e : v.array()) a.Set(i++, to_js(env, e, bigint));
      return a;
    }
    case json::Type::Object: {
      auto o = Napi::Object::New(env);
      for (const auto& [k, e] : v.items()) o.Set(k, to_js(env, e, bigint));
      return o;
    }
  }
  return env.Undefined();
}

Napi::Value json_parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "jsonParse(text, options?): text must be a string");
  bool bigint = false;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Value mode = info[1].As<Napi::Object>().Get("integers");
    if (mode.IsString()) {
      std::string m = mode.As<Napi::String>().Utf8Value();
      if (m != "number" && m != "bigint") throw Napi::TypeError::New(env, "jsonParse: integers must be 'number' or 'bigint'");
      bigint = m == "bigint";
    }
  }
  std::string text = info[0].As<Napi::String>().Utf8Value();
  try {
    return to_js(env, json::parse(text), bigint);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace

void register_json(Napi::Env env, Napi::Object exports) {
  exports.Set("jsonParse", Napi::Function::New(env, json_parse, "jsonParse"));
}

}  // namespace lfm2::binding
