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
  lfm2::binding::register_ops_forward(env, exports);
  lfm2::binding::register_gemm(env, exports);
  lfm2::binding::register_ops_train(env, exports);
  lfm2::binding::register_trainer(env, exports);
  lfm2::binding::register_cuda(env, exports);
  lfm2::binding::register_cuda_emu(env, exports);
  lfm2::binding::register_cuda_train_ops(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(lfm2_rl, init)
