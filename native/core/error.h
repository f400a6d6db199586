#pragma once
// Error policy: native code never exits or aborts. Every failed check throws lfm2::Error, which the binding
// layer turns into a JS exception (synchronously or as a rejected Promise).
#include <sstream>
#include <stdexcept>
#include <string>

namespace lfm2 {

struct Error : std::runtime_error {
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  throw Error(os.str());
}

}  // namespace lfm2

// LFM2_CHECK(cond, "message parts", value, ...) : throws lfm2::Error with the message when cond is false.
#define LFM2_CHECK(cond, ...)                  \
  do {                                         \
    if (!(cond)) ::lfm2::fail(__VA_ARGS__);    \
  } while (0)
