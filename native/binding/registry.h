#pragma once
// Each binding file exposes one register_* function; addon.cpp calls them all. Add new ones here.
#include <napi.h>

namespace lfm2::binding {
void register_system(Napi::Env env, Napi::Object exports);
void register_safetensors(Napi::Env env, Napi::Object exports);
void register_json(Napi::Env env, Napi::Object exports);
void register_sampler(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_train_math(Napi::Env env, Napi::Object exports);
void register_cpu_probes(Napi::Env env, Napi::Object exports);
void register_trainer(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_cuda_emu(Napi::Env env, Napi::Object exports);  // emulation module only (cudaEmuSelfTest)
}  // namespace lfm2::binding
