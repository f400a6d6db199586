#pragma once
// Argument parsing and result conversion shared by the CPU Sampler (sampler.cpp) and the GPU sampler
// (cuda_sampler.cpp): both take the same generate spec and return the same result objects.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "model/lfm2.h"
#include "model/prefix_cache.h"
#include "model/sampler.h"
#include "model/sampler_generate.h"

namespace lfm2::binding {

double num_opt(Napi::Object o, const char* key, double dflt, const std::string& fn);
int64_t int_opt(Napi::Object o, const char* key, int64_t dflt, const std::string& fn);

template <typename T, typename TA>
std::vector<T> typed_vec(Napi::Env env, Napi::Value v, napi_typedarray_type type, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(env, what + " has the wrong array type");
  auto a = v.As<TA>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

template <typename TA, typename T>
TA to_typed(Napi::Env env, const std::vector<T>& v) {
  auto a = TA::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

SamplingParams parse_params(Napi::Env env, Napi::Value v, const std::string& fn);
std::shared_ptr<TokenTrie> parse_trie(Napi::Env env, Napi::Value v, const std::string& what);

// sampler.generate(spec): { requests: [{ prompt, n, trie? }], params, maxContext, prefillChunkTokens, precision,
// cachePrompts } (the GPU sampler also reads `graphs`).
struct GenerateSpec {
  std::shared_ptr<std::vector<GenerateRequest>> requests;
  std::shared_ptr<GenerateConfig> cfg;
  Precision precision = Precision::Exact;
};
GenerateSpec parse_generate_spec(const Napi::CallbackInfo& info, const std::string& fn);

// setTokenBytes(bytes, offsets [V + 1]) → token id → raw bytes.
std::shared_ptr<std::vector<std::string>> parse_token_bytes(const Napi::CallbackInfo& info, int64_t vocab);

Napi::Object stats_to_js(Napi::Env env, const PrefixCacheStats& s);
Napi::Value output_to_js(Napi::Env env, GenerateOutput& out);

}  // namespace lfm2::binding
