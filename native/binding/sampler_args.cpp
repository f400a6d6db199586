#include "binding/sampler_args.h"

namespace lfm2::binding {

double num_opt(Napi::Object o, const char* key, double dflt, const std::string& fn) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), fn + ": " + key + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t int_opt(Napi::Object o, const char* key, int64_t dflt, const std::string& fn) {
  double d = num_opt(o, key, double(dflt), fn);
  if (d != double(int64_t(d))) throw Napi::TypeError::New(o.Env(), fn + ": " + key + " must be an integer");
  return int64_t(d);
}

SamplingParams parse_params(Napi::Env env, Napi::Value v, const std::string& fn) {
  SamplingParams p;
  if (v.IsUndefined()) return p;
  if (!v.IsObject()) throw Napi::TypeError::New(env, fn + ": params must be an object");
  auto o = v.As<Napi::Object>();
  p.temperature = num_opt(o, "temperature", 1.0, fn);
  p.top_k = int_opt(o, "topK", 0, fn);
  p.top_p = num_opt(o, "topP", 1.0, fn);
  p.min_p = num_opt(o, "minP", 0.0, fn);
  p.repetition_penalty = num_opt(o, "repetitionPenalty", 1.0, fn);
  p.max_new_tokens = int_opt(o, "maxNewTokens", 256, fn);
  const double seed = num_opt(o, "seed", 0, fn);
  if (!(seed >= 0 && seed <= 9007199254740991.0 && seed == double(int64_t(seed))))
    throw Napi::TypeError::New(env, fn + ": seed must be an integer in [0, 2^53)");
  p.seed = uint64_t(seed);
  Napi::Value ids = o.Get("stopIds");
  if (!ids.IsUndefined()) p.stop_ids = typed_vec<int32_t, Napi::Int32Array>(env, ids, napi_int32_array, fn + ": stopIds");
  Napi::Value ss = o.Get("stopStrings");
  if (!ss.IsUndefined()) {
    if (!ss.IsArray()) throw Napi::TypeError::New(env, fn + ": stopStrings must be an array of Uint8Array");
    auto arr = ss.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      auto b = typed_vec<uint8_t, Napi::Uint8Array>(env, arr.Get(i), napi_uint8_array, fn + ": stopStrings[i]");
      p.stop_strings.emplace_back(b.begin(), b.end());
    }
  }
  return p;
}

std::shared_ptr<TokenTrie> parse_trie(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject()) throw Napi::TypeError::New(env, what + " must be an action trie object");
  auto o = v.As<Napi::Object>();
  auto t = std::make_shared<TokenTrie>();
  t->child_start = typed_vec<int32_t, Napi::Int32Array>(env, o.Get("childStart"), napi_int32_array, what + ".childStart");
  t->child_token = typed_vec<int32_t, Napi::Int32Array>(env, o.Get("childToken"), napi_int32_array, what + ".childToken");
  t->child_node = typed_vec<int32_t, Napi::Int32Array>(env, o.Get("childNode"), napi_int32_array, what + ".childNode");
  t->terminal = typed_vec<uint8_t, Napi::Uint8Array>(env, o.Get("terminal"), napi_uint8_array, what + ".terminal");
  return t;
}

Napi::Object stats_to_js(Napi::Env env, const PrefixCacheStats& s) {
  auto o = Napi::Object::New(env);
  o.Set("entries", double(s.entries));
  o.Set("bytes", double(s.bytes));
  o.Set("capacity", double(s.capacity));
  o.Set("hits", double(s.hits));
  o.Set("misses", double(s.misses));
  o.Set("inserts", double(s.inserts));
  o.Set("evictions", double(s.evictions));
  return o;
}

Napi::Value output_to_js(Napi::Env env, GenerateOutput& out) {
  auto o = Napi::Object::New(env);
  auto arr = Napi::Array::New(env, out.samples.size());
  for (size_t i = 0; i < out.samples.size(); ++i) {
    const SampleResult& s = out.samples[i];
    auto e = Napi::Object::New(env);
    e.Set("request", double(s.request));
    e.Set("index", double(s.index));
    e.Set("tokens", to_typed<Napi::Int32Array>(env, s.tokens));
    e.Set("logprobs", to_typed<Napi::Float32Array>(env, s.logprobs));
    e.Set("tempLogprobs", to_typed<Napi::Float32Array>(env, s.temp_logprobs));
    e.Set("sampleLogprobs", to_typed<Napi::Float32Array>(env, s.sample_logprobs));
    if (!s.masked_logprobs.empty()) e.Set("maskedLogprobs", to_typed<Napi::Float32Array>(env, s.masked_logprobs));
    e.Set("finishReason", finish_reason_name(s.finish));
    e.Set("stopString", double(s.stop_string));
    e.Set("firstTokenMs", s.first_token_ms);
    e.Set("finishMs", s.finish_ms);
    arr.Set(uint32_t(i), e);
  }
  o.Set("samples", arr);
  const GenerateStats& st = out.stats;
  auto so = Napi::Object::New(env);
  so.Set("distinctPrompts", double(st.distinct_prompts));
  so.Set("promptTokens", double(st.prompt_tokens));
  so.Set("cachedTokens", double(st.cached_tokens));
  so.Set("sharedTokens", double(st.shared_tokens));
  so.Set("prefillTokens", double(st.prefill_tokens));
  so.Set("decodeSteps", double(st.decode_steps));
  so.Set("generatedTokens", double(st.generated_tokens));
  so.Set("prefillMs", st.prefill_ms);
  so.Set("decodeMs", st.decode_ms);
  so.Set("totalMs", st.total_ms);
  o.Set("stats", so);
  return o;
}

GenerateSpec parse_generate_spec(const Napi::CallbackInfo& info, const std::string& fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, fn + "(spec): spec must be an object");
  auto spec = info[0].As<Napi::Object>();
  GenerateSpec g;
  g.cfg = std::make_shared<GenerateConfig>();
  GenerateConfig& cfg = *g.cfg;
  cfg.params = parse_params(env, spec.Get("params"), fn);
  cfg.max_context = int_opt(spec, "maxContext", 0, fn);
  cfg.prefill_chunk_tokens = int_opt(spec, "prefillChunkTokens", 2048, fn);
  Napi::Value cp = spec.Get("cachePrompts");
  if (!cp.IsUndefined()) cfg.cache_prompts = cp.ToBoolean().Value();
  Napi::Value prec = spec.Get("precision");
  if (!prec.IsUndefined()) {
    std::string s = prec.IsString() ? prec.As<Napi::String>().Utf8Value() : "";
    if (s != "exact" && s != "fast") throw Napi::TypeError::New(env, fn + ": precision must be 'exact' or 'fast'");
    g.precision = s == "fast" ? Precision::Fast : Precision::Exact;
  }
  Napi::Value rq = spec.Get("requests");
  if (!rq.IsArray()) throw Napi::TypeError::New(env, fn + ": requests must be an array");
  auto arr = rq.As<Napi::Array>();
  g.requests = std::make_shared<std::vector<GenerateRequest>>(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string what = fn + ": requests[" + std::to_string(i) + "]";
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) throw Napi::TypeError::New(env, what + " must be an object");
    auto o = e.As<Napi::Object>();
    GenerateRequest& r = (*g.requests)[i];
    r.prompt = typed_vec<int32_t, Napi::Int32Array>(env, o.Get("prompt"), napi_int32_array, what + ".prompt");
    r.n = int_opt(o, "n", 1, what);
    Napi::Value t = o.Get("trie");
    if (!t.IsUndefined() && !t.IsNull()) r.trie = parse_trie(env, t, what + ".trie");
  }
  return g;
}

std::shared_ptr<std::vector<std::string>> parse_token_bytes(const Napi::CallbackInfo& info, int64_t V) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, "setTokenBytes(bytes, offsets)");
  auto bytes = typed_vec<uint8_t, Napi::Uint8Array>(env, info[0], napi_uint8_array, "setTokenBytes: bytes");
  auto off = typed_vec<int32_t, Napi::Int32Array>(env, info[1], napi_int32_array, "setTokenBytes: offsets");
  if (int64_t(off.size()) != V + 1)
    throw Napi::RangeError::New(env, "setTokenBytes: offsets must have vocab + 1 = " + std::to_string(V + 1) +
                                         " entries, got " + std::to_string(off.size()));
  auto tb = std::make_shared<std::vector<std::string>>(size_t(V));
  for (int64_t i = 0; i < V; ++i) {
    if (off[size_t(i)] < 0 || off[size_t(i)] > off[size_t(i) + 1] || size_t(off[size_t(i) + 1]) > bytes.size())
      throw Napi::RangeError::New(env, "setTokenBytes: offsets are not increasing within bytes at " + std::to_string(i));
    (*tb)[size_t(i)].assign(bytes.begin() + off[size_t(i)], bytes.begin() + off[size_t(i) + 1]);
  }
  return tb;
}

}  // namespace lfm2::binding
