// One error type for the whole project: a one-line message naming the problem.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace softslm {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// fail("file ", path, ": bad header") throws Error with the pieces concatenated.
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(os.str());
}

template <typename... Args>
void check(bool ok, const Args&... args) {
  if (!ok) fail(args...);
}

}  // namespace softslm
