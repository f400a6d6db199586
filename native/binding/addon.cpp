// Module registration only; every JS-visible class or function lives in its own binding file.
#include <napi.h>

#include "binding/registry.h"

namespace {
Napi::Object init(Napi::Env env, Napi::Object exports) {
  lfm2::binding::register_system(env, exports);
  lfm2::binding::register_safetensors(env, exports);
  lfm2::binding::register_json(env, exports);
  lfm2::binding::register_sampler(env, exports);
  lfm2::binding::register_model(env, exports);
  lfm2::binding::register_ops(env, exports);
  lfm2::binding::register_train_math(env, exports);
  lfm2::binding::register_cpu_probes(env, exports);
  lfm2::binding::register_trainer(env, exports);
  lfm2::binding::register_cuda(env, exports);
  lfm2::binding::register_cuda_emu(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(lfm2_rl, init)
