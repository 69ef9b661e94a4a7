// Byte-level BPE tokenizer compatible with GPT-2 (pre-tokenizer regex, byte<->unicode map,
// merge ranks) plus added special tokens (<|endoftext|>, <think>, </think>, ...).
#pragma once
#include <cstdint>
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
// Writes Hugging Face tokenizers' tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE
// model with vocab and merges, added special tokens). Atomic.
void tokenizer_save(const Tokenizer& tok, const std::string& path);

// Trains a byte-level BPE vocabulary of vocab_size ids (256 byte tokens + merges + specials)
// from the given texts; deterministic.
Tokenizer tokenizer_train(const std::vector<std::string>& texts, int vocab_size,
                          const std::vector<std::string>& special_tokens);

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

inline constexpr const char* kEndOfText = "<|endoftext|>";
inline constexpr const char* kThinkOpen = "<think>";
inline constexpr const char* kThinkClose = "</think>";

}  // namespace softslm
