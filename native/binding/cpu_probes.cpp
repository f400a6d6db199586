// The CPU's features and its measured ceilings (arithmetic peak, read bandwidth), for tests choosing kernel builds
// and for the benchmarks' rooflines.
#include <napi.h>

#include <string>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm_peak.h"
#include "binding/js_exceptions.h"
#include "binding/registry.h"

namespace lfm2::binding {
namespace {

Napi::Value cpu_features_js(const Napi::CallbackInfo& info) {
  const CpuFeatures& f = cpu_features();
  auto o = Napi::Object::New(info.Env());
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("f16c", f.f16c);
  o.Set("avx512f", f.avx512f);
  o.Set("avx512bw", f.avx512bw);
  o.Set("avx512vl", f.avx512vl);
  o.Set("avx512dq", f.avx512dq);
  o.Set("avx512bf16", f.avx512bf16);
  o.Set("amxBf16", f.has_amx_bf16());
  return o;
}

double get_seconds(const Napi::CallbackInfo& info, size_t idx, const char* fn) {
  if (info.Length() <= idx || !info[idx].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": seconds must be a number");
  return info[idx].As<Napi::Number>().DoubleValue();
}

// cpuPeakFlops(kind: 'fma-f32' | 'dot-bf16' | 'amx-bf16', seconds) -> FLOP/s on all pool threads.
Napi::Value cpu_peak_flops_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "cpuPeakFlops: kind must be a string");
  const double s = get_seconds(info, 1, "cpuPeakFlops");
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(env, guarded(env, [&] { return cpu_peak_flops(kind, s); }));
}

// cpuReadBandwidth(bytes, seconds) -> bytes/s on all pool threads.
Napi::Value cpu_read_bandwidth_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "cpuReadBandwidth: bytes must be a number");
  const double s = get_seconds(info, 1, "cpuReadBandwidth");
  const int64_t bytes = int64_t(info[0].As<Napi::Number>().DoubleValue());
  return Napi::Number::New(env, guarded(env, [&] { return cpu_read_bandwidth(bytes, s); }));
}

}  // namespace

void register_cpu_probes(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuFeatures", Napi::Function::New(env, cpu_features_js, "cpuFeatures"));
  exports.Set("cpuPeakFlops", Napi::Function::New(env, cpu_peak_flops_js, "cpuPeakFlops"));
  exports.Set("cpuReadBandwidth", Napi::Function::New(env, cpu_read_bandwidth_js, "cpuReadBandwidth"));
}

}  // namespace lfm2::binding
