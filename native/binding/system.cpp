// Process-wide functions: backend info and thread count.
#include <napi.h>

#include "backend/cpu/cpu_features.h"
#include "backend/device.h"
#include "binding/registry.h"
#include "core/threadpool.h"

namespace lfm2::binding {
namespace {

Napi::Value backend_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("threads", lfm2::num_threads());
#ifdef LFM2_WITH_CUDA
  o.Set("cudaCompiled", true);
#else
  o.Set("cudaCompiled", false);
#endif
#ifdef LFM2_CUDA_EMULATION
  o.Set("cudaEmulated", true);  // the CUDA backend runs on the CPU emulator (native/backend/cuda_emu)
#else
  o.Set("cudaEmulated", false);
#endif
  {  // whether a GPU is usable (cudaGetDeviceCount is guarded: no driver → 0 devices, never a failure)
    lfm2::CudaAvailability cuda = lfm2::cuda_availability();
    o.Set("cudaUsable", cuda.device_count > 0);
    o.Set("cudaDevices", cuda.device_count);
    o.Set("cudaDeviceName", cuda.device_name);
    o.Set("cudaReason", cuda.reason);
  }
  o.Set("avx512", bool(__builtin_cpu_supports("avx512f")));
  o.Set("avx512bf16", bool(__builtin_cpu_supports("avx512bf16")));
  o.Set("amxBf16", lfm2::cpu_features().has_amx_bf16());
  o.Set("avx2", bool(__builtin_cpu_supports("avx2")));
  return o;
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "setThreads(n): n must be a number");
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1 || n > 1024) throw Napi::RangeError::New(env, "setThreads(n): n must be in [1, 1024]");
  lfm2::set_num_threads(n);
  return env.Undefined();
}

}  // namespace

void register_system(Napi::Env env, Napi::Object exports) {
  exports.Set("backendInfo", Napi::Function::New(env, backend_info, "backendInfo"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads, "setThreads"));
}

}  // namespace lfm2::binding
