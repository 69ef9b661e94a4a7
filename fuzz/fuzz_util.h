// Shared by the harnesses: softslm::Error is the expected outcome for bad input; anything
// else escaping (another exception type, a crash, a sanitizer report, a leak) is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/error.h"

namespace fuzz {

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs f(); true when it returned, false when it threw softslm::Error.
template <typename F>
bool expect_ok_or_error(F&& f) {
  try {
    f();
    return true;
  } catch (const softslm::Error&) {
    return false;
  }
}

// A property that must hold for accepted input; aborts (a finding) with a message otherwise.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: property violated: %s\n", what);
    std::abort();
  }
}

}  // namespace fuzz
