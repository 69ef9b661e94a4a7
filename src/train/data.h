// Training data: documents from text / JSONL files, a tokenized cache, train/val splits and
// deterministic batches.
//
// Documents. A text file is one document (the whole file). A JSONL file holds one document
// per non-empty line: {"text": ...} or {"prompt": ..., "completion": ...} (text = prompt +
// completion), optionally with "steps" (an array of strings) and "soft_targets" (an array of
// objects {token text: weight}), which only the structured recipes read (train/examples.h);
// other keys are ignored. Every document is followed by <|endoftext|>. Special-token strings in the data
// (<|endoftext|>, <think>, </think>) become their special ids. With completion_only_loss the
// loss mask covers only completion tokens and the closing <|endoftext|> ("text" documents and
// text files are all completion).
//
// Cache. The token stream of a file list is cached in a binary file (see data_load_stream):
//   "SSLMTOK1" | u32 version | u64 key | u64 n_tokens | u64 n_docs
//   | i32 tokens[n_tokens] | u8 mask[n_tokens] | u64 doc_ends[n_docs]
// The key hashes the file contents, their resolved formats, completion_only_loss and the
// tokenizer (vocabulary, merges, specials); a cache with another key is rebuilt. Atomic writes.
//
// Split. Without data.val, the held-out set is the last val_fraction of the documents when there
// are at least 2 documents and that fraction rounds to >= 1 document; otherwise the last
// val_fraction of the token stream (a single long file).
//
// Batches (training). The stream is cut into chunks of seq_len + 1 tokens that overlap by one
// token (chunk i starts at shift + i * seq_len); each epoch draws a new shift in [0, seq_len)
// and a Fisher-Yates permutation of the chunks from the sampler's RNG, and batches take the
// next batch_size chunks of the permutation (wrapping into the next epoch). The sampler's state
// (RNG state at the epoch start, epoch, cursor) is saved with checkpoints.
// Evaluation uses eval_batches * batch_size fixed windows evenly spaced over the val stream.
// Targets are the next tokens, -1 where the target's loss mask is off.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/rng.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

struct TrainConfig;

struct Document {
  std::string prompt;      // no loss under completion_only_loss
  std::string completion;  // the text / completion
  // optional JSONL fields that the structured recipes read (train/examples.h):
  std::vector<std::string> steps;  // "steps": the chain of thought cut into reasoning steps
  // "soft_targets": per thinking position, a target distribution {token text: weight > 0}
  std::vector<std::vector<std::pair<std::string, double>>> soft_targets;
  std::string where;  // file:line of a JSONL document, the file of a text file
};

// "text" or "jsonl" for a file under data.format (auto: *.jsonl and *.json are JSONL).
std::string data_file_format(const std::string& path, const std::string& format);
// Reads a file's documents. JSONL errors name file:line.
std::vector<Document> data_read_documents(const std::string& path, const std::string& format);
// The same on file text in memory; format is "text" or "jsonl" (resolved, see data_file_format),
// `where` names the source in messages (as path does).
std::vector<Document> data_parse_documents(const std::string& text, const std::string& format,
                                           const std::string& where);

struct TokenStream {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> mask;       // [tokens] 1 = counts in the loss as a target
  std::vector<uint64_t> doc_ends;  // end offset (exclusive) of each document
  bool from_cache = false;         // loaded from an up-to-date cache (nothing re-tokenized)
};

// Tokenizes documents (each followed by <|endoftext|>) into a stream.
TokenStream data_tokenize(const Tokenizer& tok, const std::vector<Document>& docs,
                          bool completion_only_loss);
// Hash of a tokenizer's vocabulary, merges and specials.
uint64_t tokenizer_hash(const Tokenizer& tok);

// Tokenized stream of `files`, through the cache file `cache_path` ("" = no cache).
TokenStream data_load_stream(const std::vector<std::string>& files, const std::string& format,
                             bool completion_only_loss, const Tokenizer& tok,
                             const std::string& cache_path);

struct DataSplits {
  TokenStream train, val;
};
// Loads train and val streams for a config (val held out when data.val is empty); caches live
// in cache_dir (tokens-train.bin, tokens-val.bin). Throws when a split is shorter than
// seq_len + 1 tokens.
DataSplits data_load(const TrainConfig& cfg, const Tokenizer& tok, const std::string& cache_dir);
// Splits one stream into train / held-out parts (see "Split" above).
DataSplits data_split(TokenStream all, double val_fraction);

// Training batch sampler. Default: shuffled chunks of the packed stream (a random shift per
// epoch). align = true: every window starts at a document's first token (documents shuffled
// per epoch; the following documents fill the rest of the window, and padding past the end
// of the stream has no loss), so no completion is cut from its prompt and each first
// document sits at position 0, as prompts do at inference.
struct BatchSampler {
  const TokenStream* stream = nullptr;
  int B = 0, T = 0;
  bool align = false;
  Rng rng{};                // advances as epochs start
  uint64_t epoch_rng = 0;   // rng.state at the start of the current epoch (saved)
  uint64_t epoch = 0;       // current epoch (saved)
  uint64_t cursor = 0;      // next chunk of the permutation (saved)
  uint64_t shift = 0;
  std::vector<uint32_t> perm;
};

BatchSampler batch_sampler_create(const TokenStream& s, int B, int T, uint64_t seed,
                                  bool align = false);
// Restores a saved position (epoch_rng, epoch, cursor).
void batch_sampler_restore(BatchSampler& sp, uint64_t epoch_rng, uint64_t epoch, uint64_t cursor);
// Fills inputs/targets [B, T].
void batch_sampler_next(BatchSampler& sp, int* inputs, int* targets);

// Fixed evaluation batches: n_batches * B windows of T + 1 tokens evenly spaced over the stream
// (align: starting at evenly spaced document starts, like aligned training windows);
// inputs/targets are [n_batches, B, T].
void eval_batches(const TokenStream& s, int B, int T, int n_batches, std::vector<int>* inputs,
                  std::vector<int>* targets, bool align = false);

}  // namespace softslm
