// Byte-level BPE tokenizer compatible with GPT-2 (pre-tokenizer regex, byte<->unicode map,
// merge ranks) plus added special tokens (<|endoftext|>, <think>, </think>, ...).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace softslm {

struct Tokenizer {
  std::vector<std::string> id_to_bytes;                  // [vocab] raw bytes of each token
  std::unordered_map<std::string, int> bytes_to_id;      // raw bytes -> id (ordinary tokens)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order, raw bytes
  std::unordered_map<std::string, int> merge_rank;       // key: left + '\0' + right (raw bytes)
  std::vector<std::pair<std::string, int>> specials;     // added special tokens: content, id
  std::vector<uint8_t> is_special;                       // [vocab] 1 for special ids
};

// Loads a tokenizer from: a tokenizer.json file, a directory holding tokenizer.json, or a
// directory holding vocab.json + merges.txt (GPT-2's own files). Throws Error naming the file.
Tokenizer tokenizer_load(const std::string& path);
// Parses tokenizer.json text in memory; `where` names the source in messages.
Tokenizer tokenizer_parse_json(const std::string& text, const std::string& where);
// Writes Hugging Face tokenizers' tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE
// model with vocab and merges, added special tokens). Atomic.
void tokenizer_save(const Tokenizer& tok, const std::string& path);

// Trains a byte-level BPE vocabulary of vocab_size ids (256 byte tokens + merges + specials)
// from the given texts; deterministic. merge_digits = false learns no merge whose result holds
// an ASCII digit, so numbers stay one token per digit (for arithmetic tasks); the files stay
// plain GPT-2 BPE (the merges are simply absent). Stops early when no pair is left to merge.
Tokenizer tokenizer_train(const std::vector<std::string>& texts, int vocab_size,
                          const std::vector<std::string>& special_tokens,
                          bool merge_digits = true);

// A fixed vocabulary for node names (the path task): 256 byte tokens (one-letter names among
// them), then one token for every lowercase name of 2..max_len letters (max_len in 1..3; 3 adds
// 676 + 17,576), then the specials: 256 + 18,252 + 3 = 18,511 ids for max_len 3. Only letters merge, never a space with a letter,
// so a name is the same single token wherever it stands (" ab" is " " + "ab", ">ab" is ">" +
// "ab"); every other character is one byte token. The files are plain GPT-2 BPE.
Tokenizer tokenizer_names(int max_len, const std::vector<std::string>& special_tokens);

// Encodes text. With allow_special, exact occurrences of special-token strings become their
// single ids; without it, special strings are encoded as ordinary text (never special ids).
std::vector<int> tokenizer_encode(const Tokenizer& tok, std::string_view text,
                                  bool allow_special = false);
// Decodes ids to raw bytes (special tokens decode to their content). Throws on bad ids.
std::string tokenizer_decode(const Tokenizer& tok, const int* ids, size_t n);
inline std::string tokenizer_decode(const Tokenizer& tok, const std::vector<int>& ids) {
  return tokenizer_decode(tok, ids.data(), ids.size());
}
int tokenizer_vocab_size(const Tokenizer& tok);
// Id of a special token, or -1 when the vocabulary lacks it.
int tokenizer_special_id(const Tokenizer& tok, std::string_view content);

// ---- Building blocks (used by the tokenizer files; also handy for tools and tests) ----
//
// Design notes:
// * Byte ids: a trained tokenizer uses plain byte order, id b (0..255) = the single byte b.
//   Loaded files keep their own ids (GPT-2's vocab.json starts with '!' = byte 33 at id 0).
// * Invalid UTF-8: text is split into maximal valid UTF-8 runs and invalid bytes; the GPT-2 regex
//   runs on each valid run, and every invalid byte is a piece of its own. So encode/decode is
//   lossless for any byte string, and valid UTF-8 text is split exactly as GPT-2 splits it.
// * The regex spells GPT-2's \s as \p{White_Space} (what Python's `regex` module matches);
//   PCRE2's own \s under UCP would also match U+180E.

// GPT-2's byte<->unicode alphabet (bytes_to_unicode) that vocab.json, merges.txt and
// tokenizer.json use to store tokens: every raw byte maps to one printable code point.
// byte_level_encode: raw bytes -> UTF-8 text in that alphabet.
std::string byte_level_encode(std::string_view raw);
// Inverse of byte_level_encode; false when text is not valid UTF-8 or holds a code point
// outside the alphabet.
bool byte_level_decode(std::string_view text, std::string* raw);

// Calls fn(piece) for each pre-tokenizer piece of text, in order (GPT-2's regex on valid UTF-8
// runs, one piece per invalid byte). The pieces concatenate back to text.
void tokenizer_pretokenize(std::string_view text,
                           const std::function<void(std::string_view)>& fn);

// A stretch of text: ordinary text (special_id == -1) or one special token occurrence.
struct TextSegment {
  std::string_view text;
  int special_id;
};
// Splits text at exact occurrences of tok.specials' contents (leftmost first; among specials
// starting at the same byte, the longest). Segments concatenate back to text.
std::vector<TextSegment> tokenizer_split_specials(const Tokenizer& tok, std::string_view text);

// Fills bytes_to_id, merge_rank and is_special from id_to_bytes, merges and specials, and checks
// them: special ids in range with matching bytes, ordinary tokens unique, all 256 single bytes
// present, every merge's parts and result ordinary tokens. Errors start with `where`.
void tokenizer_build_index(Tokenizer& tok, const std::string& where);

inline constexpr const char* kEndOfText = "<|endoftext|>";
inline constexpr const char* kThinkOpen = "<think>";
inline constexpr const char* kThinkClose = "</think>";

}  // namespace softslm
