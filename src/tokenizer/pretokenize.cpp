// Text splitting for the byte-level BPE: GPT-2's byte<->unicode alphabet, UTF-8 validation,
// the GPT-2 pre-tokenizer regex (PCRE2, JIT when available) and special-token splitting.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <memory>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

// ---- GPT-2 bytes_to_unicode ----
// Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) map to the same code point; the other 68
// bytes map, in increasing byte order, to U+0100, U+0101, ... (space 0x20 -> U+0120 'Ġ').
struct ByteAlphabet {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<int16_t, 0x144> cp_to_byte{};  // -1 for code points outside the alphabet
  ByteAlphabet() {
    cp_to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      byte_to_cp[b] = printable ? uint32_t(b) : next++;
      cp_to_byte[byte_to_cp[b]] = int16_t(b);
    }
  }
};
const ByteAlphabet& alphabet() {
  static const ByteAlphabet a;
  return a;
}

// Length (1..4) of the valid UTF-8 sequence starting at p (n bytes available), or 0 when the
// bytes there are not valid UTF-8 (overlong forms, surrogates and > U+10FFFF are invalid, as in
// PCRE2's own check).
size_t utf8_len(const unsigned char* p, size_t n) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  auto cont = [&](size_t i, unsigned lo, unsigned hi) { return i < n && p[i] >= lo && p[i] <= hi; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(1, lo, hi) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  return 0;
}

uint32_t utf8_decode(const unsigned char* p, size_t len) {
  if (len == 1) return p[0];
  uint32_t cp = p[0] & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; i++) cp = (cp << 6) | (p[i] & 0x3F);
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// ---- GPT-2 pre-tokenizer regex ----
// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// with \s written as \p{White_Space} (Python `regex` semantics; see tokenizer.h).
constexpr const char* kPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+)"
    R"(|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+)";

struct Regex {
  pcre2_code* code = nullptr;
  bool jit = false;
  Regex() {
    int err = 0;
    PCRE2_SIZE off = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("tokenizer: cannot compile the GPT-2 regex (", reinterpret_cast<char*>(msg), ")");
    }
    jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  }
};
const Regex& gpt2_regex() {
  static const Regex r;
  return r;
}

// Per-thread match state (match data is not shareable between threads; the compiled code is).
struct MatchState {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* ctx = nullptr;
  pcre2_jit_stack* stack = nullptr;
  explicit MatchState(const Regex& re) {
    md = pcre2_match_data_create_from_pattern(re.code, nullptr);
    ctx = pcre2_match_context_create(nullptr);
    if (re.jit) {  // 1 MiB JIT stack: long whitespace runs backtrack through \s+(?!\S)
      stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
      if (stack) pcre2_jit_stack_assign(ctx, nullptr, stack);
    }
    if (!md || !ctx) fail("tokenizer: out of memory for regex match data");
  }
  ~MatchState() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(ctx);
    if (stack) pcre2_jit_stack_free(stack);
  }
};

// Runs the regex over one valid UTF-8 run (the run is the whole subject, so $ and (?!\S) see
// its end). Every byte lands in exactly one piece: if the regex ever skipped text (it cannot:
// its alternatives cover every character), the gap would become a piece of its own.
void split_valid_run(std::string_view run, const std::function<void(std::string_view)>& fn) {
  const Regex& re = gpt2_regex();
  thread_local std::unique_ptr<MatchState> state;
  if (!state) state = std::make_unique<MatchState>(re);
  auto subject = reinterpret_cast<PCRE2_SPTR>(run.data());
  size_t pos = 0;
  while (pos < run.size()) {
    int rc = pcre2_match(re.code, subject, run.size(), pos, PCRE2_NO_UTF_CHECK, state->md,
                         state->ctx);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail("tokenizer: regex match failed (", reinterpret_cast<char*>(msg), ")");
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(state->md);
    size_t start = ov[0], end = ov[1];
    if (start > pos) fn(run.substr(pos, start - pos));
    if (end == start) {  // empty match: cannot happen with this pattern; step one char
      end = start + utf8_len(subject + start, run.size() - start);
      fn(run.substr(start, end - start));
    } else {
      fn(run.substr(start, end - start));
    }
    pos = end;
  }
  if (pos < run.size()) fn(run.substr(pos));
}

}  // namespace

std::string byte_level_encode(std::string_view raw) {
  const ByteAlphabet& a = alphabet();
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) utf8_append(out, a.byte_to_cp[c]);
  return out;
}

bool byte_level_decode(std::string_view text, std::string* raw) {
  const ByteAlphabet& a = alphabet();
  raw->clear();
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = 0, n = text.size();
  while (i < n) {
    size_t len = utf8_len(p + i, n - i);
    if (len == 0) return false;
    uint32_t cp = utf8_decode(p + i, len);
    if (cp >= a.cp_to_byte.size() || a.cp_to_byte[cp] < 0) return false;
    raw->push_back(char(a.cp_to_byte[cp]));
    i += len;
  }
  return true;
}

void tokenizer_pretokenize(std::string_view text,
                           const std::function<void(std::string_view)>& fn) {
  auto p = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), run_start = 0, i = 0;
  while (i < n) {
    if (p[i] < 0x80) {  // ASCII fast path
      i++;
      continue;
    }
    size_t len = utf8_len(p + i, n - i);
    if (len > 0) {
      i += len;
      continue;
    }
    // Invalid byte: flush the valid run before it, then emit the byte alone.
    if (i > run_start) split_valid_run(text.substr(run_start, i - run_start), fn);
    fn(text.substr(i, 1));
    run_start = ++i;
  }
  if (n > run_start) split_valid_run(text.substr(run_start), fn);
}

std::vector<TextSegment> tokenizer_split_specials(const Tokenizer& tok, std::string_view text) {
  std::vector<TextSegment> out;
  // Specials sorted longest first, so that the first one found at a position is the longest.
  std::vector<const std::pair<std::string, int>*> sp;
  for (const auto& s : tok.specials)
    if (!s.first.empty()) sp.push_back(&s);
  std::stable_sort(sp.begin(), sp.end(),
                   [](auto* a, auto* b) { return a->first.size() > b->first.size(); });
  // next[k]: position of the next occurrence of special k at or after the scan position.
  std::vector<size_t> next(sp.size());
  for (size_t k = 0; k < sp.size(); k++) next[k] = text.find(sp[k]->first);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, best_k = 0;
    for (size_t k = 0; k < sp.size(); k++) {
      if (next[k] != std::string_view::npos && next[k] < pos)
        next[k] = text.find(sp[k]->first, pos);
      if (next[k] < best) best = next[k], best_k = k;
    }
    if (best == std::string_view::npos) break;
    if (best > pos) out.push_back({text.substr(pos, best - pos), -1});
    out.push_back({text.substr(best, sp[best_k]->first.size()), sp[best_k]->second});
    pos = best + sp[best_k]->first.size();
  }
  if (pos < text.size()) out.push_back({text.substr(pos), -1});
  return out;
}

}  // namespace softslm
