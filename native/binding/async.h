#pragma once
// Runs heavy native work off the JS main thread and settles a Promise with the result.
// Any C++ exception in `work` becomes a rejected Promise carrying the exception's message.
#include <napi.h>

#include <functional>
#include <memory>
#include <string>

namespace lfm2::binding {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using ToJs = std::function<Napi::Value(Napi::Env, Result&)>;

  PromiseWorker(Napi::Env env, Work work, ToJs to_js)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        to_js_(std::move(to_js)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = std::make_unique<Result>(work_());
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    try {
      deferred_.Resolve(to_js_(Env(), *result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs to_js_;
  std::unique_ptr<Result> result_;
};

// Queue `work` on the libuv pool; returns the Promise. `keep` holds JS objects alive until completion.
template <typename Result>
Napi::Promise run_async(Napi::Env env, typename PromiseWorker<Result>::Work work,
                        typename PromiseWorker<Result>::ToJs to_js) {
  auto* w = new PromiseWorker<Result>(env, std::move(work), std::move(to_js));
  auto p = w->promise();
  w->Queue();
  return p;
}

}  // namespace lfm2::binding
