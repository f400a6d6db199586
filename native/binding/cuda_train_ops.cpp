// cudaTrainOps: the GPU trainer's own device math on host arrays (tests compare it with float64 references):
//   loraForward({ x, A, B, y, T, in, out, r, scale }) → y + s·bf16(x·Aᵀ)·Bᵀ            (Float32Array [T·out])
//   loraBackward({ x, dy, A, B, T, in, out, r, scale }) → { dA, dB, dx }                (from zero)
//   gatherRows(src, srcRows, rows, C) → [R·C];  scatterRows(src, rows, C, dst, dstRows) → dst with the rows set
//   embeddingBackwardPadded(ids, dx, vocab, C, paddingIdx, dE) → dE + lookup gradient (padding rows skipped)
#include <napi.h>

#include <string>
#include <vector>

#include "binding/registry.h"
#ifdef LFM2_WITH_CUDA
#include "backend/cuda/cuda_train_ops.cuh"
#include "binding/js_exceptions.h"
#include "binding/options_reader.h"
#include "binding/positional_args.h"
#include "binding/train_batch_args.h"
#endif

namespace lfm2::binding {

#ifndef LFM2_WITH_CUDA

Napi::Value train_ops_not_compiled(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "cudaTrainOps: this build has no CUDA backend");
}

void register_cuda_train_ops(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  for (const char* n : {"loraForward", "loraBackward", "gatherRows", "scatterRows", "embeddingBackwardPadded"})
    ops.Set(n, Napi::Function::New(env, train_ops_not_compiled, n));
  exports.Set("cudaTrainOps", ops);
}

#else

namespace {

// ---- cudaTrainOps (synchronous; test-sized inputs)

int64_t count(const OptionsReader& o, const char* k) {
  const double d = o.num(k, -1);
  if (!(d >= 1) || d != double(int64_t(d))) throw Napi::RangeError::New(o.env, o.where(k) + " must be an integer >= 1");
  return int64_t(d);
}

std::vector<float> sized(const OptionsReader& o, const char* k, int64_t n) {
  std::vector<float> v = o.array<float>(k, napi_float32_array, "Float32Array", false);
  if (int64_t(v.size()) != n)
    throw Napi::RangeError::New(o.env, o.where(k) + " has " + std::to_string(v.size()) + " elements, expected " +
                                           std::to_string(n));
  return v;
}

Napi::Value op_lora_forward(const Napi::CallbackInfo& info) {
  OptionsReader o = options_at(info, 0, "cudaTrainOps.loraForward");
  const int64_t T = count(o, "T"), in = count(o, "in"), out = count(o, "out"), r = count(o, "r");
  const float s = float(o.num("scale", 1));
  std::vector<float> x = sized(o, "x", T * in), A = sized(o, "A", r * in), B = sized(o, "B", out * r);
  std::vector<float> y = sized(o, "y", T * out);
  guarded(info.Env(), [&]() {
    cuda_train_api::lora_forward(x.data(), A.data(), B.data(), y.data(), T, in, out, r, s);
    return 0;
  });
  return float32_array(info.Env(), y);
}

Napi::Value op_lora_backward(const Napi::CallbackInfo& info) {
  OptionsReader o = options_at(info, 0, "cudaTrainOps.loraBackward");
  const int64_t T = count(o, "T"), in = count(o, "in"), out = count(o, "out"), r = count(o, "r");
  const float s = float(o.num("scale", 1));
  std::vector<float> x = sized(o, "x", T * in), dy = sized(o, "dy", T * out);
  std::vector<float> A = sized(o, "A", r * in), B = sized(o, "B", out * r);
  std::vector<float> dA(size_t(r * in), 0.f), dB(size_t(out * r), 0.f), dx(size_t(T * in), 0.f);
  guarded(info.Env(), [&]() {
    cuda_train_api::lora_backward(x.data(), dy.data(), A.data(), B.data(), dA.data(), dB.data(), dx.data(), T, in, out,
                                  r, s);
    return 0;
  });
  auto res = Napi::Object::New(info.Env());
  res.Set("dA", float32_array(info.Env(), dA));
  res.Set("dB", float32_array(info.Env(), dB));
  res.Set("dx", float32_array(info.Env(), dx));
  return res;
}

// Positional typed-array argument i of `fn`, copied (the ops return new arrays and never write their inputs).
template <typename T>
std::vector<T> arg_array(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type kind, const char* fn,
                         const char* what) {
  auto ta = typed_arg<Napi::TypedArrayOf<T>>(info, i, kind, fn, what);
  return std::vector<T>(ta.Data(), ta.Data() + ta.ElementLength());
}

Napi::Value op_gather_rows(const Napi::CallbackInfo& info) {
  const char* fn = "cudaTrainOps.gatherRows";
  auto src = arg_array<float>(info, 0, napi_float32_array, fn, "src");
  const int64_t src_rows = integer_arg(info, 1, fn, "srcRows", 1);
  auto rows = arg_array<int32_t>(info, 2, napi_int32_array, fn, "rows");
  const int64_t C = integer_arg(info, 3, fn, "C", 1);
  if (int64_t(src.size()) != src_rows * C) throw Napi::RangeError::New(info.Env(), std::string(fn) + ": src is not [srcRows, C]");
  std::vector<float> dst(rows.size() * size_t(C));
  guarded(info.Env(), [&]() {
    cuda_train_api::gather_rows(src.data(), src_rows, rows.data(), int64_t(rows.size()), C, dst.data());
    return 0;
  });
  return float32_array(info.Env(), dst);
}

Napi::Value op_scatter_rows(const Napi::CallbackInfo& info) {
  const char* fn = "cudaTrainOps.scatterRows";
  auto src = arg_array<float>(info, 0, napi_float32_array, fn, "src");
  auto rows = arg_array<int32_t>(info, 1, napi_int32_array, fn, "rows");
  const int64_t C = integer_arg(info, 2, fn, "C", 1);
  auto dst = arg_array<float>(info, 3, napi_float32_array, fn, "dst");
  const int64_t dst_rows = integer_arg(info, 4, fn, "dstRows", 1);
  if (int64_t(src.size()) != int64_t(rows.size()) * C || int64_t(dst.size()) != dst_rows * C)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": src must be [R, C] and dst [dstRows, C]");
  guarded(info.Env(), [&]() {
    cuda_train_api::scatter_rows(src.data(), rows.data(), int64_t(rows.size()), C, dst.data(), dst_rows);
    return 0;
  });
  return float32_array(info.Env(), dst);
}

Napi::Value op_embedding_backward_padded(const Napi::CallbackInfo& info) {
  const char* fn = "cudaTrainOps.embeddingBackwardPadded";
  auto ids = arg_array<int32_t>(info, 0, napi_int32_array, fn, "ids");
  auto dx = arg_array<float>(info, 1, napi_float32_array, fn, "dx");
  const int64_t V = integer_arg(info, 2, fn, "vocab", 1), C = integer_arg(info, 3, fn, "C", 1);
  const int64_t pad = integer_arg(info, 4, fn, "paddingIdx", -1);
  auto dE = arg_array<float>(info, 5, napi_float32_array, fn, "dE");
  if (int64_t(dx.size()) != int64_t(ids.size()) * C || int64_t(dE.size()) != V * C)
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": dx must be [T, C] and dE [vocab, C]");
  guarded(info.Env(), [&]() {
    cuda_train_api::embedding_backward_padded(ids.data(), int64_t(ids.size()), dx.data(), V, C, pad, dE.data());
    return 0;
  });
  return float32_array(info.Env(), dE);
}

}  // namespace

void register_cuda_train_ops(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  ops.Set("loraForward", Napi::Function::New(env, op_lora_forward, "loraForward"));
  ops.Set("loraBackward", Napi::Function::New(env, op_lora_backward, "loraBackward"));
  ops.Set("gatherRows", Napi::Function::New(env, op_gather_rows, "gatherRows"));
  ops.Set("scatterRows", Napi::Function::New(env, op_scatter_rows, "scatterRows"));
  ops.Set("embeddingBackwardPadded", Napi::Function::New(env, op_embedding_backward_padded, "embeddingBackwardPadded"));
  exports.Set("cudaTrainOps", ops);
}

#endif  // LFM2_WITH_CUDA

}  // namespace lfm2::binding
