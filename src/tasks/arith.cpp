// add and mul: decimal string arithmetic, draws, parsing, chains of thought.
#include <algorithm>
#include <vector>

#include "base/error.h"
#include "tasks/tasks.h"

namespace softslm {

bool is_decimal(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return s.size() == 1 || s[0] != '0';
}

std::string dec_add(const std::string& a, const std::string& b) {
  std::string out;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; i++) {
    int t = carry;
    if (i < a.size()) t += a[a.size() - 1 - i] - '0';
    if (i < b.size()) t += b[b.size() - 1 - i] - '0';
    out.push_back(char('0' + t % 10));
    carry = t / 10;
  }
  while (out.size() > 1 && out.back() == '0') out.pop_back();
  std::reverse(out.begin(), out.end());
  return out;
}

std::string dec_mul_digit(const std::string& a, int d) {
  if (d == 0) return "0";
  std::string out;
  int carry = 0;
  for (size_t i = 0; i < a.size() || carry; i++) {
    int t = carry;
    if (i < a.size()) t += (a[a.size() - 1 - i] - '0') * d;
    out.push_back(char('0' + t % 10));
    carry = t / 10;
  }
  while (out.size() > 1 && out.back() == '0') out.pop_back();
  std::reverse(out.begin(), out.end());
  return out;
}

std::string dec_mul(const std::string& a, const std::string& b) {
  std::string sum = "0";
  for (size_t j = 0; j < b.size(); j++) {
    std::string p = dec_mul_digit(a, b[b.size() - 1 - j] - '0');
    if (p != "0") p += std::string(j, '0');
    sum = dec_add(sum, p);
  }
  return sum;
}

std::string dec_random(Rng& r, int digits) {
  if (digits <= 1) return std::string(1, char('0' + rng_below(r, 10)));
  std::string s(1, char('1' + rng_below(r, 9)));
  for (int i = 1; i < digits; i++) s.push_back(char('0' + rng_below(r, 10)));
  return s;
}

namespace {

int uniform_int(Rng& r, int lo, int hi) { return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1)); }

}  // namespace

TaskDraw add_draw(Rng& r, const TaskParams& p) {
  std::string a = dec_random(r, uniform_int(r, p.add_min_digits, p.add_max_digits));
  std::string b = dec_random(r, uniform_int(r, p.add_min_digits, p.add_max_digits));
  return TaskDraw{true, a + "+" + b + "="};
}

TaskDraw mul_draw(Rng& r, const TaskParams& p) {
  std::string a = dec_random(r, uniform_int(r, p.mul_a_min_digits, p.mul_a_max_digits));
  std::string b = dec_random(r, uniform_int(r, p.mul_b_min_digits, p.mul_b_max_digits));
  return TaskDraw{true, a + "*" + b + "="};
}

std::pair<std::string, std::string> arith_parse(const std::string& prompt, char op) {
  const char* what = op == '+' ? "add" : "mul";
  check(!prompt.empty() && prompt.back() == '=', what, " prompt must end with '=': \"", prompt,
        "\"");
  size_t at = prompt.find(op);
  check(at != std::string::npos, what, " prompt has no '", op, "': \"", prompt, "\"");
  std::string a = prompt.substr(0, at), b = prompt.substr(at + 1, prompt.size() - at - 2);
  check(is_decimal(a) && is_decimal(b), what, " prompt must be \"{a}", op,
        "{b}=\" with decimal numbers (no sign, no leading zeros): \"", prompt, "\"");
  return {a, b};
}

std::string add_cot(const std::string& a, const std::string& b) {
  std::string out, r;
  int carry = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; i++) {
    int x = i < a.size() ? a[a.size() - 1 - i] - '0' : 0;
    int y = i < b.size() ? b[b.size() - 1 - i] - '0' : 0;
    int t = x + y + carry;
    r.insert(r.begin(), char('0' + t % 10));
    if (!out.empty()) out += ' ';
    out += std::to_string(x) + "+" + std::to_string(y) + "+" + std::to_string(carry) + "=" +
           std::to_string(t) + "," + r;
    carry = t / 10;
  }
  return out;
}

std::string mul_cot(const std::string& a, const std::string& b) {
  std::string out, sum;  // sum: the running sum S, without leading zeros
  for (size_t j = 0; j < b.size(); j++) {
    int d = b[b.size() - 1 - j] - '0';
    // The result digits so far, most significant first: S's low j digits (zero-padded).
    std::string r(j, '0');
    for (size_t k = 0; k < j && k < sum.size(); k++) r[j - 1 - k] = sum[sum.size() - 1 - k];
    if (j == 0)
      out += a + "*" + char('0' + d) + ":";
    else
      out += " " + sum + "+" + a + "*" + char('0' + d) + std::string(j, '0') + ":" + r;
    int carry = 0;
    for (size_t i = 0; i < a.size() || i + j < sum.size() || carry; i++) {
      int x = i < a.size() ? a[a.size() - 1 - i] - '0' : 0;
      int s = i + j < sum.size() ? sum[sum.size() - 1 - i - j] - '0' : 0;
      int t = x * d + s + carry;
      r.insert(r.begin(), char('0' + t % 10));
      if (i || j) out += ' ';
      out += std::to_string(x) + "*" + std::to_string(d) + "+";
      if (j) out += std::to_string(s) + "+";
      out += std::to_string(carry) + "=" + std::to_string(t) + "," + r;
      carry = t / 10;
    }
    size_t nz = r.find_first_not_of('0');  // the new running sum: r without leading zeros
    sum = nz == std::string::npos ? "0" : r.substr(nz);
  }
  return out;
}

}  // namespace softslm
