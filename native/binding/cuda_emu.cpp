// JS face of the CUDA emulator's self-checks: cudaEmuSelfTest(name, input?) → { values, errors }, present only in
// the emulation module (lfm2_rl_emu.node). See native/backend/cuda_emu/self_test.h for the cases.
#include <napi.h>

#include "binding/registry.h"
#ifdef LFM2_CUDA_EMULATION
#include "backend/cuda_emu/self_test.h"
#endif

namespace lfm2::binding {

#ifdef LFM2_CUDA_EMULATION
namespace {

Napi::Value cuda_emu_self_test(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(env, "cudaEmuSelfTest(name, input?): name must be a string");
  std::vector<float> input;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(env, "cudaEmuSelfTest(name, input?): input must be a Float32Array");
    auto a = info[1].As<Napi::Float32Array>();
    input.assign(a.Data(), a.Data() + a.ElementLength());
  }
  lfm2_emu::SelfTestResult r;
  try {
    r = lfm2_emu::self_test(info[0].As<Napi::String>().Utf8Value(), input);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto values = Napi::Object::New(env);
  for (const auto& [k, v] : r.values) {
    auto arr = Napi::Float64Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); ++i) arr[i] = v[i];
    values.Set(k, arr);
  }
  auto errors = Napi::Object::New(env);
  for (const auto& [k, v] : r.errors) errors.Set(k, v);
  auto o = Napi::Object::New(env);
  o.Set("values", values);
  o.Set("errors", errors);
  return o;
}

}  // namespace
#endif

void register_cuda_emu(Napi::Env env, Napi::Object exports) {
#ifdef LFM2_CUDA_EMULATION
  exports.Set("cudaEmuSelfTest", Napi::Function::New(env, cuda_emu_self_test, "cudaEmuSelfTest"));
#else
  (void)env, (void)exports;
#endif
}

}  // namespace lfm2::binding
