// Byte-level BPE encoding and decoding: merges applied by rank exactly like GPT-2's encoder.py
// (repeatedly take the adjacent pair with the lowest merge rank and merge all its occurrences
// left to right), with a per-call cache of piece -> ids.
#include <algorithm>
#include <climits>
#include <cstring>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

std::string merge_key(std::string_view a, std::string_view b) {
  std::string k;
  k.reserve(a.size() + b.size() + 1);
  k.append(a).push_back('\0');
  k.append(b);
  return k;
}

// Printable form of raw token bytes for error messages (GPT-2's byte alphabet).
std::string show(std::string_view raw) {
  std::string s(1, '\'');
  s += byte_level_encode(raw);
  s += '\'';
  return s;
}

// Transparent hashing so the cache can be probed with string_view pieces (no allocation).
struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// State for one tokenizer_encode call: scratch buffers and the piece -> ids cache.
struct Encoder {
  const Tokenizer& tok;
  int byte_id[256];  // id of each single-byte token
  // piece -> (offset, count) into cache_ids
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>, SvHash, std::equal_to<>> cache;
  std::vector<int> cache_ids;
  // BPE scratch for one piece of n bytes (see bpe()).
  std::vector<int> nxt, prv;                  // [n] next / previous part (n / -1 at the ends)
  std::vector<uint8_t> alive;                 // [n] 0 once a part was absorbed by its left
  std::vector<std::pair<int, int>> heap;      // min-heap of (merge rank, left part)
  std::vector<int> batch, merged;             // parts of this step's pairs / merged parts
  std::string key;

  explicit Encoder(const Tokenizer& t) : tok(t) {
    for (int b = 0; b < 256; b++) {
      auto it = tok.bytes_to_id.find(std::string(1, char(b)));
      if (it == tok.bytes_to_id.end())
        fail("tokenizer: vocabulary lacks the byte token ", show(std::string(1, char(b))));
      byte_id[b] = it->second;
    }
  }

  // Merge rank of the adjacent parts a, b, or INT_MAX. The rank found through merge_rank's
  // key (a + '\0' + b) is confirmed against merges[rank], since keys of tokens holding NUL
  // bytes could collide.
  int rank_of(std::string_view a, std::string_view b) {
    key.assign(a).push_back('\0');
    key.append(b);
    auto it = tok.merge_rank.find(key);
    if (it == tok.merge_rank.end()) return INT_MAX;
    const auto& m = tok.merges[it->second];
    return (m.first == a && m.second == b) ? it->second : INT_MAX;
  }

  // Appends the ids of one pre-tokenizer piece. Parts are kept in a linked list, each named
  // by the offset of its first byte: part k = piece[k, nxt[k]). A min-heap holds (rank, k) for
  // adjacent pairs; each step takes every pair of the lowest rank r (what GPT-2 finds with
  // min()) and merges them left to right, skipping overlaps and stale entries, exactly like
  // GPT-2's pass over the word, then pushes the pairs formed by the new parts. A new pair
  // never has rank r (it holds a longer token), so one step is one GPT-2 iteration, and long
  // pieces cost O(n log n) rather than O(n^2).
  void bpe(std::string_view piece, std::vector<int>& out) {
    int n = int(piece.size());
    nxt.resize(n);
    prv.resize(n);
    alive.assign(n, 1);
    heap.clear();
    for (int k = 0; k < n; k++) {
      nxt[k] = k + 1;
      prv[k] = k - 1;
    }
    auto part = [&](int k) { return piece.substr(k, nxt[k] - k); };
    auto push = [&](int k) {  // the pair (k, nxt[k])
      int r = rank_of(part(k), part(nxt[k]));
      if (r == INT_MAX) return;
      heap.push_back({r, k});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    };
    for (int k = 0; k + 1 < n; k++) push(k);
    while (!heap.empty()) {
      int r = heap.front().first;
      batch.clear();
      while (!heap.empty() && heap.front().first == r) {  // pops in increasing k
        std::pop_heap(heap.begin(), heap.end(), std::greater<>());
        batch.push_back(heap.back().second);
        heap.pop_back();
      }
      const auto& m = tok.merges[r];
      merged.clear();
      for (size_t i = 0; i < batch.size(); i++) {
        int k = batch[i];
        if ((i > 0 && batch[i - 1] == k) || !alive[k] || nxt[k] >= n) continue;
        int q = nxt[k];
        if (part(k) != m.first || part(q) != m.second) continue;  // stale entry
        alive[q] = 0;  // k absorbs q
        nxt[k] = nxt[q];
        if (nxt[q] < n) prv[nxt[q]] = k;
        merged.push_back(k);
      }
      for (int k : merged) {
        if (prv[k] >= 0) push(prv[k]);
        if (nxt[k] < n) push(k);
      }
    }
    for (int k = 0; k < n; k = nxt[k]) {
      std::string_view p = part(k);
      if (p.size() == 1) {
        out.push_back(byte_id[uint8_t(p[0])]);
        continue;
      }
      key.assign(p);
      auto it = tok.bytes_to_id.find(key);
      if (it == tok.bytes_to_id.end()) fail("tokenizer: merge result ", show(p), " not in vocab");
      out.push_back(it->second);
    }
  }

  void encode_ordinary(std::string_view text, std::vector<int>& out) {
    tokenizer_pretokenize(text, [&](std::string_view piece) {
      if (piece.size() == 1) {
        out.push_back(byte_id[uint8_t(piece[0])]);
        return;
      }
      auto it = cache.find(piece);
      if (it != cache.end()) {
        out.insert(out.end(), cache_ids.begin() + it->second.first,
                   cache_ids.begin() + it->second.first + it->second.second);
        return;
      }
      size_t before = out.size();
      bpe(piece, out);
      if (cache.size() >= (1u << 20)) {  // bound memory on huge inputs
        cache.clear();
        cache_ids.clear();
      }
      cache.emplace(std::string(piece),
                    std::make_pair(uint32_t(cache_ids.size()), uint32_t(out.size() - before)));
      cache_ids.insert(cache_ids.end(), out.begin() + before, out.end());
    });
  }
};

}  // namespace

void tokenizer_build_index(Tokenizer& tok, const std::string& where) {
  size_t n = tok.id_to_bytes.size();
  tok.is_special.assign(n, 0);
  for (const auto& [content, id] : tok.specials) {
    if (content.empty()) fail(where, ": empty special token (id ", id, ")");
    if (id < 0 || size_t(id) >= n)
      fail(where, ": special token ", show(content), " has id ", id, " outside 0..", n - 1);
    if (tok.is_special[id]) fail(where, ": id ", id, " is used by two special tokens");
    if (tok.id_to_bytes[id] != content)
      fail(where, ": special token ", show(content), " differs from token ", id, " ",
           show(tok.id_to_bytes[id]));
    tok.is_special[id] = 1;
  }
  tok.bytes_to_id.clear();
  tok.bytes_to_id.reserve(n);
  for (size_t id = 0; id < n; id++) {
    if (tok.is_special[id]) continue;
    const std::string& b = tok.id_to_bytes[id];
    if (b.empty()) fail(where, ": token ", id, " is empty");
    auto [it, fresh] = tok.bytes_to_id.emplace(b, int(id));
    if (!fresh) fail(where, ": tokens ", it->second, " and ", id, " are both ", show(b));
  }
  for (int b = 0; b < 256; b++)
    if (!tok.bytes_to_id.count(std::string(1, char(b))))
      fail(where, ": vocabulary lacks the single-byte token ", show(std::string(1, char(b))));
  tok.merge_rank.clear();
  tok.merge_rank.reserve(tok.merges.size());
  for (size_t r = 0; r < tok.merges.size(); r++) {
    const auto& [a, b] = tok.merges[r];
    for (const std::string* s : {&a, &b})
      if (!tok.bytes_to_id.count(*s))
        fail(where, ": merge ", r, " (", show(a), " ", show(b), ") references unknown token ",
             show(*s));
    if (!tok.bytes_to_id.count(a + b))
      fail(where, ": merge ", r, " (", show(a), " ", show(b), ") makes ", show(a + b),
           " which is not an ordinary token");
    tok.merge_rank.emplace(merge_key(a, b), int(r));  // a repeated pair keeps its lowest rank
  }
}

std::vector<int> tokenizer_encode(const Tokenizer& tok, std::string_view text,
                                  bool allow_special) {
  Encoder enc(tok);
  std::vector<int> out;
  out.reserve(text.size() / 3 + 16);
  if (allow_special && !tok.specials.empty()) {
    for (const TextSegment& seg : tokenizer_split_specials(tok, text)) {
      if (seg.special_id >= 0)
        out.push_back(seg.special_id);
      else
        enc.encode_ordinary(seg.text, out);
    }
  } else {
    enc.encode_ordinary(text, out);
  }
  return out;
}

std::string tokenizer_decode(const Tokenizer& tok, const int* ids, size_t n) {
  std::string out;
  size_t vocab = tok.id_to_bytes.size();
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || size_t(ids[i]) >= vocab)
      fail("tokenizer_decode: id ", ids[i], " at position ", i, " outside vocabulary 0..",
           vocab - 1);
    out += tok.id_to_bytes[ids[i]];
  }
  return out;
}

int tokenizer_vocab_size(const Tokenizer& tok) { return int(tok.id_to_bytes.size()); }

int tokenizer_special_id(const Tokenizer& tok, std::string_view content) {
  for (const auto& [c, id] : tok.specials)
    if (c == content) return id;
  return -1;
}

}  // namespace softslm
