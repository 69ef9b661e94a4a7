// Orders labels by the numbers in them: "2+1" before "10+1", "depth 2" before "depth 10"
// (difficulty classes in tables and charts).
#pragma once
#include <string>
#include <vector>

namespace softslm {

// The decimal numbers in s, in order ("4x12" -> {4, 12}).
inline std::vector<long> numbers_in(const std::string& s) {
  std::vector<long> out;
  long cur = -1;
  for (char ch : s) {
    if (ch >= '0' && ch <= '9') {
      cur = (cur < 0 ? 0 : cur * 10) + (ch - '0');
    } else if (cur >= 0) {
      out.push_back(cur);
      cur = -1;
    }
  }
  if (cur >= 0) out.push_back(cur);
  return out;
}

// By numbers_in, then by text (a strict weak order).
inline bool natural_less(const std::string& a, const std::string& b) {
  const std::vector<long> x = numbers_in(a), y = numbers_in(b);
  if (x != y) return x < y;
  return a < b;
}

}  // namespace softslm
