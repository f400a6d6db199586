#pragma once
// Each binding file exposes one register_* function; addon.cpp calls them all. Add new ones here.
#include <napi.h>

namespace lfm2::binding {
void register_system(Napi::Env env, Napi::Object exports);
void register_safetensors(Napi::Env env, Napi::Object exports);
void register_json(Napi::Env env, Napi::Object exports);
void register_sampler(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
void register_ops_forward(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);
void register_ops_train(Napi::Env env, Napi::Object exports);
void register_trainer(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_cuda_emu(Napi::Env env, Napi::Object exports);  // emulation module only (cudaEmuSelfTest)
void register_cuda_train_ops(Napi::Env env, Napi::Object exports);
}  // namespace lfm2::binding
