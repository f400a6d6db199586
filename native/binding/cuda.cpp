// Which device a run can use, in every build: without the CUDA backend compiled in, or without a GPU, 'cuda' is a
// clear error instead of the addon failing to load. The backend's ops are in `ops` (binding/ops.cpp).
//
//   resolveDevice('auto'|'cpu'|'cuda') → 'cpu'|'cuda'      (throws for 'cuda' without a usable GPU)
//   cudaStatus() → { compiled, deviceCount, deviceName, reason, cublasLt }
#include <napi.h>

#include <string>

#include "backend/device.h"
#include "binding/registry.h"

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

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("resolveDevice", Napi::Function::New(env, resolve_device_js, "resolveDevice"));
  exports.Set("cudaStatus", Napi::Function::New(env, cuda_status_js, "cudaStatus"));
}

}  // namespace lfm2::binding
