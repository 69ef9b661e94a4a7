// softslm tokenizer: train a byte-level BPE vocabulary; encode and decode with one.
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "base/io.h"
#include "cli/cli_common.h"
#include "cli/commands.h"

namespace softslm {

namespace {

struct TokenizerArgs {
  std::vector<std::string> inputs, specials{kEndOfText, kThinkOpen, kThinkClose};
  std::string out, tokenizer, text, text_file, ids;
  int vocab_size = 4096, names = 0;
  bool no_special = false, no_merge_digits = false;
};

void run_train(const TokenizerArgs& a) {
  check(a.names >= 0 && a.names <= 3, "--names must be in 0..3 (got ", a.names, ")");
  check(a.names > 0 || !a.inputs.empty(), "give at least one --input text file (or --names)");
  check(a.names == 0 || a.inputs.empty(), "--names builds a fixed vocabulary: give no --input");
  check(!a.out.empty(), "give --out (a tokenizer.json path)");
  std::vector<std::string> texts;
  for (const auto& f : a.inputs) texts.push_back(read_file(f));
  Tokenizer tok = a.names > 0 ? tokenizer_names(a.names, a.specials)
                              : tokenizer_train(texts, a.vocab_size, a.specials, !a.no_merge_digits);
  tokenizer_save(tok, a.out);
  std::cerr << "wrote " << a.out << " (" << tokenizer_vocab_size(tok) << " ids, "
            << tok.merges.size() << " merges)\n";
}

void run_encode(const TokenizerArgs& a, bool text_given) {
  std::string text = text_from(a.text, a.text_file, text_given, "text");
  Tokenizer tok = tokenizer_load(a.tokenizer);
  std::vector<int> ids = tokenizer_encode(tok, text, !a.no_special);
  nlohmann::json pieces = nlohmann::json::array();
  for (int id : ids) pieces.push_back(tokenizer_decode(tok, &id, 1));
  std::cout << json_dump({{"ids", ids}, {"pieces", pieces}, {"n_tokens", ids.size()}, {"n_bytes", text.size()}}) << "\n";
}

void run_decode(const TokenizerArgs& a) {
  Tokenizer tok = tokenizer_load(a.tokenizer);
  std::vector<int> ids;
  std::stringstream ss(a.ids);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int id = -1;
    try {
      id = std::stoi(item, &used);
    } catch (...) {
    }
    check(used > 0 && item.find_first_not_of(" \t", used) == std::string::npos,
          "--ids: '", item, "' is not an integer");
    ids.push_back(id);
  }
  std::string s = tokenizer_decode(tok, ids);
  std::cout.write(s.data(), s.size());
  std::cout << "\n";
}

}  // namespace

void register_tokenizer(CLI::App& app) {
  auto a = std::make_shared<TokenizerArgs>();
  CLI::App* c = app.add_subcommand("tokenizer", "Train, or encode/decode with, a BPE tokenizer");
  c->require_subcommand(1);
  CLI::App* tr = c->add_subcommand("train", "Train a byte-level BPE vocabulary from text files (or build a node-name vocabulary)");
  tr->add_option("-i,--input", a->inputs, "Text files");
  tr->add_option("--names", a->names,
                 "Instead of training: one token per lowercase name of 1..N letters (N in 1..3; "
                 "3: 18,278 names, 18,511 ids with the bytes and specials), never glued to a space")
      ->capture_default_str();
  tr->add_option("-v,--vocab-size", a->vocab_size, "Total ids: 256 bytes + merges + specials")
      ->capture_default_str();
  tr->add_option("--special", a->specials, "Special tokens (replaces the default three)");
  tr->add_option("-o,--out", a->out, "Output tokenizer.json")->required();
  tr->add_flag("--no-merge-digits", a->no_merge_digits, "Keep numbers one token per digit");
  tr->callback([a] { run_train(*a); });
  CLI::App* en = c->add_subcommand("encode", "Text -> ids (JSON)");
  en->add_option("-t,--tokenizer", a->tokenizer, "tokenizer.json, or a model directory")->required();
  auto* to = en->add_option("--text", a->text, "Text to encode");
  en->add_option("--text-file", a->text_file, "Read the text from a file");
  en->add_flag("--no-special", a->no_special, "Encode special-token strings as plain text");
  en->callback([a, to] { run_encode(*a, to->count() > 0); });
  CLI::App* de = c->add_subcommand("decode", "Ids -> text");
  de->add_option("-t,--tokenizer", a->tokenizer, "tokenizer.json, or a model directory")->required();
  de->add_option("--ids", a->ids, "Comma-separated ids")->required();
  de->callback([a] { run_decode(*a); });
}

}  // namespace softslm
