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

// A library exception's text for a user: nlohmann::json's "[json.exception.parse_error.101]
// parse error at line 1, ..." loses its bracketed id.
inline std::string library_message(const std::exception& e) {
  std::string s = e.what();
  if (s.rfind("[json.", 0) == 0 && s.find("] ") != std::string::npos) s = s.substr(s.find("] ") + 2);
  return s;
}

template <typename... Args>
void check(bool ok, const Args&... args) {
  if (!ok) fail(args...);
}

}  // namespace softslm
