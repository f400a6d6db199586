// JS access to the native safetensors reader/writer (used by tests and tools):
//   safetensorsInfo(path) -> { headerLength, metadata, tensors: [{ name, dtype, shape, dataOffsets }] } (offset order)
//   safetensorsReadTensor(path, name, as: 'f32' | 'bf16') -> Float32Array | Uint16Array
//   safetensorsWrite(path, [{ name, dtype, shape, data }], metadata?)
#include <napi.h>

#include "binding/registry.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace lfm2::binding {
namespace {

using lfm2::io::SafetensorsFile;
using lfm2::io::StDType;

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Value safetensors_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = string_arg(info, 0, "safetensorsInfo(path)", "path");
  std::shared_ptr<SafetensorsFile> f;
  try {
    f = SafetensorsFile::open(path);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto out = Napi::Object::New(env);
  out.Set("headerLength", double(f->header_length()));
  auto meta = Napi::Object::New(env);
  for (const auto& [k, v] : f->metadata()) meta.Set(k, v);
  out.Set("metadata", meta);
  auto list = Napi::Array::New(env, f->tensors().size());
  uint32_t i = 0;
  for (const auto& t : f->tensors()) {
    auto o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("dtype", t.dtype_str);
    auto shape = Napi::Array::New(env, t.shape.size());
    for (uint32_t k = 0; k < t.shape.size(); k++) shape.Set(k, double(t.shape[k]));
    o.Set("shape", shape);
    auto offs = Napi::Array::New(env, 2);
    offs.Set(uint32_t(0), double(t.begin));
    offs.Set(uint32_t(1), double(t.end));
    o.Set("dataOffsets", offs);
    list.Set(i++, o);
  }
  out.Set("tensors", list);
  return out;
}

Napi::Value safetensors_read_tensor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "safetensorsReadTensor(path, name, as)";
  std::string path = string_arg(info, 0, fn, "path");
  std::string name = string_arg(info, 1, fn, "name");
  std::string as = string_arg(info, 2, fn, "as");
  if (as != "f32" && as != "bf16") throw Napi::TypeError::New(env, std::string(fn) + ": as must be 'f32' or 'bf16'");
  try {
    auto f = SafetensorsFile::open(path);
    const auto& t = f->get(name);
    size_t n = size_t(t.numel());
    if (as == "f32") {
      auto arr = Napi::Float32Array::New(env, n);
      f->read_f32(name, t.shape, arr.Data());
      return arr;
    }
    auto arr = Napi::Uint16Array::New(env, n);
    f->read_bf16(name, t.shape, arr.Data());
    return arr;
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

StDType parse_dtype(Napi::Env env, const std::string& s) {
  for (StDType t : {StDType::F32, StDType::F16, StDType::BF16, StDType::F64, StDType::I32, StDType::I64, StDType::U8,
                    StDType::I8, StDType::BOOL}) {
    if (s == lfm2::io::dtype_name(t)) return t;
  }
  throw Napi::TypeError::New(env, "safetensorsWrite: unsupported dtype '" + s + "'");
}

Napi::Value safetensors_write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "safetensorsWrite(path, tensors, metadata?)";
  std::string path = string_arg(info, 0, fn, "path");
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, std::string(fn) + ": tensors must be an array");
  auto arr = info[1].As<Napi::Array>();
  std::vector<lfm2::io::TensorToWrite> tensors;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) throw Napi::TypeError::New(env, "safetensorsWrite: tensors[" + std::to_string(i) + "] is not an object");
    auto o = v.As<Napi::Object>();
    std::string where = "safetensorsWrite: tensors[" + std::to_string(i) + "]";
    if (!o.Get("name").IsString()) throw Napi::TypeError::New(env, where + ".name must be a string");
    if (!o.Get("dtype").IsString()) throw Napi::TypeError::New(env, where + ".dtype must be a string");
    if (!o.Get("shape").IsArray()) throw Napi::TypeError::New(env, where + ".shape must be an array");
    Napi::Value data = o.Get("data");
    if (!data.IsTypedArray() && !data.IsBuffer() && !data.IsDataView())
      throw Napi::TypeError::New(env, where + ".data must be a Buffer or typed array");
    lfm2::io::TensorToWrite t;
    t.name = o.Get("name").As<Napi::String>().Utf8Value();
    t.dtype = parse_dtype(env, o.Get("dtype").As<Napi::String>().Utf8Value());
    auto shape = o.Get("shape").As<Napi::Array>();
    uint64_t numel = 1;
    for (uint32_t k = 0; k < shape.Length(); k++) {
      Napi::Value d = shape.Get(k);
      double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0 && x <= 9007199254740991.0 && x == double(int64_t(x))))
        throw Napi::RangeError::New(env, where + ".shape must hold non-negative integers");
      t.shape.push_back(int64_t(x));
      if (__builtin_mul_overflow(numel, uint64_t(x), &numel)) throw Napi::RangeError::New(env, where + ".shape is too large");
    }
    size_t byte_len;
    const uint8_t* ptr;
    if (data.IsTypedArray()) {
      auto ta = data.As<Napi::TypedArray>();
      byte_len = ta.ByteLength();
      ptr = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    } else {
      auto dv = data.As<Napi::DataView>();
      byte_len = dv.ByteLength();
      ptr = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    }
    uint64_t want = 0;
    if (__builtin_mul_overflow(numel, uint64_t(lfm2::io::dtype_size(t.dtype)), &want) || want != byte_len) {
      throw Napi::RangeError::New(env, where + " (" + t.name + "): " + lfm2::io::dtype_name(t.dtype) + " shape needs " +
                                           std::to_string(want) + " bytes, got " + std::to_string(byte_len));
    }
    t.data = ptr;
    tensors.push_back(std::move(t));
  }
  std::map<std::string, std::string> metadata;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsObject()) throw Napi::TypeError::New(env, std::string(fn) + ": metadata must be an object");
    auto m = info[2].As<Napi::Object>();
    auto keys = m.GetPropertyNames();
    for (uint32_t k = 0; k < keys.Length(); k++) {
      Napi::Value key = keys.Get(k);
      Napi::Value val = m.Get(key);
      if (!val.IsString()) throw Napi::TypeError::New(env, "safetensorsWrite: metadata values must be strings");
      metadata[key.ToString().Utf8Value()] = val.As<Napi::String>().Utf8Value();
    }
  }
  try {
    lfm2::io::write_safetensors(path, tensors, metadata);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

}  // namespace

void register_safetensors(Napi::Env env, Napi::Object exports) {
  exports.Set("safetensorsInfo", Napi::Function::New(env, safetensors_info, "safetensorsInfo"));
  exports.Set("safetensorsReadTensor", Napi::Function::New(env, safetensors_read_tensor, "safetensorsReadTensor"));
  exports.Set("safetensorsWrite", Napi::Function::New(env, safetensors_write, "safetensorsWrite"));
}

}  // namespace lfm2::binding
