// Byte-level BPE training.
//
// 1. Texts are split at special-token occurrences (those stretches are skipped) and
//    pre-tokenized with GPT-2's regex; unique pieces are counted once ("words" with counts).
// 2. Adjacent symbol pairs are counted over the words (count * word frequency), with an index
//    pair -> words containing it and a max-heap of (count, pair) with lazy invalidation.
// 3. Each step merges the best pair (highest count; ties: smallest left token bytes, then
//    smallest right token bytes) in the words that hold it, updating pair counts incrementally.
//    Since specials are cut out of the texts, no piece contains a special's content and no
//    merge can build it; a guard still skips such a merge, so tokenizer.json can always list
//    ordinary tokens and specials side by side in model.vocab.
// Ids: 0..255 = single bytes in plain byte order, then merge results in merge order (a merge
// whose result already exists, reached by another path, reuses that id), then the specials.
#include <algorithm>
#include <queue>
#include <unordered_set>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

using PairKey = uint64_t;  // (left id << 32) | right id
PairKey pair_key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int pair_left(PairKey k) { return int(k >> 32); }
int pair_right(PairKey k) { return int(k & 0xFFFFFFFFu); }

struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Word {
  std::vector<int> syms;  // current token ids of this unique piece
  int64_t freq;           // occurrences of the piece in the corpus
};

struct HeapEntry {
  int64_t count;
  PairKey pair;
};

struct Trainer {
  std::vector<std::string> id_to_bytes;
  std::vector<Word> words;
  std::unordered_map<PairKey, int64_t> pair_count;
  std::unordered_map<PairKey, std::vector<int>> pair_words;  // may hold stale/duplicate entries

  // Heap order: a below b when a has the lower count, or the same count and larger bytes.
  bool heap_less(const HeapEntry& a, const HeapEntry& b) const {
    if (a.count != b.count) return a.count < b.count;
    int c = id_to_bytes[pair_left(a.pair)].compare(id_to_bytes[pair_left(b.pair)]);
    if (c != 0) return c > 0;
    return id_to_bytes[pair_right(a.pair)] > id_to_bytes[pair_right(b.pair)];
  }

  // Rewrites word w with every (a, b) occurrence replaced by c (left to right, no overlaps)
  // and adds the change in its pair counts to delta. Returns false when the word lacks (a, b).
  bool merge_word(int w, int a, int b, int c, std::unordered_map<PairKey, int64_t>& delta) {
    std::vector<int>& s = words[w].syms;
    bool found = false;
    for (size_t i = 0; i + 1 < s.size(); i++)
      if (s[i] == a && s[i + 1] == b) {
        found = true;
        break;
      }
    if (!found) return false;
    int64_t f = words[w].freq;
    for (size_t i = 0; i + 1 < s.size(); i++) delta[pair_key(s[i], s[i + 1])] -= f;
    std::vector<int> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
        out.push_back(c);
        i += 2;
      } else {
        out.push_back(s[i]);
        i += 1;
      }
    }
    s.swap(out);
    for (size_t i = 0; i + 1 < s.size(); i++) {
      PairKey k = pair_key(s[i], s[i + 1]);
      delta[k] += f;
      if (s[i] == c || s[i + 1] == c) pair_words[k].push_back(w);
    }
    return true;
  }
};

}  // namespace

Tokenizer tokenizer_train(const std::vector<std::string>& texts, int vocab_size,
                          const std::vector<std::string>& special_tokens, bool merge_digits) {
  int n_special = int(special_tokens.size());
  if (vocab_size < 256 + n_special)
    fail("tokenizer_train: vocab_size ", vocab_size, " is below 256 byte tokens + ", n_special,
         " special tokens");
  constexpr int kMaxVocab = 1 << 20;  // 20x GPT-2's; tables of this size still fit easily
  if (vocab_size > kMaxVocab)
    fail("tokenizer_train: vocab_size ", vocab_size, " is above the limit of ", kMaxVocab);
  std::unordered_set<std::string> special_set;
  Tokenizer splitter;  // only its specials are used, to split the texts
  for (const std::string& s : special_tokens) {
    if (s.empty()) fail("tokenizer_train: empty special token");
    if (!special_set.insert(s).second) fail("tokenizer_train: special token '", s, "' repeated");
    splitter.specials.push_back({s, 0});
  }

  // 1. Unique pieces with their frequencies.
  std::unordered_map<std::string, int64_t, SvHash, std::equal_to<>> piece_count;
  auto count_piece = [&](std::string_view piece) {
    auto it = piece_count.find(piece);
    if (it != piece_count.end())
      it->second++;
    else
      piece_count.emplace(std::string(piece), 1);
  };
  for (const std::string& text : texts) {
    for (const TextSegment& seg : tokenizer_split_specials(splitter, text))
      if (seg.special_id < 0) tokenizer_pretokenize(seg.text, count_piece);
  }
  std::vector<std::pair<std::string, int64_t>> pieces(piece_count.begin(), piece_count.end());
  piece_count.clear();
  std::sort(pieces.begin(), pieces.end());  // deterministic word order

  Trainer tr;
  tr.id_to_bytes.reserve(vocab_size);
  for (int b = 0; b < 256; b++) tr.id_to_bytes.push_back(std::string(1, char(b)));
  for (auto& [bytes, freq] : pieces) {
    if (bytes.size() < 2) continue;  // no pairs to merge
    Word w{{}, freq};
    for (unsigned char ch : bytes) w.syms.push_back(ch);
    tr.words.push_back(std::move(w));
  }
  pieces.clear();

  // 2. Initial pair counts, word index and heap.
  for (int w = 0; w < int(tr.words.size()); w++) {
    const Word& word = tr.words[w];
    for (size_t i = 0; i + 1 < word.syms.size(); i++) {
      PairKey k = pair_key(word.syms[i], word.syms[i + 1]);
      tr.pair_count[k] += word.freq;
      auto& list = tr.pair_words[k];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }
  auto cmp = [&tr](const HeapEntry& a, const HeapEntry& b) { return tr.heap_less(a, b); };
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, decltype(cmp)> heap(cmp);
  for (const auto& [k, c] : tr.pair_count) heap.push({c, k});

  // 3. Merge loop.
  Tokenizer tok;
  std::unordered_map<std::string, int> ordinary;  // bytes -> id of tokens made so far
  for (int b = 0; b < 256; b++) ordinary.emplace(tr.id_to_bytes[b], b);
  int target = vocab_size - n_special;
  while (int(tr.id_to_bytes.size()) < target && !heap.empty()) {
    HeapEntry top = heap.top();
    heap.pop();
    auto cit = tr.pair_count.find(top.pair);
    if (cit == tr.pair_count.end() || cit->second != top.count || top.count <= 0) continue;
    int a = pair_left(top.pair), b = pair_right(top.pair);
    std::string merged = tr.id_to_bytes[a] + tr.id_to_bytes[b];
    if (special_set.count(merged)) continue;  // never build a special's bytes (see top)
    if (!merge_digits && merged.find_first_of("0123456789") != std::string::npos) continue;
    int c;
    auto oit = ordinary.find(merged);
    if (oit != ordinary.end()) {
      c = oit->second;
    } else {
      c = int(tr.id_to_bytes.size());
      tr.id_to_bytes.push_back(merged);
      ordinary.emplace(merged, c);
    }
    tok.merges.push_back({tr.id_to_bytes[a], tr.id_to_bytes[b]});

    std::vector<int> ws = std::move(tr.pair_words[top.pair]);
    tr.pair_words.erase(top.pair);
    std::sort(ws.begin(), ws.end());
    ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
    std::unordered_map<PairKey, int64_t> delta;
    for (int w : ws) tr.merge_word(w, a, b, c, delta);
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      int64_t& cnt = tr.pair_count[k];
      cnt += d;
      if (cnt > 0) {
        heap.push({cnt, k});
      } else {
        tr.pair_count.erase(k);
      }
    }
  }

  // 4. Specials take the last ids.
  tok.id_to_bytes = std::move(tr.id_to_bytes);
  for (const std::string& s : special_tokens) {
    tok.specials.push_back({s, int(tok.id_to_bytes.size())});
    tok.id_to_bytes.push_back(s);
  }
  tokenizer_build_index(tok, "tokenizer_train");
  return tok;
}

}  // namespace softslm

namespace softslm {

Tokenizer tokenizer_names(int max_len, const std::vector<std::string>& special_tokens) {
  check(max_len >= 1 && max_len <= 3, "tokenizer_names: name length ", max_len,
        " is outside 1..3");
  Tokenizer tok;
  for (int b = 0; b < 256; b++) tok.id_to_bytes.push_back(std::string(1, char(b)));
  // merges in rank order: every 2-letter name, then every 3-letter one built from the pair
  // that BPE merges first in it (the lower-ranked of its two 2-letter pairs)
  std::unordered_map<std::string, int> rank2;
  auto add = [&](const std::string& l, const std::string& r) {
    tok.merges.push_back({l, r});
    tok.id_to_bytes.push_back(l + r);
  };
  for (char x = 'a'; max_len >= 2 && x <= 'z'; x++)
    for (char y = 'a'; y <= 'z'; y++) {
      rank2[std::string{x, y}] = (int)tok.merges.size();
      add(std::string(1, x), std::string(1, y));
    }
  for (char x = 'a'; max_len >= 3 && x <= 'z'; x++)
    for (char y = 'a'; y <= 'z'; y++)
      for (char z = 'a'; z <= 'z'; z++) {
        if (rank2[std::string{x, y}] <= rank2[std::string{y, z}])  // a tie merges leftmost
          add(std::string{x, y}, std::string(1, z));
        else
          add(std::string(1, x), std::string{y, z});
      }
  std::unordered_set<std::string> seen;
  for (const std::string& s : special_tokens) {
    check(!s.empty() && seen.insert(s).second, "tokenizer_names: special token '", s,
          "' empty or repeated");
    tok.specials.push_back({s, int(tok.id_to_bytes.size())});
    tok.id_to_bytes.push_back(s);
  }
  tokenizer_build_index(tok, "tokenizer_names");
  return tok;
}

}  // namespace softslm
