// JS classes Model and GenerationState on either device: the CPU lfm2::Lfm2Model (ModelHandle, below) or the GPU
// model (cuda_model_engine.cpp), both behind ModelEngine (model_engine.h). Heavy calls (load, forward, advance) run
// on the libuv pool via run_async; on the CPU one mutex per model serialises them because they share the activation
// buffers.
//
//   Model.load(dir, { device?: 'auto'|'cpu'|'cuda' (default 'cpu'), dtype?: 'auto'|'bf16'|'f32' (CPU only),
//                     stateBytesCap? (CUDA only: bytes all generation states may hold; default 90% of free memory) })
//       → Promise<Model>   (device 'cuda' without a usable GPU throws before reading anything)
//   model.info() → { config, parameterCount, dtype, tensors: [{ name, shape, dtype, source }], device?: 'cuda' }
//   model.memory() → { weightBytes, stateBytes, stateBytesCap }   (device 'cuda' only)
//   model.forward(seqs: Int32Array[], { logits?: 'all'|'last'|'none', hidden?: boolean, precision?: 'exact'|'fast',
//                 retainActivations?: boolean /* training-mode storage: every layer keeps its activations */ })
//       → Promise<{ logits: Float32Array [R, V], logitRows: Int32Array [R], vocab, hidden?: Float32Array [T, C] }>
//   model.tokenLogprobs(batch: { tokens, cuSeqlens, completionMask } (binding/train_batch_args.h),
//                       { temperature?: number, precision?: 'exact'|'fast' })
//       → Promise<{ logp: Float32Array [T], entropy: Float32Array [T] }>   (no gradient; model/loss_passes.h)
//   model.createState() → GenerationState
//   model.advance(states: GenerationState[], chunks: Int32Array[], { logits?, precision? }) → Promise<same as forward>
//   state.fork() → GenerationState (deep copy), state.free(), state.length, state.bytes, state.freed
// On the GPU, precision and retainActivations do not apply (GEMM inputs are always BF16).
// Other binding files reach the native objects through binding/model_engine.h.
#include <napi.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/device.h"
#include "binding/async.h"
#include "binding/js_exceptions.h"
#include "binding/model_engine.h"
#include "binding/registry.h"
#include "binding/train_batch_args.h"
#include "model/lfm2.h"
#include "model/loss_passes.h"

namespace lfm2::binding {

// Argument reading and result building shared by both devices (defined below).
std::string opt_string(Napi::Object opts, const char* key, const std::string& dflt,
                       std::initializer_list<const char*> allowed, const char* fn);
std::vector<std::vector<int32_t>> token_arrays(Napi::Env env, Napi::Value v, const char* fn, const char* what);
LogitsMode logits_mode(const std::string& s);
Napi::Object forward_result_to_js(Napi::Env env, const std::vector<float>& logits, const std::vector<int32_t>& rows,
                                  int64_t vocab, const std::vector<float>& hidden, int64_t hidden_size);
Napi::Object model_info_to_js(Napi::Env env, const Lfm2Model& model);
Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i, const char* fn);

namespace {

// Constructors per environment (worker threads each load the addon into their own env).
std::mutex g_ctor_mu;
std::map<napi_env, Napi::FunctionReference*> g_model_ctor, g_state_ctor;

Napi::Function ctor_of(std::map<napi_env, Napi::FunctionReference*>& m, Napi::Env env) {
  std::lock_guard<std::mutex> lk(g_ctor_mu);
  auto it = m.find(env);
  if (it == m.end()) throw Napi::Error::New(env, "lfm2 addon: class not registered in this environment");
  return it->second->Value();
}

Napi::Value result_to_js(Napi::Env env, ForwardResult& r) {
  return forward_result_to_js(env, r.logits, r.rows, r.vocab, r.hidden, r.hidden_size);
}

// Runs the forward under the model lock and copies out what the caller asked for.
ForwardResult run_forward(ModelHandle& h, const std::vector<SeqChunk>& chunks, const ForwardOptions& fo,
                          bool want_hidden) {
  std::lock_guard<std::mutex> lk(h.mu);
  h.model->forward(chunks, h.acts, fo);
  ForwardResult r;
  const auto& cfg = h.model->config();
  r.vocab = cfg.vocab_size;
  r.hidden_size = cfg.hidden_size;
  r.logits.assign(h.acts.logits, h.acts.logits + h.acts.logit_rows.size() * size_t(cfg.vocab_size));
  for (int64_t row : h.acts.logit_rows) r.rows.push_back(int32_t(row));
  if (want_hidden) r.hidden.assign(h.acts.hidden, h.acts.hidden + h.acts.T * cfg.hidden_size);
  return r;
}

struct CpuState : EngineState {
  std::unique_ptr<GenerationState> st;
  explicit CpuState(std::unique_ptr<GenerationState> s) : st(std::move(s)) {}
  int64_t length() const override { return st->length; }
  int64_t bytes() const override { return int64_t(st->bytes()); }
};

// The CPU engine: every forward holds the model lock.
class CpuModelEngine final : public ModelHandle {
 public:
  ForwardResult forward(const std::vector<std::vector<int32_t>>& seqs, const std::vector<EngineState*>& states,
                        const ForwardOptions& fo, bool want_hidden) override {
    std::vector<SeqChunk> chunks;
    for (size_t i = 0; i < seqs.size(); ++i)
      chunks.push_back(SeqChunk{seqs[i].data(), int64_t(seqs[i].size()),
                                states.empty() ? nullptr : static_cast<CpuState*>(states[i])->st.get()});
    return run_forward(*this, chunks, fo, want_hidden);
  }
  MicroStepResult token_logprobs(const TrainBatch& batch, float temperature, Precision precision) override {
    std::lock_guard<std::mutex> lk(mu);
    return lfm2::token_logprobs(*model, batch, temperature, precision, acts);
  }
  std::unique_ptr<EngineState> new_state() override { return std::make_unique<CpuState>(model->new_state()); }
  std::unique_ptr<EngineState> fork(const EngineState& s) override {
    return std::make_unique<CpuState>(static_cast<const CpuState&>(s).st->fork());
  }
  ModelMemory memory() const override {
    throw std::runtime_error("memory: the model is on the CPU (device memory is reported for device 'cuda' only)");
  }
};

class StateWrap : public Napi::ObjectWrap<StateWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "GenerationState",
                       {InstanceMethod<&StateWrap::fork>("fork"), InstanceMethod<&StateWrap::free>("free"),
                        InstanceAccessor<&StateWrap::length>("length"), InstanceAccessor<&StateWrap::bytes>("bytes"),
                        InstanceAccessor<&StateWrap::freed>("freed")});
  }

  using Init = std::pair<std::shared_ptr<ModelEngine>, std::shared_ptr<StateBox>>;
  StateWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StateWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "GenerationState cannot be constructed directly; use model.createState()");
    auto* init = info[0].As<Napi::External<Init>>().Data();
    model_ = init->first;
    box_ = init->second;
  }

  static Napi::Object make(Napi::Env env, std::shared_ptr<ModelEngine> m, std::shared_ptr<StateBox> b) {
    Init init{std::move(m), std::move(b)};
    return ctor_of(g_state_ctor, env).New({Napi::External<Init>::New(env, &init)});
  }

  // Checks the state is alive and idle, and that it belongs to `model`.
  std::shared_ptr<StateBox> usable(Napi::Env env, const ModelEngine* model, const std::string& what) const {
    if (!box_ || !box_->st) throw Napi::Error::New(env, what + ": generation state was freed");
    if (box_->busy.load()) throw Napi::Error::New(env, what + ": generation state is in use by a pending call");
    if (model && model_.get() != model)
      throw Napi::Error::New(env, what + ": generation state belongs to another model");
    return box_;
  }

 private:
  Napi::Value fork(const Napi::CallbackInfo& info) {
    auto b = usable(info.Env(), nullptr, "fork");
    auto nb = std::make_shared<StateBox>();
    return guarded(info.Env(), [&]() -> Napi::Value {
      nb->st = model_->fork(*b->st);
      return make(info.Env(), model_, nb);
    });
  }
  Napi::Value free(const Napi::CallbackInfo& info) {
    if (box_ && box_->busy.load())
      throw Napi::Error::New(info.Env(), "free: generation state is in use by a pending call");
    if (box_) box_->st.reset();
    return info.Env().Undefined();
  }
  Napi::Value length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), box_ && box_->st ? double(box_->st->length()) : 0.0);
  }
  Napi::Value bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), box_ && box_->st ? double(box_->st->bytes()) : 0.0);
  }
  Napi::Value freed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !box_ || !box_->st);
  }

  std::shared_ptr<ModelEngine> model_;
  std::shared_ptr<StateBox> box_;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {StaticMethod<&ModelWrap::load>("load"), InstanceMethod<&ModelWrap::info>("info"),
                        InstanceMethod<&ModelWrap::forward>("forward"),
                        InstanceMethod<&ModelWrap::token_logprobs>("tokenLogprobs"),
                        InstanceMethod<&ModelWrap::create_state>("createState"),
                        InstanceMethod<&ModelWrap::advance>("advance"), InstanceMethod<&ModelWrap::memory>("memory")});
  }

  ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "Model cannot be constructed directly; use Model.load(dir)");
    h_ = *info[0].As<Napi::External<std::shared_ptr<ModelEngine>>>().Data();
  }

  std::shared_ptr<ModelEngine> handle() const { return h_; }

 private:
  static Napi::Value load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString())
      throw Napi::TypeError::New(env, "Model.load(dir, opts): dir must be a string");
    std::string dir = info[0].As<Napi::String>().Utf8Value();
    Napi::Object opts = options_arg(info, 1, "Model.load");
    std::string dt = opt_string(opts, "dtype", "auto", {"auto", "bf16", "f32"}, "Model.load");
    WeightDTypeChoice choice =
        dt == "bf16" ? WeightDTypeChoice::BF16 : dt == "f32" ? WeightDTypeChoice::F32 : WeightDTypeChoice::Auto;
    const std::string dev = opt_string(opts, "device", "cpu", {"auto", "cpu", "cuda"}, "Model.load");
    // Fail fast, on the JS thread, with the device error rather than after reading the weights.
    const bool cuda = guarded(env, [&]() { return resolve_device(dev) == Device::CUDA; });
    int64_t cap = 0;
    Napi::Value capv = opts.Get("stateBytesCap");
    if (cuda && !capv.IsUndefined()) {
      if (!capv.IsNumber() || capv.As<Napi::Number>().DoubleValue() < 0)
        throw Napi::TypeError::New(env, "Model.load: stateBytesCap must be a non-negative number of bytes");
      cap = capv.As<Napi::Number>().Int64Value();
    }
    return run_async<std::shared_ptr<ModelEngine>>(
        env,
        [dir, choice, cuda, cap]() -> std::shared_ptr<ModelEngine> {
          if (cuda) return load_cuda_model(dir, cap);
          auto h = std::make_shared<CpuModelEngine>();
          h->model = Lfm2Model::load(dir, choice);
          return h;
        },
        [](Napi::Env env, std::shared_ptr<ModelEngine>& h) -> Napi::Value {
          auto ext = Napi::External<std::shared_ptr<ModelEngine>>::New(env, &h);
          return ctor_of(g_model_ctor, env).New({ext});
        });
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Object o = model_info_to_js(info.Env(), h_->host_model());
    if (h_->on_cuda()) o.Set("device", "cuda");
    return o;
  }

  Napi::Value memory(const Napi::CallbackInfo& info) {
    const ModelMemory m = guarded(info.Env(), [&]() { return h_->memory(); });
    auto o = Napi::Object::New(info.Env());
    o.Set("weightBytes", double(m.weight_bytes));
    o.Set("stateBytes", double(m.state_bytes));
    o.Set("stateBytesCap", double(m.state_bytes_cap));
    return o;
  }

  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1) throw Napi::TypeError::New(env, "forward(seqs, opts): seqs is required");
    auto seqs = std::make_shared<std::vector<std::vector<int32_t>>>(token_arrays(env, info[0], "forward", "seqs"));
    Napi::Object opts = options_arg(info, 1, "forward");
    ForwardOptions fo;
    fo.logits = logits_mode(opt_string(opts, "logits", "last", {"all", "last", "none"}, "forward"));
    fo.precision = opt_string(opts, "precision", "exact", {"exact", "fast"}, "forward") == "fast" ? Precision::Fast
                                                                                                   : Precision::Exact;
    Napi::Value hv = opts.Get("hidden");
    if (!hv.IsUndefined() && !hv.IsBoolean()) throw Napi::TypeError::New(env, "forward: option hidden must be a boolean");
    bool want_hidden = hv.IsBoolean() && hv.As<Napi::Boolean>().Value();
    Napi::Value rv = opts.Get("retainActivations");
    if (!rv.IsUndefined() && !rv.IsBoolean())
      throw Napi::TypeError::New(env, "forward: option retainActivations must be a boolean");
    fo.training = rv.IsBoolean() && rv.As<Napi::Boolean>().Value();
    auto h = h_;
    return run_async<ForwardResult>(
        env, [h, seqs, fo, want_hidden]() { return h->forward(*seqs, {}, fo, want_hidden); }, result_to_js);
  }

  Napi::Value token_logprobs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto batch = std::make_shared<TrainBatch>(read_train_batch(options_at(info, 0, "tokenLogprobs: batch"), false));
    OptionsReader o = options_at(info, 1, "tokenLogprobs");
    const float temperature = float(o.num("temperature", 1));
    const Precision precision = opt_string(o.o, "precision", "exact", {"exact", "fast"}, "tokenLogprobs") == "fast"
                                    ? Precision::Fast
                                    : Precision::Exact;
    auto h = h_;
    return run_async<MicroStepResult>(
        env, [h, batch, temperature, precision]() { return h->token_logprobs(*batch, temperature, precision); },
        [](Napi::Env env, MicroStepResult& r) -> Napi::Value { return logprobs_to_js(env, r); });
  }

  Napi::Value create_state(const Napi::CallbackInfo& info) {
    auto b = std::make_shared<StateBox>();
    return guarded(info.Env(), [&]() -> Napi::Value {
      b->st = h_->new_state();
      return StateWrap::make(info.Env(), h_, b);
    });
  }

  Napi::Value advance(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsArray())
      throw Napi::TypeError::New(env, "advance(states, chunks, opts): states must be an array of GenerationState");
    auto states = info[0].As<Napi::Array>();
    auto chunks = std::make_shared<std::vector<std::vector<int32_t>>>(token_arrays(env, info[1], "advance", "chunks"));
    if (states.Length() != chunks->size())
      throw Napi::RangeError::New(env, "advance: " + std::to_string(states.Length()) + " states but " +
                                           std::to_string(chunks->size()) + " chunks");
    Napi::Object opts = options_arg(info, 2, "advance");
    ForwardOptions fo;
    fo.logits = logits_mode(opt_string(opts, "logits", "last", {"all", "last", "none"}, "advance"));
    fo.precision = opt_string(opts, "precision", "exact", {"exact", "fast"}, "advance") == "fast" ? Precision::Fast
                                                                                                   : Precision::Exact;
    auto boxes = std::make_shared<std::vector<std::shared_ptr<StateBox>>>(acquire_states(env, info[0], *h_, "advance"));
    // Busy until the Promise settles: released in the result conversion on success (main thread), or on the
    // worker when the forward throws.
    auto release = [boxes]() { release_states(*boxes); };
    auto h = h_;
    return run_async<ForwardResult>(
        env,
        [h, chunks, boxes, fo, release]() {
          std::vector<EngineState*> sts;
          for (auto& b : *boxes) sts.push_back(b->st.get());
          try {
            return h->forward(*chunks, sts, fo, false);
          } catch (...) {
            release();
            throw;
          }
        },
        [release](Napi::Env env, ForwardResult& r) {
          release();
          return result_to_js(env, r);
        });
  }

  std::shared_ptr<ModelEngine> h_;
};

}  // namespace

std::string opt_string(Napi::Object opts, const char* key, const std::string& dflt,
                       std::initializer_list<const char*> allowed, const char* fn) {
  Napi::Env env = opts.Env();
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return dflt;
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + "'" + a + "'";
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(fn) + ": option " + key + " must be one of " + list);
  std::string s = v.As<Napi::String>().Utf8Value();
  for (const char* a : allowed)
    if (s == a) return s;
  throw Napi::TypeError::New(env, std::string(fn) + ": option " + key + " = '" + s + "' must be one of " + list);
}

// Copies an array of Int32Array into owned vectors (JS memory may change while the work runs).
std::vector<std::vector<int32_t>> token_arrays(Napi::Env env, Napi::Value v, const char* fn, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(fn) + ": " + what + " must be an array of Int32Array");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() == 0) throw Napi::RangeError::New(env, std::string(fn) + ": " + what + " is empty");
  std::vector<std::vector<int32_t>> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsTypedArray() || e.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw Napi::TypeError::New(env, std::string(fn) + ": " + what + "[" + std::to_string(i) + "] must be an Int32Array");
    auto ta = e.As<Napi::Int32Array>();
    if (ta.ElementLength() == 0)
      throw Napi::RangeError::New(env, std::string(fn) + ": " + what + "[" + std::to_string(i) +
                                           "] is empty (every sequence needs at least one token)");
    out[i].assign(ta.Data(), ta.Data() + ta.ElementLength());
  }
  return out;
}

LogitsMode logits_mode(const std::string& s) {
  return s == "all" ? LogitsMode::All : s == "none" ? LogitsMode::None : LogitsMode::Last;
}

Napi::Object forward_result_to_js(Napi::Env env, const std::vector<float>& logits, const std::vector<int32_t>& rows,
                                  int64_t vocab, const std::vector<float>& hidden, int64_t hidden_size) {
  auto o = Napi::Object::New(env);
  auto lg = Napi::Float32Array::New(env, logits.size());
  std::copy(logits.begin(), logits.end(), lg.Data());
  auto rw = Napi::Int32Array::New(env, rows.size());
  std::copy(rows.begin(), rows.end(), rw.Data());
  o.Set("logits", lg);
  o.Set("logitRows", rw);
  o.Set("vocab", double(vocab));
  if (!hidden.empty()) {
    auto h = Napi::Float32Array::New(env, hidden.size());
    std::copy(hidden.begin(), hidden.end(), h.Data());
    o.Set("hidden", h);
    o.Set("hiddenSize", double(hidden_size));
  }
  return o;
}

Napi::Object model_info_to_js(Napi::Env env, const Lfm2Model& model) {
  const auto& c = model.config();
  const auto& w = model.weights();
  auto cfg = Napi::Object::New(env);
  cfg.Set("vocabSize", double(c.vocab_size));
  cfg.Set("hiddenSize", double(c.hidden_size));
  cfg.Set("numLayers", double(c.num_layers));
  cfg.Set("numHeads", double(c.num_heads));
  cfg.Set("numKvHeads", double(c.num_kv_heads));
  cfg.Set("headDim", double(c.head_dim));
  cfg.Set("ffDim", double(c.ff_dim));
  cfg.Set("blockFfDim", double(c.block_ff_dim));
  cfg.Set("convLCache", double(c.conv_L_cache));
  cfg.Set("normEps", c.norm_eps);
  cfg.Set("ropeTheta", c.rope_theta);
  cfg.Set("tieEmbedding", c.tie_embedding);
  cfg.Set("maxPositionEmbeddings", double(c.max_position_embeddings));
  cfg.Set("bosTokenId", double(c.bos_token_id));
  cfg.Set("eosTokenId", double(c.eos_token_id));
  cfg.Set("padTokenId", double(c.pad_token_id));
  auto types = Napi::Array::New(env, c.is_attention.size());
  for (size_t l = 0; l < c.is_attention.size(); ++l)
    types.Set(uint32_t(l), c.is_attention[l] ? "full_attention" : "conv");
  cfg.Set("layerTypes", types);
  auto o = Napi::Object::New(env);
  o.Set("config", cfg);
  o.Set("parameterCount", double(w.parameter_count()));
  o.Set("dtype", w.dtype == DType::BF16 ? "bf16" : "f32");
  auto list = Napi::Array::New(env);
  uint32_t i = 0;
  for (const WeightTensor* t : w.all()) {
    auto e = Napi::Object::New(env);
    e.Set("name", t->name);
    auto shape = Napi::Array::New(env, t->shape.size());
    for (size_t d = 0; d < t->shape.size(); ++d) shape.Set(uint32_t(d), double(t->shape[d]));
    e.Set("shape", shape);
    e.Set("dtype", t->dtype == DType::BF16 ? "bf16" : "f32");
    e.Set("source", t->source);
    list.Set(i++, e);
  }
  o.Set("tensors", list);
  return o;
}

Napi::Object options_arg(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  if (info.Length() <= i || info[i].IsUndefined()) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": options must be an object");
  return info[i].As<Napi::Object>();
}

std::shared_ptr<ModelEngine> unwrap_model(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(ctor_of(g_model_ctor, env)))
    throw Napi::TypeError::New(env, what + " is not a Model");
  return ModelWrap::Unwrap(v.As<Napi::Object>())->handle();
}

std::vector<std::shared_ptr<StateBox>> acquire_states(Napi::Env env, Napi::Value states, const ModelEngine& model,
                                                      const std::string& what) {
  if (!states.IsArray()) throw Napi::TypeError::New(env, what + ": states must be an array of GenerationState");
  auto arr = states.As<Napi::Array>();
  Napi::Function state_ctor = ctor_of(g_state_ctor, env);
  std::vector<std::shared_ptr<StateBox>> boxes;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(state_ctor))
      throw Napi::TypeError::New(env, what + ": states[" + std::to_string(i) + "] is not a GenerationState");
    auto b = StateWrap::Unwrap(v.As<Napi::Object>())->usable(env, &model, what);
    for (const auto& prev : boxes)
      if (prev == b)
        throw Napi::Error::New(env, what + ": the same generation state appears twice (states[" + std::to_string(i) + "])");
    boxes.push_back(b);
  }
  for (auto& b : boxes) b->busy.store(true);
  return boxes;
}

void release_states(const std::vector<std::shared_ptr<StateBox>>& boxes) {
  for (auto& b : boxes) b->busy.store(false);
}

void register_model(Napi::Env env, Napi::Object exports) {
  Napi::Function model = ModelWrap::define(env);
  Napi::Function state = StateWrap::define(env);
  {
    std::lock_guard<std::mutex> lk(g_ctor_mu);
    g_model_ctor[env] = new Napi::FunctionReference(Napi::Persistent(model));
    g_state_ctor[env] = new Napi::FunctionReference(Napi::Persistent(state));
  }
  env.AddCleanupHook([env]() {
    std::lock_guard<std::mutex> lk(g_ctor_mu);
    delete g_model_ctor[env];
    delete g_state_ctor[env];
    g_model_ctor.erase(env);
    g_state_ctor.erase(env);
  });
  exports.Set("Model", model);
  exports.Set("GenerationState", state);
}

}  // namespace lfm2::binding
