// Tokenizer tests: pre-tokenizer, BPE merge order, specials, training, save/load, load errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "base/error.h"
#include "base/io.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

using nlohmann::json;

// Deterministic English-like text with numbers, punctuation, contractions and some unicode.
std::string corpus_text(uint32_t seed, size_t bytes) {
  static const char* words[] = {
      "the", "of", "and", "to", "in", "is", "that", "it", "was", "for", "on", "are", "as",
      "with", "his", "they", "I", "at", "be", "this", "have", "from", "or", "one", "had",
      "by", "word", "but", "not", "what", "all", "were", "we", "when", "your", "can", "said",
      "there", "use", "an", "each", "which", "she", "do", "how", "their", "if", "will", "up",
      "other", "about", "out", "many", "then", "them", "these", "so", "some", "her", "would",
      "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go",
      "see", "number", "no", "way", "could", "people", "my", "than", "first", "water", "been",
      "call", "who", "oil", "its", "now", "find", "long", "down", "day", "did", "get", "come",
      "made", "may", "part", "tokenizer", "model", "training", "café", "naïve", "über",
      "日本語", "中文", "emoji😀", "I'm", "you'll", "THEY'RE", "it's", "don't", "we've"};
  static const char* punct[] = {".", ",", "!", "?", ";", ":", " -", "...", "\n", "\n\n"};
  std::mt19937 rng(seed);
  std::string out;
  bool cap = true;
  while (out.size() < bytes) {
    std::string w = words[rng() % (sizeof words / sizeof *words)];
    if (cap && w[0] >= 'a' && w[0] <= 'z') w[0] = char(w[0] - 32);
    cap = false;
    if (!out.empty() && out.back() != '\n') out += ' ';
    out += w;
    if (rng() % 9 == 0) {
      out += ' ';
      out += std::to_string(rng() % 2000);
    }
    if (rng() % 6 == 0) {
      out += punct[rng() % (sizeof punct / sizeof *punct)];
      cap = true;
    }
  }
  return out;
}

// Random byte strings mixing text, unicode, invalid UTF-8 and special-token contents.
std::string random_bytes(std::mt19937& rng, size_t pieces) {
  static const char* frags[] = {
      "hello", " world", "The", " ", "  ", "\n", "\t", "\r\n", "'s", "'ll", "123", " 42",
      "é", "中文", "😀", "👍🏽", "!!", "...", "<|endoftext|>", "<think>", "</think>", "<|endo",
      "\xF0\x9F",          // truncated 4-byte sequence
      "\xC0\x80",          // overlong NUL
      "\xED\xA0\x80",      // UTF-16 surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xFF\xFE"};
  std::string s;
  for (size_t i = 0; i < pieces; i++) {
    unsigned r = rng() % 4;
    if (r == 0) {
      s += char(rng() % 256);
    } else if (r == 1 && rng() % 5 == 0) {
      s += std::string(1, '\0');
    } else {
      s += frags[rng() % (sizeof frags / sizeof *frags)];
    }
  }
  return s;
}

const std::vector<std::string> kSpecials = {kEndOfText, kThinkOpen, kThinkClose};

const Tokenizer& small_tok() {
  static const Tokenizer t = tokenizer_train({corpus_text(1, 200000)}, 700, kSpecials);
  return t;
}

// Tokenizer with the 256 byte tokens (plain byte order) and the given merges and specials.
Tokenizer make_tok(const std::vector<std::pair<std::string, std::string>>& merges,
                   const std::vector<std::string>& specials = {}) {
  Tokenizer t;
  for (int b = 0; b < 256; b++) t.id_to_bytes.push_back(std::string(1, char(b)));
  for (const auto& m : merges) {
    t.merges.push_back(m);
    std::string r = m.first + m.second;
    if (std::find(t.id_to_bytes.begin(), t.id_to_bytes.end(), r) == t.id_to_bytes.end())
      t.id_to_bytes.push_back(r);
  }
  for (const auto& s : specials) {
    t.specials.push_back({s, int(t.id_to_bytes.size())});
    t.id_to_bytes.push_back(s);
  }
  tokenizer_build_index(t, "test");
  return t;
}

std::vector<std::string> pieces_of(std::string_view text) {
  std::vector<std::string> out;
  tokenizer_pretokenize(text, [&](std::string_view p) { out.emplace_back(p); });
  return out;
}

std::vector<std::string> token_strings(const Tokenizer& t, const std::vector<int>& ids) {
  std::vector<std::string> out;
  for (int id : ids) out.push_back(t.id_to_bytes[id]);
  return out;
}

TEST(TokenizerTest, PretokenizeMatchesGpt2Regex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces_of("Hello world's  test 123\n\n"),
            (V{"Hello", " world", "'s", " ", " test", " 123", "\n\n"}));
  EXPECT_EQ(pieces_of("I'm you'll THEY'RE"), (V{"I", "'m", " you", "'ll", " THEY", "'", "RE"}));
  EXPECT_EQ(pieces_of("x  =  f(y);\t\n  z"),
            (V{"x", " ", " =", " ", " f", "(", "y", ");", "\t\n ", " z"}));
  EXPECT_EQ(pieces_of("café 日本語!!  "), (V{"caf\xC3\xA9", " 日本語", "!!", "  "}));
  EXPECT_EQ(pieces_of(""), V{});
}

TEST(TokenizerTest, PretokenizeInvalidUtf8BytesArePieces) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces_of("ab\xFF" "cd"), (V{"ab", "\xFF", "cd"}));
  EXPECT_EQ(pieces_of(" a\xE4\xB8 b"), (V{" a", "\xE4", "\xB8", " b"}));
  EXPECT_EQ(pieces_of("\xC0\x80"), (V{"\xC0", "\x80"}));
  EXPECT_EQ(pieces_of("\xED\xA0\x80x"), (V{"\xED", "\xA0", "\x80", "x"}));
  EXPECT_EQ(pieces_of(std::string("a\0b", 3)), (V{"a", std::string("\0", 1), "b"}));
}

TEST(TokenizerTest, RoundTripRandomBytes) {
  const Tokenizer& t = small_tok();
  std::mt19937 rng(7);
  for (int i = 0; i < 1500; i++) {
    std::string s = random_bytes(rng, 1 + rng() % 40);
    for (bool allow : {false, true}) {
      std::vector<int> ids = tokenizer_encode(t, s, allow);
      ASSERT_EQ(tokenizer_decode(t, ids), s) << "case " << i << " allow_special " << allow;
      if (!allow) {
        for (int id : ids) ASSERT_FALSE(t.is_special[id]) << "case " << i;
      }
    }
  }
}

TEST(TokenizerTest, AllowSpecialSplitsSpecials) {
  const Tokenizer& t = small_tok();
  int eot = tokenizer_special_id(t, kEndOfText), open = tokenizer_special_id(t, kThinkOpen),
      close = tokenizer_special_id(t, kThinkClose);
  ASSERT_GE(eot, 0);
  ASSERT_GE(open, 0);
  ASSERT_GE(close, 0);
  EXPECT_EQ(tokenizer_special_id(t, "<nope>"), -1);
  std::string text = "<think>the plan</think>the answer<|endoftext|><|endoftext|>";
  std::vector<int> on = tokenizer_encode(t, text, true);
  std::vector<int> plain = tokenizer_encode(t, "the plan", false);
  std::vector<int> expect = {open};
  expect.insert(expect.end(), plain.begin(), plain.end());
  expect.push_back(close);
  std::vector<int> answer = tokenizer_encode(t, "the answer", false);
  expect.insert(expect.end(), answer.begin(), answer.end());
  expect.push_back(eot);
  expect.push_back(eot);
  EXPECT_EQ(on, expect);
  std::vector<int> off = tokenizer_encode(t, text, false);
  for (int id : off) EXPECT_FALSE(t.is_special[id]);
  EXPECT_EQ(tokenizer_decode(t, off), text);
  EXPECT_EQ(tokenizer_decode(t, on), text);

  // Longest special first at the same position; leftmost occurrence first overall.
  Tokenizer s;
  s.specials = {{"<a>", 1}, {"<a>b", 2}, {"b<c", 3}};
  auto segs = tokenizer_split_specials(s, "x<a>b<c<a>");
  std::vector<std::pair<std::string, int>> got;
  for (auto& g : segs) got.push_back({std::string(g.text), g.special_id});
  EXPECT_EQ(got, (std::vector<std::pair<std::string, int>>{
                     {"x", -1}, {"<a>b", 2}, {"<c", -1}, {"<a>", 1}}));
}

TEST(TokenizerTest, SpecialIdsNeverFromOrdinaryText) {
  // "hello" is both frequent text and a special token: training cuts specials out of the
  // texts, so it never becomes an ordinary token, and ordinary text never yields its id.
  std::vector<std::string> texts;
  for (int i = 0; i < 200; i++) texts.push_back("hello hello world hello " + corpus_text(i, 200));
  Tokenizer t = tokenizer_train(texts, 400, {"hello", kEndOfText});
  int hid = tokenizer_special_id(t, "hello");
  ASSERT_EQ(hid, 398);
  EXPECT_EQ(t.bytes_to_id.count("hello"), 0u);
  std::vector<int> ids = tokenizer_encode(t, texts[0], false);
  for (int id : ids) EXPECT_FALSE(t.is_special[id]);
  EXPECT_EQ(tokenizer_decode(t, ids), texts[0]);
  EXPECT_EQ(tokenizer_encode(t, "hello", true), std::vector<int>{hid});

  // A hand-made vocabulary where an ordinary token has the same bytes as a special one.
  Tokenizer m = make_tok({{"a", "b"}}, {"ab"});
  int special = tokenizer_special_id(m, "ab");
  int ordinary = m.bytes_to_id.at("ab");
  EXPECT_NE(special, ordinary);
  EXPECT_EQ(tokenizer_encode(m, "ab", false), std::vector<int>{ordinary});
  EXPECT_EQ(tokenizer_encode(m, "ab", true), std::vector<int>{special});
}

TEST(TokenizerTest, MergeRankOrder) {
  using V = std::vector<std::string>;
  // The lowest-rank pair merges first, wherever it is in the piece.
  Tokenizer ab_first = make_tok({{"a", "b"}, {"b", "c"}});
  Tokenizer bc_first = make_tok({{"b", "c"}, {"a", "b"}});
  EXPECT_EQ(token_strings(ab_first, tokenizer_encode(ab_first, "abc")), (V{"ab", "c"}));
  EXPECT_EQ(token_strings(bc_first, tokenizer_encode(bc_first, "abc")), (V{"a", "bc"}));
  // Ranks (b,c) 0, (a,b) 1, (a,bc) 2, (ab,c) 3: "abc" -> a bc -> abc through (a,bc); the
  // token "abc" got its id from merge 2 ((ab,c) reuses it).
  Tokenizer t = make_tok({{"b", "c"}, {"a", "b"}, {"a", "bc"}, {"ab", "c"}});
  EXPECT_EQ(token_strings(t, tokenizer_encode(t, "abc")), (V{"abc"}));
  EXPECT_EQ(t.bytes_to_id.at("abc"), 258);
  EXPECT_EQ(token_strings(t, tokenizer_encode(t, "abx")), (V{"ab", "x"}));
  // "abcab": (b,c) -> a bc a b; (a,b) -> a bc ab; (a,bc) -> abc ab.
  EXPECT_EQ(token_strings(t, tokenizer_encode(t, "abcab")), (V{"abc", "ab"}));
  // All occurrences of a pair merge left to right without overlap: "aaaaa" -> aa aa a ->
  // aaaa a.
  Tokenizer a = make_tok({{"a", "a"}, {"aa", "aa"}});
  EXPECT_EQ(token_strings(a, tokenizer_encode(a, "aaa")), (V{"aa", "a"}));
  EXPECT_EQ(token_strings(a, tokenizer_encode(a, "aaaaa")), (V{"aaaa", "a"}));
  // Merges never cross pre-tokenizer pieces: "aa aa" is "aa", " aa".
  EXPECT_EQ(token_strings(a, tokenizer_encode(a, "aa aa")), (V{"aa", " ", "aa"}));
}

// GPT-2's encoder.py bpe(), transcribed literally (lists of strings, min over pair ranks,
// one left-to-right pass per step), as a reference for the heap-based implementation.
std::vector<std::string> naive_bpe(const std::map<std::pair<std::string, std::string>, int>& ranks,
                                   const std::string& token) {
  std::vector<std::string> word;
  for (char c : token) word.push_back(std::string(1, c));
  while (word.size() > 1) {
    int best = -1;
    std::pair<std::string, std::string> bigram;
    for (size_t i = 0; i + 1 < word.size(); i++) {
      auto it = ranks.find({word[i], word[i + 1]});
      if (it != ranks.end() && (best < 0 || it->second < best)) {
        best = it->second;
        bigram = it->first;
      }
    }
    if (best < 0) break;
    std::vector<std::string> nw;
    size_t i = 0;
    while (i < word.size()) {
      auto j = std::find(word.begin() + i, word.end(), bigram.first);
      if (j == word.end()) {
        nw.insert(nw.end(), word.begin() + i, word.end());
        break;
      }
      nw.insert(nw.end(), word.begin() + i, j);
      i = j - word.begin();
      if (i + 1 < word.size() && word[i + 1] == bigram.second) {
        nw.push_back(bigram.first + bigram.second);
        i += 2;
      } else {
        nw.push_back(word[i]);
        i += 1;
      }
    }
    word = nw;
  }
  return word;
}

std::vector<std::string> naive_encode(const Tokenizer& t, const std::string& text) {
  std::map<std::pair<std::string, std::string>, int> ranks;
  for (size_t r = 0; r < t.merges.size(); r++) ranks.emplace(t.merges[r], int(r));
  std::vector<std::string> out;
  tokenizer_pretokenize(text, [&](std::string_view piece) {
    for (auto& s : naive_bpe(ranks, std::string(piece))) out.push_back(s);
  });
  return out;
}

TEST(TokenizerTest, BpeMatchesNaiveGpt2Reference) {
  std::mt19937 rng(11);
  // A trained tokenizer, and one with random merges in a shuffled (not BPE-trained) order.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string> toks = {"a", "b", "c", "d"};
  for (int i = 0; i < 60; i++) {
    std::string x = toks[rng() % toks.size()], y = toks[rng() % toks.size()];
    if (std::find(toks.begin(), toks.end(), x + y) != toks.end()) continue;
    merges.push_back({x, y});
    toks.push_back(x + y);
  }
  std::shuffle(merges.begin(), merges.end(), rng);
  Tokenizer shuffled = make_tok(merges);
  for (const Tokenizer* t : {&small_tok(), static_cast<const Tokenizer*>(&shuffled)}) {
    for (int i = 0; i < 300; i++) {
      std::string s;
      size_t len = i < 20 ? 3000 : 1 + rng() % 60;  // some very long single pieces
      for (size_t k = 0; k < len; k++) s += "abcd"[rng() % 4];
      if (i % 3 == 1) s = random_bytes(rng, 20);
      if (i % 3 == 2) s = corpus_text(i, 300);
      ASSERT_EQ(token_strings(*t, tokenizer_encode(*t, s)), naive_encode(*t, s)) << "case " << i;
    }
  }
}

TEST(TokenizerTest, TrainTieBreakAndLayout) {
  // Pieces "ab" and " cd": pairs (a,b), ( ,c), (c,d) all count 1. Ties go to the smallest
  // left bytes: ' ' (0x20) < 'a' < 'c', so ( ,c) first; then ( c,d) (" c" < "a"); then (a,b).
  Tokenizer t = tokenizer_train({"ab cd"}, 259 + 1, {kEndOfText});
  ASSERT_EQ(t.merges.size(), 3u);
  EXPECT_EQ(t.merges[0], (std::pair<std::string, std::string>{" ", "c"}));
  EXPECT_EQ(t.merges[1], (std::pair<std::string, std::string>{" c", "d"}));
  EXPECT_EQ(t.merges[2], (std::pair<std::string, std::string>{"a", "b"}));
  EXPECT_EQ(tokenizer_vocab_size(t), 260);
  for (int b = 0; b < 256; b++) EXPECT_EQ(t.id_to_bytes[b], std::string(1, char(b)));
  EXPECT_EQ(t.id_to_bytes[257], " cd");
  EXPECT_EQ(t.id_to_bytes[258], "ab");
  EXPECT_EQ(tokenizer_special_id(t, kEndOfText), 259);
  // Higher counts win over byte order: pieces "zz" x1, " zz" x2, " ab" x1 give (z,z) 3,
  // ( ,z) 2, ( ,a) 1, (a,b) 1.
  Tokenizer u = tokenizer_train({"zz zz zz ab"}, 258, {});
  ASSERT_EQ(u.merges.size(), 2u);
  EXPECT_EQ(u.merges[0], (std::pair<std::string, std::string>{"z", "z"}));
  EXPECT_EQ(u.merges[1], (std::pair<std::string, std::string>{" ", "zz"}));  // now count 2
}

TEST(TokenizerTest, TrainRejectsTinyVocab) {
  EXPECT_THROW(tokenizer_train({"abc"}, 257, {kEndOfText, kThinkOpen}), Error);
  EXPECT_NO_THROW(tokenizer_train({"abc"}, 258, {kEndOfText, kThinkOpen}));
}

TEST(TokenizerTest, TrainIsDeterministic) {
  std::vector<std::string> texts;
  for (int i = 0; i < 50; i++) texts.push_back(corpus_text(100 + i, 3000));
  Tokenizer a = tokenizer_train(texts, 800, kSpecials);
  Tokenizer b = tokenizer_train(texts, 800, kSpecials);
  std::vector<std::string> rev(texts.rbegin(), texts.rend());  // order must not matter
  Tokenizer c = tokenizer_train(rev, 800, kSpecials);
  EXPECT_EQ(a.id_to_bytes, b.id_to_bytes);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.id_to_bytes, c.id_to_bytes);
  EXPECT_EQ(a.merges, c.merges);
  EXPECT_EQ(a.specials, c.specials);
  EXPECT_EQ(tokenizer_vocab_size(a), 800);
}

TEST(TokenizerTest, TrainingCompresses) {
  const Tokenizer& t = small_tok();
  std::string held_out = corpus_text(99, 50000);
  size_t n = tokenizer_encode(t, held_out).size();
  EXPECT_LT(double(n), 0.45 * double(held_out.size())) << n << " tokens for "
                                                        << held_out.size() << " bytes";
}

TEST(TokenizerTest, NoDigitMergesKeepsOneTokenPerDigit) {
  std::string text;
  for (int i = 0; i < 300; i++) text += std::to_string(1000 + i * 37) + "+" + std::to_string(i) + "=x ";
  Tokenizer merged = tokenizer_train({text}, 400, {kEndOfText});
  Tokenizer split = tokenizer_train({text}, 400, {kEndOfText}, /*merge_digits=*/false);
  std::vector<int> ids = tokenizer_encode(split, "12345+678=x");
  EXPECT_EQ(tokenizer_decode(split, ids), "12345+678=x");
  int digit_tokens = 0;
  for (int id : ids) {
    std::string b = tokenizer_decode(split, &id, 1);
    if (b.find_first_of("0123456789") != std::string::npos) {
      EXPECT_EQ(b.size(), 1u) << "'" << b << "'";
      digit_tokens++;
    }
  }
  EXPECT_EQ(digit_tokens, 8);
  for (const auto& [l, r] : split.merges)
    EXPECT_EQ((l + r).find_first_of("0123456789"), std::string::npos);
  EXPECT_LT(tokenizer_encode(merged, "12345+678=x").size(), ids.size());
}

TEST(TokenizerTest, NamesAreOneTokenWherever) {
  Tokenizer t = tokenizer_names(3, {kEndOfText, kThinkOpen, kThinkClose});
  EXPECT_EQ(tokenizer_vocab_size(t), 256 + 676 + 17576 + 3);
  EXPECT_EQ(tokenizer_special_id(t, kThinkClose), 256 + 676 + 17576 + 2);
  std::mt19937 rng(5);
  std::set<int> ids;
  std::set<std::string> names;
  for (int i = 0; i < 3000; i++) {
    std::string name;
    for (int n = 1 + rng() % 3; n > 0; n--) name += char('a' + rng() % 26);
    std::vector<int> alone = tokenizer_encode(t, name);
    ASSERT_EQ(alone.size(), 1u) << name;
    EXPECT_EQ(tokenizer_decode(t, alone), name);
    ids.insert(alone[0]);
    names.insert(name);
    // the same single token after a space, after each separator of the path format, and
    // before one; the separators stay one byte token each
    for (const char* pre : {" ", ">", "<", ",", "|", "?", "=", "<think>"}) {
      std::vector<int> ctx = tokenizer_encode(t, std::string(pre) + name + ">", true);
      ASSERT_GE(ctx.size(), 3u);
      EXPECT_EQ(ctx[ctx.size() - 2], alone[0]) << "'" << pre << name << ">'";
      EXPECT_EQ(ctx.size(), (std::string(pre) == "<think>" ? 1u : std::strlen(pre)) + 2u);
    }
  }
  EXPECT_EQ(ids.size(), names.size());  // distinct names, distinct tokens
  EXPECT_EQ(tokenizer_encode(t, "ab").size(), 1u);
  EXPECT_EQ(tokenizer_encode(t, "abcd").size(), 2u);  // longer runs are split, still lossless
  EXPECT_EQ(tokenizer_encode(tokenizer_names(1, {kEndOfText}), "ab").size(), 2u);
  EXPECT_THROW(tokenizer_names(4, {}), Error);
}

TEST(TokenizerTest, DecodeRejectsBadIds) {
  const Tokenizer& t = small_tok();
  EXPECT_THROW(tokenizer_decode(t, std::vector<int>{1, -1}), Error);
  EXPECT_THROW(tokenizer_decode(t, std::vector<int>{tokenizer_vocab_size(t)}), Error);
  EXPECT_EQ(tokenizer_decode(t, std::vector<int>{}), "");
}

TEST(TokenizerTest, ByteLevelAlphabet) {
  EXPECT_EQ(byte_level_encode(" the\n"), "\xC4\xA0the\xC4\x8A");  // "Ġthe" + "Ċ"
  std::string all;
  for (int b = 0; b < 256; b++) all += char(b);
  std::string back;
  ASSERT_TRUE(byte_level_decode(byte_level_encode(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(byte_level_decode("a b", &back));       // space is not in the alphabet
  EXPECT_FALSE(byte_level_decode("\xFF", &back));      // not UTF-8
}

void expect_same(const Tokenizer& a, const Tokenizer& b) {
  EXPECT_EQ(a.id_to_bytes, b.id_to_bytes);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.specials, b.specials);
  EXPECT_EQ(a.is_special, b.is_special);
}

TEST(TokenizerTest, SaveLoadRoundTrip) {
  const Tokenizer& t = small_tok();
  std::string dir = testing::make_temp_dir();
  std::string file = dir + "/tokenizer.json";
  tokenizer_save(t, file);
  Tokenizer f = tokenizer_load(file);
  Tokenizer d = tokenizer_load(dir);
  expect_same(t, f);
  expect_same(t, d);
  std::mt19937 rng(3);
  for (int i = 0; i < 300; i++) {
    std::string s = random_bytes(rng, 30) + corpus_text(i, 100);
    EXPECT_EQ(tokenizer_encode(f, s, true), tokenizer_encode(t, s, true));
    EXPECT_EQ(tokenizer_encode(f, s, false), tokenizer_encode(t, s, false));
  }
  // The file has the Hugging Face GPT-2 layout.
  json j = json::parse(read_file(file));
  EXPECT_EQ(j["version"], "1.0");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["pre_tokenizer"]["add_prefix_space"], false);
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["model"]["vocab"]["\xC4\xA0"], int(' '));  // "Ġ" is byte 0x20 = id 32
  EXPECT_EQ(j["model"]["vocab"][kEndOfText], tokenizer_special_id(t, kEndOfText));
  EXPECT_EQ(j["model"]["merges"].size(), t.merges.size());
  ASSERT_EQ(j["added_tokens"].size(), 3u);
  EXPECT_EQ(j["added_tokens"][0]["content"], kEndOfText);
  EXPECT_EQ(j["added_tokens"][0]["special"], true);
  // Pair-style merges ([["a","b"], ...], newer tokenizers) load the same.
  for (auto& m : j["model"]["merges"]) {
    std::string s = m.get<std::string>();
    size_t sp = s.find(' ');
    m = json::array({s.substr(0, sp), s.substr(sp + 1)});
  }
  write_file_atomic(dir + "/pairs.json", j.dump());
  expect_same(t, tokenizer_load(dir + "/pairs.json"));
  std::filesystem::remove_all(dir);
}

TEST(TokenizerTest, LoadGpt2VocabAndMerges) {
  const Tokenizer& t = small_tok();
  std::string dir = testing::make_temp_dir();
  json vocab = json::object();
  for (size_t id = 0; id < t.id_to_bytes.size(); id++)
    if (!t.is_special[id]) vocab[byte_level_encode(t.id_to_bytes[id])] = id;
  int n_ordinary = int(t.id_to_bytes.size() - t.specials.size());  // specials are last
  vocab[kEndOfText] = n_ordinary;
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : t.merges) merges += byte_level_encode(a) + " " + byte_level_encode(b) + "\n";
  write_file_atomic(dir + "/vocab.json", vocab.dump());
  write_file_atomic(dir + "/merges.txt", merges);
  Tokenizer g = tokenizer_load(dir);
  EXPECT_EQ(g.merges, t.merges);
  EXPECT_EQ(tokenizer_special_id(g, kEndOfText), n_ordinary);
  std::string s = corpus_text(5, 5000) + "<|endoftext|>" + corpus_text(6, 100);
  std::vector<int> ids = tokenizer_encode(g, s, true);
  EXPECT_EQ(tokenizer_decode(g, ids), s);
  EXPECT_EQ(token_strings(g, ids), token_strings(t, tokenizer_encode(t, s, true)));
  std::filesystem::remove_all(dir);
}

// Expects tokenizer_load(path) to throw Error whose message names `name` and holds `what`.
void expect_load_error(const std::string& path, const std::string& name,
                       const std::string& what) {
  try {
    tokenizer_load(path);
    ADD_FAILURE() << "no error loading " << path << " (expected: " << what << ")";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(TokenizerTest, LoadErrorsNameTheFile) {
  std::string dir = testing::make_temp_dir();
  std::string good = dir + "/good.json";
  tokenizer_save(make_tok({{"a", "b"}, {"ab", "c"}}, {kEndOfText}), good);
  json base = json::parse(read_file(good));
  int n = int(base["model"]["vocab"].size());
  auto write_variant = [&](const std::string& name, const std::function<void(json&)>& edit) {
    json j = base;
    edit(j);
    write_file_atomic(dir + "/" + name, j.dump());
    return dir + "/" + name;
  };
  write_file_atomic(dir + "/notjson.json", "{\"model\": [1, 2");
  expect_load_error(dir + "/notjson.json", "notjson.json", "invalid JSON");
  expect_load_error(write_variant("nomodel.json", [](json& j) { j.erase("model"); }),
                    "nomodel.json", "model");
  expect_load_error(write_variant("novocab.json", [](json& j) { j["model"].erase("vocab"); }),
                    "novocab.json", "model.vocab");
  expect_load_error(write_variant("nomerges.json", [](json& j) { j["model"].erase("merges"); }),
                    "nomerges.json", "model.merges");
  expect_load_error(
      write_variant("wordpiece.json", [](json& j) { j["model"]["type"] = "WordPiece"; }),
      "wordpiece.json", "not supported");
  expect_load_error(write_variant("unknown.json",
                                  [](json& j) { j["model"]["merges"].push_back("ab zq"); }),
                    "unknown.json", "unknown token 'zq'");
  expect_load_error(write_variant("badmerge.json",
                                  [](json& j) { j["model"]["merges"].push_back("abc"); }),
                    "badmerge.json", "two tokens");
  expect_load_error(write_variant("dupid.json", [](json& j) { j["model"]["vocab"]["zz"] = 7; }),
                    "dupid.json", "duplicate id 7");
  expect_load_error(write_variant("gap.json", [n](json& j) { j["model"]["vocab"]["zz"] = n + 3; }),
                    "gap.json", "not contiguous");
  expect_load_error(write_variant("alphabet.json", [](json& j) { j["model"]["vocab"]["a b"] = j["model"]["vocab"].size(); }),
                    "alphabet.json", "outside GPT-2's byte-level alphabet");
  expect_load_error(write_variant("badid.json", [](json& j) { j["model"]["vocab"]["zz"] = "x"; }),
                    "badid.json", "non-integer id");
  expect_load_error(write_variant("pretok.json", [](json& j) { j["pre_tokenizer"] = nullptr; }),
                    "pretok.json", "pre_tokenizer");
  expect_load_error(dir + "/missing.json", "missing.json", "cannot open");

  // Directories: nothing usable; vocab.json + merges.txt problems.
  std::string empty = dir + "/empty";
  make_dirs(empty);
  expect_load_error(empty, "empty", "neither tokenizer.json nor vocab.json");
  std::string g = dir + "/gpt2";
  make_dirs(g);
  json vocab = json::object();
  for (int b = 0; b < 256; b++) vocab[byte_level_encode(std::string(1, char(b)))] = b;
  vocab["ab"] = 256;
  vocab[kEndOfText] = 257;
  write_file_atomic(g + "/vocab.json", vocab.dump());
  write_file_atomic(g + "/merges.txt", "#version: 0.2\na b\nab q\n");
  expect_load_error(g, "merges.txt", "line 3 makes 'abq'");
  write_file_atomic(g + "/merges.txt", "#version: 0.2\na b\nx \xC4\xB0\xC4\xB0\n");
  expect_load_error(g, "merges.txt", "not in vocab.json");
  write_file_atomic(g + "/merges.txt", "a b\n");
  EXPECT_EQ(tokenizer_load(g).merges.size(), 1u);  // no #version line is fine too
  write_file_atomic(g + "/vocab.json", "[1, 2]");
  expect_load_error(g, "vocab.json", "expected a JSON object");
  vocab["cd"] = 256;
  write_file_atomic(g + "/vocab.json", vocab.dump());
  expect_load_error(g, "vocab.json", "duplicate id 256");
  std::filesystem::remove_all(dir);
}

TEST(TokenizerTest, EncodeFromManyThreads) {
  const Tokenizer& t = small_tok();
  std::vector<std::string> texts;
  std::vector<std::vector<int>> want;
  std::mt19937 rng(21);
  for (int i = 0; i < 8; i++) {
    texts.push_back(corpus_text(500 + i, 20000) + random_bytes(rng, 200) + "<|endoftext|>");
    want.push_back(tokenizer_encode(t, texts.back(), true));
  }
  std::vector<std::vector<int>> got(texts.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < texts.size(); i++)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 5; rep++) got[i] = tokenizer_encode(t, texts[i], true);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(got, want);
}

TEST(TokenizerTest, LargeTextRoundTrip) {
  const Tokenizer& t = small_tok();
  std::string text = corpus_text(1234, 2 << 20);
  std::vector<int> ids = tokenizer_encode(t, text);
  EXPECT_LT(ids.size(), text.size());
  EXPECT_EQ(tokenizer_decode(t, ids), text);
}

}  // namespace
}  // namespace softslm
