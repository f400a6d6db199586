// `ops`: every op of the op table (backend/backend_ops.h) on typed arrays, on the backend named by the `device`
// option ('cpu', the default, or 'cuda'), for tests and benchmarks. Synchronous (test-sized inputs). Each function
// takes one options object; outputs are arrays the caller supplies, so accumulation (+=) versus overwrite is visible
// from JS exactly as in C++. Every array length is checked before any native work runs.
//
//   supports(op, { device, a?, b? }) → boolean     (a, b: 'f32' | 'bf16', the element types of the typed inputs)
//   impls(op, { device }) → string[]               (the builds tests force, best last; 'auto' runs the last)
//   gemm, gemmMulti → { seconds, cpuSeconds }; grpoLoss → statistics; adamw → { gradNorm, clipCoef, skipped,
//   badTensor }; rowExpStats → { sum, sumEz }; sample → { token, logq, logp }; the others → undefined.
#include <napi.h>
#include <time.h>

#include <chrono>
#include <string>
#include <vector>

#include "backend/backend_ops.h"
#include "backend/device.h"
#include "binding/grpo_loss_args.h"
#include "binding/js_exceptions.h"
#include "binding/op_args.h"
#include "binding/registry.h"

namespace lfm2::binding {
namespace {

BackendOps& backend(const OpArgs& a) {
  const std::string device = a.str("device", "cpu");
  if (device == "cpu") return cpu_backend_ops();
  if (device != "cuda") throw Napi::RangeError::New(a.env(), a.where("device") + " must be 'cpu' or 'cuda'");
#ifdef LFM2_WITH_CUDA
  return cuda_backend_ops();
#else
  throw Napi::Error::New(a.env(), "device 'cuda' is not available: " + cuda_availability().reason);
#endif
}

std::string impl_of(const OpArgs& a) { return a.str("impl", "auto"); }

// Packed-batch offsets [nseq + 1] from the Int32Array cuSeqlens: starts at 0, never decreases, ends at T.
std::vector<int32_t> seqlens(const OpArgs& a, int64_t T) {
  int64_t len = 0;
  const int32_t* cu = a.typed<int32_t>("cuSeqlens", -1, false, napi_int32_array, "Int32Array", &len);
  if (len < 2) throw Napi::RangeError::New(a.env(), a.where("cuSeqlens") + " needs at least 2 entries");
  std::vector<int32_t> out(cu, cu + len);
  for (int64_t i = 1; i < len; ++i)
    if (out[size_t(i)] < out[size_t(i - 1)])
      throw Napi::RangeError::New(a.env(), a.where("cuSeqlens") + " must not decrease");
  if (out[0] != 0 || (T >= 0 && out.back() != T))
    throw Napi::RangeError::New(a.env(), a.where("cuSeqlens") + " must run from 0 to the token count " +
                                             std::to_string(T));
  return out;
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Runs fn and reports its wall and process CPU time (all threads): GEMM benchmarks read both.
template <typename Fn>
Napi::Value timed(Napi::Env env, Fn fn) {
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_seconds();
  guarded(env, fn);
  auto r = Napi::Object::New(env);
  r.Set("seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  r.Set("cpuSeconds", process_cpu_seconds() - cpu0);
  return r;
}

Precision precision_of(const OpArgs& a) {
  const std::string p = a.str("precision", "exact");
  if (p != "exact" && p != "fast")
    throw Napi::RangeError::New(a.env(), a.fn() + ": precision must be 'exact' or 'fast'; got '" + p + "'");
  return p == "fast" ? Precision::Fast : Precision::Exact;
}

// Elements a [rows, cols] matrix with row stride ld spans.
int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols; }

Napi::Value gemm(const Napi::CallbackInfo& info) {
  OpArgs a(info, "gemm");
  const std::string layout = a.str("op", "");
  Op op;
  if (!op_from_name("gemm." + layout, &op))
    throw Napi::RangeError::New(a.env(), "gemm: op must be 'nn', 'nt', 'tn' or 'tt'; got '" + layout + "'");
  const bool ta = layout[0] == 't', tb = layout[1] == 't';
  GemmCall c;
  c.M = a.dim("m"), c.N = a.dim("n"), c.K = a.dim("k");
  const int64_t ar = ta ? c.K : c.M, ac = ta ? c.M : c.K, br = tb ? c.N : c.K, bc = tb ? c.K : c.N;
  c.lda = a.dim("lda", ac), c.ldb = a.dim("ldb", bc), c.ldc = a.dim("ldc", c.N);
  if (c.lda < ac || c.ldb < bc || c.ldc < c.N)
    throw Napi::RangeError::New(a.env(), "gemm: a leading dimension is smaller than its row width");
  c.A = a.weight("a", -1, &c.a_type, span(ar, ac, c.lda));
  c.B = a.weight("b", -1, &c.b_type, span(br, bc, c.ldb));
  int64_t clen = 0;
  c.C = a.typed<float>("c", -1, false, napi_float32_array, "Float32Array", &clen);
  if (clen < span(c.M, c.N, c.ldc))
    throw Napi::RangeError::New(a.env(), "gemm: 'c' has " + std::to_string(clen) + " elements, needs " +
                                             std::to_string(span(c.M, c.N, c.ldc)));
  c.alpha = float(a.num("alpha", 1)), c.beta = float(a.num("beta", 0));
  c.precision = precision_of(a);
  BackendOps& b = backend(a);
  const std::string impl = impl_of(a);
  return timed(a.env(), [&] { b.gemm(op, c, impl); });
}

Napi::Value gemm_multi(const Napi::CallbackInfo& info) {
  OpArgs a(info, "gemmMulti");
  const int64_t M = a.dim("m"), K = a.dim("k"), lda = a.dim("lda", K);
  if (lda < K) throw Napi::RangeError::New(a.env(), "gemmMulti: lda is smaller than k");
  DType at = DType::F32;
  const void* A = a.weight("a", -1, &at, span(M, K, lda));
  if (!a.obj().Get("parts").IsArray()) throw Napi::TypeError::New(a.env(), "gemmMulti: parts must be an array");
  Napi::Array arr = a.obj().Get("parts").As<Napi::Array>();
  std::vector<GemmNtPart> parts;
  DType bt = DType::F32;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(a.env(), "gemmMulti: every part must be an object");
    OpArgs q(a.env(), arr.Get(i).As<Napi::Object>(), "gemmMulti");
    GemmNtPart p;
    p.N = q.dim("n"), p.ldb = q.dim("ldb", K), p.ldc = q.dim("ldc", p.N);
    if (p.ldb < K || p.ldc < p.N)
      throw Napi::RangeError::New(a.env(), "gemmMulti: a leading dimension is smaller than its row width");
    p.beta = float(q.num("beta", 0));
    DType t = DType::F32;
    p.B = q.weight("b", -1, &t, span(p.N, K, p.ldb));
    if (i > 0 && t != bt) throw Napi::TypeError::New(a.env(), "gemmMulti: every part's 'b' must have the same type");
    bt = t;
    int64_t clen = 0;
    p.C = q.typed<float>("c", -1, false, napi_float32_array, "Float32Array", &clen);
    if (clen < span(M, p.N, p.ldc))
      throw Napi::RangeError::New(a.env(), "gemmMulti: 'c' has " + std::to_string(clen) + " elements, needs " +
                                               std::to_string(span(M, p.N, p.ldc)));
    parts.push_back(p);
  }
  if (at != DType::F32) throw Napi::TypeError::New(a.env(), "gemmMulti: 'a' must be a Float32Array");
  const Precision prec = precision_of(a);
  BackendOps& b = backend(a);
  const std::string impl = impl_of(a);
  return timed(a.env(), [&] { b.gemm_multi(M, K, static_cast<const float*>(A), lda, bt, parts, prec, impl); });
}

Napi::Value rmsnorm(const Napi::CallbackInfo& info) {
  OpArgs a(info, "rmsnorm");
  const int64_t rows = a.dim("rows"), n = a.dim("n");
  const float *x = a.f32("x", rows * n), *w = a.f32("w", n);
  float *y = a.f32("y", rows * n), *rstd = a.f32("rstd", rows, true);
  const float eps = float(a.num("eps", 1e-5));
  guarded(a.env(), [&] { backend(a).rmsnorm(x, w, y, rstd, rows, n, eps); });
  return a.env().Undefined();
}

Napi::Value rmsnorm_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "rmsnormBackward");
  const int64_t rows = a.dim("rows"), n = a.dim("n");
  const float *x = a.f32("x", rows * n), *w = a.f32("w", n), *dy = a.f32("dy", rows * n);
  float *dx = a.f32("dx", rows * n), *dw = a.f32("dw", n);
  const float eps = float(a.num("eps", 1e-5));
  guarded(a.env(), [&] { backend(a).rmsnorm_backward(rows, n, x, w, dy, eps, dx, dw); });
  return a.env().Undefined();
}

Napi::Value rmsnorm_heads_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "rmsnormHeadsBackward");
  const int64_t T = a.dim("tokens"), H = a.dim("heads"), D = a.dim("headDim");
  const float *x = a.f32("x", T * H * D), *w = a.f32("w", D), *dy = a.f32("dy", T * H * D);
  float *dx = a.f32("dx", T * H * D), *dw = a.f32("dw", D);
  const float eps = float(a.num("eps", 1e-5));
  guarded(a.env(), [&] { backend(a).rmsnorm_heads_backward(T, H, D, x, w, dy, eps, dx, dw); });
  return a.env().Undefined();
}

Napi::Value rope(const Napi::CallbackInfo& info) {
  OpArgs a(info, "rope");
  const int64_t T = a.dim("tokens"), H = a.dim("heads"), D = a.dim("headDim");
  const int32_t* pos = a.i32("pos", T);
  float* x = a.f32("x", T * H * D);
  const double theta = a.num("theta", 1e6);
  guarded(a.env(), [&] { backend(a).rope(x, pos, T, H, D, theta); });
  return a.env().Undefined();
}

Napi::Value rope_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "ropeBackward");
  const int64_t T = a.dim("tokens"), H = a.dim("heads"), D = a.dim("headDim");
  const int32_t* pos = a.i32("pos", T);
  const float* dy = a.f32("dy", T * H * D);
  float* dx = a.f32("dx", T * H * D);
  const double theta = a.num("theta", 1e6);
  guarded(a.env(), [&] { backend(a).rope_backward(T, H, D, pos, theta, dy, dx); });
  return a.env().Undefined();
}

// Head counts of the attention ops: H a multiple of KVH (every backend's grouping relies on it).
void attention_heads(const OpArgs& a, int64_t* H, int64_t* KVH, int64_t* D) {
  *H = a.dim("qHeads"), *KVH = a.dim("kvHeads"), *D = a.dim("headDim");
  if (*H < 1 || *KVH < 1 || *D < 1) throw Napi::RangeError::New(a.env(), a.fn() + ": head counts must be ≥ 1");
  if (*H % *KVH) throw Napi::RangeError::New(a.env(), a.fn() + ": qHeads must be a multiple of kvHeads");
}

Napi::Value attention(const Napi::CallbackInfo& info) {
  OpArgs a(info, "attention");
  int64_t H, KVH, D;
  attention_heads(a, &H, &KVH, &D);
  const std::vector<int64_t> nq = a.ints("nQ"), nkv = a.ints("nKv");
  int64_t sq = 0, skv = 0;
  for (int64_t n : nq) sq += n;
  for (int64_t n : nkv) skv += n;
  const float *q = a.f32("q", sq * H * D), *k = a.f32("k", skv * KVH * D), *v = a.f32("v", skv * KVH * D);
  float *out = a.f32("out", sq * H * D), *lse = a.f32("lse", sq * H, true);
  guarded(a.env(), [&] { backend(a).attention(q, k, v, out, lse, nq, nkv, H, KVH, D, impl_of(a)); });
  return a.env().Undefined();
}

Napi::Value attention_packed(const Napi::CallbackInfo& info) {
  OpArgs a(info, "attentionPacked");
  int64_t H, KVH, D;
  attention_heads(a, &H, &KVH, &D);
  const int64_t T = a.dim("tokens");
  const std::vector<int32_t> cu = seqlens(a, T);
  const float *q = a.f32("q", T * H * D), *k = a.f32("k", T * KVH * D), *v = a.f32("v", T * KVH * D);
  float *o = a.f32("o", T * H * D), *lse = a.f32("lse", T * H);
  guarded(a.env(), [&] { backend(a).attention_packed(T, H, KVH, D, cu, q, k, v, o, lse, impl_of(a)); });
  return a.env().Undefined();
}

Napi::Value attention_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "attentionBackward");
  int64_t H, KVH, D;
  attention_heads(a, &H, &KVH, &D);
  const int64_t T = a.dim("tokens");
  const std::vector<int32_t> cu = seqlens(a, T);
  const int64_t nq = T * H * D, nk = T * KVH * D;
  const float *q = a.f32("q", nq), *k = a.f32("k", nk), *v = a.f32("v", nk), *dout = a.f32("dout", nq);
  const float *o = a.f32("o", nq, true), *lse = a.f32("lse", T * H, true);
  float *dq = a.f32("dq", nq), *dk = a.f32("dk", nk), *dv = a.f32("dv", nk);
  guarded(a.env(), [&] {
    backend(a).attention_backward(T, H, KVH, D, cu, q, k, v, o, lse, dout, dq, dk, dv, impl_of(a));
  });
  return a.env().Undefined();
}

Napi::Value shortconv(const Napi::CallbackInfo& info) {
  OpArgs a(info, "shortconv");
  const int64_t C = a.dim("channels");
  const std::vector<int64_t> lens = a.ints("lengths");
  int64_t T = 0;
  for (int64_t n : lens) T += n;
  const float *z = a.f32("z", T * 3 * C), *K = a.f32("kernel", C * 3);
  float *y = a.f32("y", T * C), *states = a.f32("states", int64_t(lens.size()) * 2 * C, true);
  guarded(a.env(), [&] { backend(a).shortconv(z, K, y, lens, states, C); });
  return a.env().Undefined();
}

Napi::Value shortconv_packed(const Napi::CallbackInfo& info) {
  OpArgs a(info, "shortconvPacked");
  const int64_t C = a.dim("channels");
  const std::vector<int32_t> cu = seqlens(a, -1);
  const int64_t T = cu.back();
  const float *z = a.f32("z", T * 3 * C), *K = a.f32("kernel", C * 3);
  float* y = a.f32("y", T * C);
  guarded(a.env(), [&] { backend(a).shortconv_packed(C, cu, z, K, y); });
  return a.env().Undefined();
}

Napi::Value shortconv_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "shortconvBackward");
  const int64_t C = a.dim("channels");
  const std::vector<int32_t> cu = seqlens(a, -1);
  const int64_t T = cu.back();
  const float *z = a.f32("z", T * 3 * C), *K = a.f32("kernel", C * 3), *dy = a.f32("dy", T * C);
  float *dz = a.f32("dz", T * 3 * C), *dK = a.f32("dkernel", C * 3);
  guarded(a.env(), [&] { backend(a).shortconv_backward(C, cu, z, K, dy, dz, dK); });
  return a.env().Undefined();
}

Napi::Value swiglu(const Napi::CallbackInfo& info) {
  OpArgs a(info, "swiglu");
  int64_t n = 0;
  const float* x = a.typed<float>("a", -1, false, napi_float32_array, "Float32Array", &n);
  const float* b = a.f32("b", n);
  float* out = a.f32("out", n);
  guarded(a.env(), [&] { backend(a).swiglu(x, b, out, n, impl_of(a)); });
  return a.env().Undefined();
}

Napi::Value swiglu_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "swigluBackward");
  const int64_t rows = a.dim("rows"), F = a.dim("F");
  const float *x = a.f32("a", rows * F), *b = a.f32("b", rows * F), *dh = a.f32("dh", rows * F);
  float *da = a.f32("da", rows * F), *db = a.f32("db", rows * F);
  guarded(a.env(), [&] { backend(a).swiglu_backward(rows, F, x, b, dh, da, db, impl_of(a)); });
  return a.env().Undefined();
}

Napi::Value embedding(const Napi::CallbackInfo& info) {
  OpArgs a(info, "embedding");
  const int64_t V = a.dim("vocab"), C = a.dim("dim");
  int64_t T = 0;
  const int32_t* ids = a.typed<int32_t>("ids", -1, false, napi_int32_array, "Int32Array", &T);
  DType type = DType::F32;
  const void* table = a.weight("table", V * C, &type);
  float* out = a.f32("out", T * C);
  guarded(a.env(), [&] { backend(a).embedding(ids, T, table, type, V, C, out); });
  return a.env().Undefined();
}

Napi::Value embedding_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "embeddingBackward");
  const int64_t V = a.dim("vocab"), C = a.dim("dim");
  int64_t T = 0;
  const int32_t* ids = a.typed<int32_t>("ids", -1, false, napi_int32_array, "Int32Array", &T);
  const float* dx = a.f32("dx", T * C);
  float* dE = a.f32("dE", V * C);
  const int64_t pad = int64_t(a.num("paddingIdx", -1));
  guarded(a.env(), [&] { backend(a).embedding_backward(T, V, C, ids, dx, dE, pad); });
  return a.env().Undefined();
}

// grpoLoss's fields (read_grpo_loss_call): an FP32 or BF16 head, lossType checked here.
struct GrpoFields {
  const OpArgs& a;
  void shape(GrpoLossInputs& in) const {
    in.rows = a.dim("rows"), in.vocab = a.dim("vocab"), in.dim = a.dim("dim");
    if (in.rows < 1 || in.vocab < 1 || in.dim < 1)
      throw Napi::RangeError::New(a.env(), "grpoLoss: rows, vocab, dim must be ≥ 1");
  }
  float* f32(const char* key, int64_t len, bool optional) const { return a.f32(key, len, optional); }
  int32_t* i32(const char* key, int64_t len, bool optional) const { return a.i32(key, len, optional); }
  void head(const char* key, int64_t len, GrpoLossInputs& in) const { in.head = a.weight(key, len, &in.head_dtype); }
  bool sft_loss(GrpoLossOptions& opt) const {
    const std::string type = a.str("lossType", "dapo");
    try {
      opt.loss_type = parse_grpo_loss_type(type.c_str());
    } catch (const std::exception&) {
      throw Napi::RangeError::New(a.env(), "grpoLoss: lossType must be 'grpo', 'bnpo', 'dr_grpo', 'dapo' or 'sft'; got '" +
                                               type + "'");
    }
    return opt.loss_type == GrpoLossType::Sft;
  }
  double num(const char* key, double def) const { return a.num(key, def); }
};

Napi::Value grpo_loss(const Napi::CallbackInfo& info) {
  OpArgs a(info, "grpoLoss");
  GrpoFields f{a};
  const GrpoLossCall c = read_grpo_loss_call(f);
  BackendOps& b = backend(a);
  const GrpoLossStats st = guarded(a.env(), [&] { return b.grpo_loss(c.in, c.opt, c.out, impl_of(a)); });
  return grpo_stats_to_js(a.env(), st, &b == &cpu_backend_ops());  // the CPU loss measures its workspace
}

Napi::Value adamw(const Napi::CallbackInfo& info) {
  OpArgs a(info, "adamw");
  if (!a.has("tensors") || !a.obj().Get("tensors").IsArray())
    throw Napi::TypeError::New(a.env(), "adamw: 'tensors' must be an array");
  auto arr = a.obj().Get("tensors").As<Napi::Array>();
  std::vector<AdamWTensor> ts;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    if (!arr.Get(i).IsObject()) throw Napi::TypeError::New(a.env(), "adamw: tensors[" + std::to_string(i) + "] must be an object");
    OpArgs o(a.env(), arr.Get(i).As<Napi::Object>(), "adamw: tensors[" + std::to_string(i) + "]");
    AdamWTensor t;
    t.weight = o.typed<float>("weight", -1, false, napi_float32_array, "Float32Array", &t.size);
    t.grad = o.f32("grad", t.size);
    t.exp_avg = o.f32("expAvg", t.size);
    t.exp_avg_sq = o.f32("expAvgSq", t.size);
    t.bf16_copy = o.typed<uint16_t>("bf16", t.size, true, napi_uint16_array, "Uint16Array");
    t.decay = o.flag("decay", true);
    ts.push_back(t);
  }
  AdamWConfig cfg;
  cfg.lr = a.num("lr");
  cfg.beta1 = a.num("beta1", 0.9);
  cfg.beta2 = a.num("beta2", 0.999);
  cfg.eps = a.num("eps", 1e-8);
  cfg.weight_decay = a.num("weightDecay", 0);
  cfg.max_grad_norm = a.num("maxGradNorm", 1);
  const int64_t step = int64_t(a.num("step"));
  const AdamWResult res = guarded(a.env(), [&] { return backend(a).adamw(ts, cfg, step, impl_of(a)); });
  auto r = Napi::Object::New(a.env());
  r.Set("gradNorm", res.grad_norm);
  r.Set("clipCoef", res.clip_coef);
  r.Set("skipped", res.skipped);
  r.Set("badTensor", double(res.bad_tensor));
  return r;
}

Napi::Value lora_forward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "loraForward");
  const int64_t N = a.dim("rows"), in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const float s = float(a.num("scale"));
  const float *x = a.f32("x", N * in), *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  float *xa = a.f32("xa", N * r, true), *y = a.f32("y", N * out);
  guarded(a.env(), [&] { backend(a).lora_forward(N, in, out, r, s, x, A, B, xa, y); });
  return a.env().Undefined();
}

Napi::Value lora_backward(const Napi::CallbackInfo& info) {
  OpArgs a(info, "loraBackward");
  const int64_t N = a.dim("rows"), in = a.dim("in"), out = a.dim("out"), r = a.dim("rank");
  const float s = float(a.num("scale"));
  const float *dy = a.f32("dy", N * out), *x = a.f32("x", N * in), *A = a.f32("A", r * in), *B = a.f32("B", out * r);
  float *dA = a.f32("dA", r * in), *dB = a.f32("dB", out * r), *dx = a.f32("dx", N * in, true);
  guarded(a.env(), [&] { backend(a).lora_backward(N, in, out, r, s, dy, x, A, B, dA, dB, dx); });
  return a.env().Undefined();
}

Napi::Value gather_rows(const Napi::CallbackInfo& info) {
  OpArgs a(info, "gatherRows");
  const int64_t src_rows = a.dim("srcRows"), C = a.dim("dim");
  int64_t R = 0;
  const int32_t* rows = a.typed<int32_t>("rows", -1, false, napi_int32_array, "Int32Array", &R);
  const float* src = a.f32("src", src_rows * C);
  float* dst = a.f32("dst", R * C);
  guarded(a.env(), [&] { backend(a).gather_rows(src, src_rows, rows, R, C, dst); });
  return a.env().Undefined();
}

Napi::Value scatter_rows(const Napi::CallbackInfo& info) {
  OpArgs a(info, "scatterRows");
  const int64_t dst_rows = a.dim("dstRows"), C = a.dim("dim");
  int64_t R = 0;
  const int32_t* rows = a.typed<int32_t>("rows", -1, false, napi_int32_array, "Int32Array", &R);
  const float* src = a.f32("src", R * C);
  float* dst = a.f32("dst", dst_rows * C);
  guarded(a.env(), [&] { backend(a).scatter_rows(src, rows, R, C, dst, dst_rows); });
  return a.env().Undefined();
}

Napi::Value row_exp_stats(const Napi::CallbackInfo& info) {
  OpArgs a(info, "rowExpStats");
  const int64_t V = a.dim("length");
  float* z = a.f32("z", V);
  const float shift = float(a.num("shift"));
  double sum = 0, sum_ez = 0;
  guarded(a.env(), [&] { backend(a).row_exp_stats(z, V, shift, &sum, &sum_ez, impl_of(a)); });
  auto r = Napi::Object::New(a.env());
  r.Set("sum", sum);
  r.Set("sumEz", sum_ez);
  return r;
}

// sample({ logits [R, V], rows: R, vocab: V, params: [{ temperature?, topK?, topP?, minP?, repetitionPenalty?,
// uniform, seen?: Int32Array, allowed?: Int32Array }] })
Napi::Value sample(const Napi::CallbackInfo& info) {
  OpArgs a(info, "sample");
  Napi::Env env = a.env();
  const int64_t R = a.dim("rows"), V = a.dim("vocab");
  const float* logits = a.f32("logits", R * V);
  if (!a.obj().Get("params").IsArray()) throw Napi::TypeError::New(env, "sample: params must be an array");
  auto rows = a.obj().Get("params").As<Napi::Array>();
  if (int64_t(rows.Length()) != R) throw Napi::RangeError::New(env, "sample: params must have one entry per row");
  std::vector<SampleParams> ps(static_cast<size_t>(R));
  std::vector<float> us(static_cast<size_t>(R));
  std::vector<std::vector<int32_t>> seen(static_cast<size_t>(R)), allowed(static_cast<size_t>(R));
  std::vector<bool> all(static_cast<size_t>(R), true);
  for (uint32_t r = 0; r < rows.Length(); ++r) {
    if (!rows.Get(r).IsObject()) throw Napi::TypeError::New(env, "sample: params[" + std::to_string(r) + "] must be an object");
    OpArgs o(env, rows.Get(r).As<Napi::Object>(), "sample: params[" + std::to_string(r) + "]");
    SampleParams& q = ps[r];
    q.temperature = float(o.num("temperature", 1));
    q.top_k = int32_t(o.num("topK", 0));
    q.top_p = float(o.num("topP", 1));
    q.min_p = float(o.num("minP", 0));
    q.repetition_penalty = float(o.num("repetitionPenalty", 1));
    us[r] = float(o.num("uniform", -1));
    int64_t n = 0;
    if (const int32_t* ids = o.typed<int32_t>("seen", -1, true, napi_int32_array, "Int32Array", &n))
      seen[r].assign(ids, ids + n);
    if (const int32_t* ids = o.typed<int32_t>("allowed", -1, true, napi_int32_array, "Int32Array", &n)) {
      allowed[r].assign(ids, ids + n);
      all[r] = false;
    }
  }
  const SampleResult res = guarded(env, [&] { return backend(a).sample(logits, R, V, ps, us, seen, allowed, all); });
  auto out = Napi::Object::New(env);
  auto tok = Napi::Int32Array::New(env, size_t(R));
  auto lq = Napi::Float32Array::New(env, size_t(R));
  auto lp = Napi::Float32Array::New(env, size_t(R));
  for (size_t r = 0; r < size_t(R); ++r) tok[r] = res.token[r], lq[r] = res.logq[r], lp[r] = res.logp[r];
  out.Set("token", tok);
  out.Set("logq", lq);
  out.Set("logp", lp);
  return out;
}

// The op named by info[0] and the backend of the options object at info[1].
std::pair<Op, BackendOps*> op_and_backend(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, std::string(fn) + "(op, options): op must be a string");
  Op op;
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!op_from_name(name, &op)) throw Napi::RangeError::New(env, std::string(fn) + ": unknown op '" + name + "'");
  if (info.Length() < 2 || info[1].IsUndefined()) return {op, &cpu_backend_ops()};
  if (!info[1].IsObject()) throw Napi::TypeError::New(env, std::string(fn) + ": options must be an object");
  OpArgs a(env, info[1].As<Napi::Object>(), fn);
  return {op, &backend(a)};
}

DType dtype_named(const OpArgs& a, const char* key) {
  const std::string s = a.str(key, "f32");
  if (s != "f32" && s != "bf16") throw Napi::RangeError::New(a.env(), a.where(key) + " must be 'f32' or 'bf16'");
  return s == "bf16" ? DType::BF16 : DType::F32;
}

Napi::Value supports(const Napi::CallbackInfo& info) {
  auto [op, b] = op_and_backend(info, "supports");
  if (info.Length() < 2 || info[1].IsUndefined()) return Napi::Boolean::New(info.Env(), b->supports(op));
  OpArgs a(info.Env(), info[1].As<Napi::Object>(), "supports");
  return Napi::Boolean::New(info.Env(), b->supports(op, dtype_named(a, "a"), dtype_named(a, "b")));
}

Napi::Value impls(const Napi::CallbackInfo& info) {
  auto [op, b] = op_and_backend(info, "impls");
  const std::vector<std::string> names = b->impls(op);
  auto arr = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); ++i) arr.Set(uint32_t(i), names[i]);
  return arr;
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  using OpFn = Napi::Value (*)(const Napi::CallbackInfo&);
  const std::pair<const char*, OpFn> fns[] = {
      {"supports", supports},
      {"impls", impls},
      {"gemm", gemm},
      {"gemmMulti", gemm_multi},
      {"rmsnorm", rmsnorm},
      {"rmsnormBackward", rmsnorm_backward},
      {"rmsnormHeadsBackward", rmsnorm_heads_backward},
      {"rope", rope},
      {"ropeBackward", rope_backward},
      {"attention", attention},
      {"attentionPacked", attention_packed},
      {"attentionBackward", attention_backward},
      {"shortconv", shortconv},
      {"shortconvPacked", shortconv_packed},
      {"shortconvBackward", shortconv_backward},
      {"swiglu", swiglu},
      {"swigluBackward", swiglu_backward},
      {"embedding", embedding},
      {"embeddingBackward", embedding_backward},
      {"grpoLoss", grpo_loss},
      {"adamw", adamw},
      {"loraForward", lora_forward},
      {"loraBackward", lora_backward},
      {"gatherRows", gather_rows},
      {"scatterRows", scatter_rows},
      {"rowExpStats", row_exp_stats},
      {"sample", sample},
  };
  auto o = Napi::Object::New(env);
  for (const auto& [name, fn] : fns) o.Set(name, Napi::Function::New(env, fn, name));
  exports.Set("ops", o);
}

}  // namespace lfm2::binding
