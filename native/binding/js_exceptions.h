#pragma once
// Turning native exceptions into JS ones for calls that run on the JS thread (work on the libuv pool goes through
// async.h instead, which rejects its Promise with the message).
#include <napi.h>

#include <exception>
#include <stdexcept>

namespace lfm2::binding {

// A bad argument found below the binding (unknown tensor name, wrong size): becomes a JS RangeError.
struct ArgumentRangeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs fn; an ArgumentRangeError becomes a JS RangeError, any other std::exception a JS Error with its message, and
// a JS exception passes through.
template <typename Fn>
auto guarded(Napi::Env env, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const ArgumentRangeError& e) {
    throw Napi::RangeError::New(env, e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace lfm2::binding
