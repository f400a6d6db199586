// Matrix products and machine-ceiling probes exposed to JS for tests and benchmarks (synchronous: callers pass
// typed arrays, C is written in place). Model code calls lfm2::gemm_* directly, not through here.
#include <napi.h>
#include <time.h>

#include <chrono>
#include <string>
#include <type_traits>

#include "backend/cpu/cpu_features.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_peak.h"
#include "binding/registry.h"

namespace lfm2::binding {
namespace {

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

int64_t get_int(const Napi::Object& o, const char* key, int64_t fallback, bool required) {
  Napi::Env env = o.Env();
  if (!o.Has(key) || o.Get(key).IsUndefined()) {
    if (required) throw Napi::TypeError::New(env, std::string("gemm: missing numeric field '") + key + "'");
    return fallback;
  }
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("gemm: field '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d)) || d < 0 || d > 9.0e15)
    throw Napi::RangeError::New(env, std::string("gemm: field '") + key + "' must be a non-negative integer");
  return int64_t(d);
}

std::string get_str(const Napi::Object& o, const char* key, const char* fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("gemm: field '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

GemmImpl parse_impl(Napi::Env env, const std::string& s) {
  for (GemmImpl i : {GemmImpl::Auto, GemmImpl::Portable, GemmImpl::Avx2, GemmImpl::Avx512})
    if (s == gemm_impl_name(i)) return i;
  throw Napi::RangeError::New(env, "gemm: impl must be one of auto, portable, avx2, avx512; got '" + s + "'");
}

// A typed array of the right element type holding at least rows x cols with row stride ld.
template <class T>
T* matrix(Napi::Env env, const Napi::Value& v, const char* name, int64_t rows, int64_t cols, int64_t ld) {
  const bool ok = std::is_same<T, float>::value ? v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() ==
                                                                           napi_float32_array
                                                  : v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() ==
                                                                           napi_uint16_array;
  if (!ok)
    throw Napi::TypeError::New(env, std::string("gemm: '") + name + "' must be a " +
                                        (std::is_same<T, float>::value ? "Float32Array" : "Uint16Array (bf16 bits)"));
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  const int64_t need = rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
  if (int64_t(arr.ElementLength()) < need)
    throw Napi::RangeError::New(env, std::string("gemm: '") + name + "' has " + std::to_string(arr.ElementLength()) +
                                         " elements, needs " + std::to_string(need));
  return arr.Data();
}

// gemm({op: 'nt'|'nn'|'tn', m, n, k, a, lda, b, ldb, c, ldc, beta?, impl?, precision?})
//   -> {seconds, cpuSeconds}: wall time of the native call and the process CPU time it used (all threads). b is a Float32Array (F32) or a Uint16Array of bf16 bit patterns (BF16; not for 'tn').
Napi::Value gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "gemm(args): args must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string op = get_str(o, "op", "");
  if (op != "nt" && op != "nn" && op != "tn")
    throw Napi::RangeError::New(env, "gemm: op must be 'nt', 'nn' or 'tn'; got '" + op + "'");
  const int64_t M = get_int(o, "m", 0, true), N = get_int(o, "n", 0, true), K = get_int(o, "k", 0, true);
  const int64_t lda = get_int(o, "lda", op == "tn" ? M : K, false);
  const int64_t ldb = get_int(o, "ldb", op == "nt" ? K : N, false);
  const int64_t ldc = get_int(o, "ldc", N, false);
  float beta = 0.f;
  if (o.Has("beta") && !o.Get("beta").IsUndefined()) {
    if (!o.Get("beta").IsNumber()) throw Napi::TypeError::New(env, "gemm: field 'beta' must be a number");
    beta = o.Get("beta").As<Napi::Number>().FloatValue();
  }
  const GemmImpl impl = parse_impl(env, get_str(o, "impl", "auto"));
  const std::string prec_s = get_str(o, "precision", "exact");
  if (prec_s != "exact" && prec_s != "fast")
    throw Napi::RangeError::New(env, "gemm: precision must be 'exact' or 'fast'; got '" + prec_s + "'");
  const Precision prec = prec_s == "fast" ? Precision::Fast : Precision::Exact;
  // Leading dimensions are checked against the widths by lfm2::gemm_*; sizes against the arrays here.
  if ((op == "tn" ? lda < M : lda < K) || (op == "nt" ? ldb < K : ldb < N) || ldc < N)
    throw Napi::RangeError::New(env, "gemm: a leading dimension is smaller than its row width");
  Napi::Value bv = o.Get("b");
  const bool bf16 = bv.IsTypedArray() && bv.As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  if (bf16 && op == "tn") throw Napi::TypeError::New(env, "gemm: op 'tn' needs a Float32Array 'b'");
  const float* A = op == "tn" ? matrix<float>(env, o.Get("a"), "a", K, M, lda) : matrix<float>(env, o.Get("a"), "a", M, K, lda);
  const int64_t brows = op == "nt" ? N : K, bcols = op == "nt" ? K : N;
  const void* B = bf16 ? static_cast<const void*>(matrix<uint16_t>(env, bv, "b", brows, bcols, ldb))
                       : static_cast<const void*>(matrix<float>(env, bv, "b", brows, bcols, ldb));
  float* C = matrix<float>(env, o.Get("c"), "c", M, N, ldc);
  const DType bt = bf16 ? DType::BF16 : DType::F32;
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_seconds();
  try {
    if (op == "nt")
      gemm_nt_with(impl, M, N, K, A, lda, B, bt, ldb, C, ldc, beta, prec);
    else if (op == "nn")
      gemm_nn_with(impl, M, N, K, A, lda, B, bt, ldb, C, ldc, beta, prec);
    else
      gemm_tn_with(impl, M, N, K, A, lda, static_cast<const float*>(B), ldb, C, ldc, beta, prec);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  const double cpu = process_cpu_seconds() - cpu0;
  auto r = Napi::Object::New(env);
  r.Set("seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  r.Set("cpuSeconds", cpu);
  return r;
}

// gemmMulti({m, k, a, lda?, parts: [{b, n, ldb?, c, ldc?, beta?}], impl?, precision?}) -> {seconds, cpuSeconds}:
// gemm_nt_multi, every part's C = beta*C + A·Bᵀ in one call. The Bs share one element type (Float32Array or
// Uint16Array of bf16 bits).
Napi::Value gemm_multi(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(env, "gemmMulti(args): args must be an object");
  Napi::Object o = info[0].As<Napi::Object>();
  const int64_t M = get_int(o, "m", 0, true), K = get_int(o, "k", 0, true);
  const int64_t lda = get_int(o, "lda", K, false);
  if (lda < K) throw Napi::RangeError::New(env, "gemmMulti: lda is smaller than k");
  const GemmImpl impl = parse_impl(env, get_str(o, "impl", "auto"));
  const std::string prec_s = get_str(o, "precision", "exact");
  if (prec_s != "exact" && prec_s != "fast")
    throw Napi::RangeError::New(env, "gemmMulti: precision must be 'exact' or 'fast'; got '" + prec_s + "'");
  if (!o.Get("parts").IsArray()) throw Napi::TypeError::New(env, "gemmMulti: parts must be an array");
  Napi::Array arr = o.Get("parts").As<Napi::Array>();
  if (arr.Length() > uint32_t(kGemmMaxParts))
    throw Napi::RangeError::New(env, "gemmMulti: at most " + std::to_string(kGemmMaxParts) + " parts");
  const float* A = matrix<float>(env, o.Get("a"), "a", M, K, lda);
  GemmNtPart parts[kGemmMaxParts];
  bool bf16 = false;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(env, "gemmMulti: every part must be an object");
    Napi::Object q = arr.Get(i).As<Napi::Object>();
    GemmNtPart& p = parts[i];
    p.N = get_int(q, "n", 0, true);
    p.ldb = get_int(q, "ldb", K, false);
    p.ldc = get_int(q, "ldc", p.N, false);
    if (p.ldb < K || p.ldc < p.N) throw Napi::RangeError::New(env, "gemmMulti: a leading dimension is smaller than its row width");
    if (q.Has("beta") && !q.Get("beta").IsUndefined()) {
      if (!q.Get("beta").IsNumber()) throw Napi::TypeError::New(env, "gemmMulti: field 'beta' must be a number");
      p.beta = q.Get("beta").As<Napi::Number>().FloatValue();
    }
    Napi::Value bv = q.Get("b");
    const bool b16 = bv.IsTypedArray() && bv.As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
    if (i > 0 && b16 != bf16) throw Napi::TypeError::New(env, "gemmMulti: every part's 'b' must have the same type");
    bf16 = b16;
    p.B = bf16 ? static_cast<const void*>(matrix<uint16_t>(env, bv, "b", p.N, K, p.ldb))
               : static_cast<const void*>(matrix<float>(env, bv, "b", p.N, K, p.ldb));
    p.C = matrix<float>(env, q.Get("c"), "c", M, p.N, p.ldc);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_seconds();
  try {
    gemm_nt_multi_with(impl, M, K, A, lda, bf16 ? DType::BF16 : DType::F32, parts, int(arr.Length()),
                       prec_s == "fast" ? Precision::Fast : Precision::Exact);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto r = Napi::Object::New(env);
  r.Set("seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  r.Set("cpuSeconds", process_cpu_seconds() - cpu0);
  return r;
}

Napi::Value gemm_impls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto impls = gemm_supported_impls();
  auto arr = Napi::Array::New(env, impls.size());
  for (size_t i = 0; i < impls.size(); ++i) arr.Set(uint32_t(i), gemm_impl_name(impls[i]));
  auto o = Napi::Object::New(env);
  o.Set("supported", arr);
  o.Set("auto", gemm_impl_name(gemm_resolve_impl(GemmImpl::Auto)));
  return o;
}

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
  return o;
}

double get_seconds(const Napi::CallbackInfo& info, size_t idx, const char* fn) {
  if (info.Length() <= idx || !info[idx].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": seconds must be a number");
  return info[idx].As<Napi::Number>().DoubleValue();
}

// cpuPeakFlops(kind: 'fma-f32' | 'dot-bf16', seconds) -> FLOP/s on all pool threads.
Napi::Value cpu_peak_flops_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "cpuPeakFlops: kind must be a string");
  const double s = get_seconds(info, 1, "cpuPeakFlops");
  try {
    return Napi::Number::New(env, cpu_peak_flops(info[0].As<Napi::String>().Utf8Value(), s));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// cpuReadBandwidth(bytes, seconds) -> bytes/s on all pool threads.
Napi::Value cpu_read_bandwidth_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "cpuReadBandwidth: bytes must be a number");
  const double s = get_seconds(info, 1, "cpuReadBandwidth");
  try {
    return Napi::Number::New(env, cpu_read_bandwidth(int64_t(info[0].As<Napi::Number>().DoubleValue()), s));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, gemm, "gemm"));
  exports.Set("gemmMulti", Napi::Function::New(env, gemm_multi, "gemmMulti"));
  exports.Set("gemmImpls", Napi::Function::New(env, gemm_impls, "gemmImpls"));
  exports.Set("cpuFeatures", Napi::Function::New(env, cpu_features_js, "cpuFeatures"));
  exports.Set("cpuPeakFlops", Napi::Function::New(env, cpu_peak_flops_js, "cpuPeakFlops"));
  exports.Set("cpuReadBandwidth", Napi::Function::New(env, cpu_read_bandwidth_js, "cpuReadBandwidth"));
}

}  // namespace lfm2::binding
