// Tokenizer files: Hugging Face tokenizer.json (read and write) and GPT-2's vocab.json +
// merges.txt (read). Files store tokens in GPT-2's byte alphabet (byte_level_encode); the
// Tokenizer holds raw bytes. Added tokens (added_tokens in tokenizer.json, <|endoftext|> in
// vocab.json) become specials: split out by tokenizer_encode(..., allow_special=true).
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "base/error.h"
#include "base/io.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

using nlohmann::json;

json parse_json_text(const std::string& text, const std::string& file) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(file, ": invalid JSON (", library_message(e), ")");
  }
}

json parse_json(const std::string& file) { return parse_json_text(read_file(file), file); }

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Byte-alphabet token text -> raw bytes, or an error naming the file.
std::string decode_token(const std::string& file, const std::string& what,
                         const std::string& text) {
  std::string raw;
  if (text.empty()) fail(file, ": empty token in ", what);
  if (!byte_level_decode(text, &raw))
    fail(file, ": token ", quoted(text), " in ", what,
         " has characters outside GPT-2's byte-level alphabet");
  return raw;
}

// One vocabulary entry as read from a file: the token's text and whether it is special.
struct Entry {
  std::string text;  // byte-alphabet text (ordinary) or raw content (special)
  bool special = false;
  bool set = false;
};

// Checks that ids are exactly 0..n-1 and fills the tokenizer's ids and specials.
void fill_vocab(Tokenizer& tok, const std::string& file, const std::vector<Entry>& entries) {
  for (size_t id = 0; id < entries.size(); id++)
    if (!entries[id].set)
      fail(file, ": token ids are not contiguous: id ", id, " is missing (ids run to ",
           entries.size() - 1, ")");
  tok.id_to_bytes.resize(entries.size());
  for (size_t id = 0; id < entries.size(); id++) {
    const Entry& e = entries[id];
    if (e.special) {
      tok.id_to_bytes[id] = e.text;
      tok.specials.push_back({e.text, int(id)});
    } else {
      tok.id_to_bytes[id] = decode_token(file, "vocab", e.text);
    }
  }
}

// n_tokens: how many tokens the file lists; contiguous ids are below it (checked before the
// table grows, so a huge id in a small file is an error, not a huge allocation).
void set_entry(std::vector<Entry>& entries, const std::string& file, int64_t id,
               const std::string& text, bool special, size_t n_tokens) {
  if (id < 0 || id > 100000000) fail(file, ": token ", quoted(text), " has bad id ", id);
  if (size_t(id) >= n_tokens)
    fail(file, ": token ids are not contiguous: token ", quoted(text), " has id ", id,
         " but the file lists only ", n_tokens, " tokens");
  if (size_t(id) >= entries.size()) entries.resize(id + 1);
  Entry& e = entries[id];
  // An added token may repeat its model.vocab entry (same id, same text).
  if (e.set && !(e.text == text && (special || e.special)))
    fail(file, ": duplicate id ", id, " for tokens ", quoted(e.text), " and ", quoted(text));
  e = {text, special || e.special, true};
}

// The pre-tokenizer must be GPT-2's: ByteLevel with the GPT-2 regex and no prefix space.
void check_pre_tokenizer(const json& j, const std::string& file) {
  if (!j.contains("pre_tokenizer") || !j["pre_tokenizer"].is_object())
    fail(file, ": pre_tokenizer must be a ByteLevel object");
  const json& p = j["pre_tokenizer"];
  if (p.value("type", "") != "ByteLevel")
    fail(file, ": unsupported pre_tokenizer (only ByteLevel, as GPT-2, is supported)");
  if (p.value("add_prefix_space", false))
    fail(file, ": pre_tokenizer add_prefix_space=true is not supported");
  if (!p.value("use_regex", true)) fail(file, ": pre_tokenizer use_regex=false is not supported");
}

Tokenizer load_tokenizer_json_fields(const std::string& file, const json& j) {
  if (!j.is_object()) fail(file, ": expected a JSON object");
  if (!j.contains("model") || !j["model"].is_object()) fail(file, ": missing object 'model'");
  const json& m = j["model"];
  if (m.contains("type") && m["type"] != "BPE")
    fail(file, ": model.type ", m["type"].dump(), " is not supported (only BPE)");
  if (!m.contains("vocab") || !m["vocab"].is_object()) fail(file, ": missing object model.vocab");
  if (!m.contains("merges") || !m["merges"].is_array())
    fail(file, ": missing array model.merges");
  check_pre_tokenizer(j, file);
  for (const char* opt : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(opt) && m[opt].is_string() && !m[opt].get<std::string>().empty())
      fail(file, ": model.", opt, " is not supported");
  if (m.value("ignore_merges", false)) fail(file, ": model.ignore_merges is not supported");

  std::vector<Entry> entries;
  std::unordered_set<int64_t> added_ids;
  size_t n_tokens = m["vocab"].size();  // tokens listed (vocab + added): ids are below
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) n_tokens += j["added_tokens"].size();
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    if (!j["added_tokens"].is_array()) fail(file, ": added_tokens must be an array");
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string())
        fail(file, ": added_tokens entry without integer id and string content: ", a.dump());
      std::string content = a["content"].get<std::string>();
      if (content.empty()) fail(file, ": added token ", a["id"].dump(), " has empty content");
      int64_t id = a["id"].get<int64_t>();
      if (!added_ids.insert(id).second) fail(file, ": duplicate id ", id, " in added_tokens");
      set_entry(entries, file, id, content, true, n_tokens);
    }
  }
  for (const auto& [text, idj] : m["vocab"].items()) {
    if (!idj.is_number_integer())
      fail(file, ": model.vocab entry ", quoted(text), " has a non-integer id");
    set_entry(entries, file, idj.get<int64_t>(), text, false, n_tokens);
  }
  Tokenizer tok;
  fill_vocab(tok, file, entries);

  const json& merges = m["merges"];
  tok.merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); r++) {
    const json& mj = merges[r];
    std::string a, b;
    if (mj.is_string()) {  // "a b"
      const std::string& s = mj.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        fail(file, ": merge ", r, " ", quoted(s), " is not two tokens separated by a space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string()) {
      a = mj[0].get<std::string>();
      b = mj[1].get<std::string>();
    } else {
      fail(file, ": merge ", r, " is neither \"a b\" nor [\"a\", \"b\"]: ", mj.dump());
    }
    tok.merges.push_back(
        {decode_token(file, "merges", a), decode_token(file, "merges", b)});
  }
  tokenizer_build_index(tok, file);
  return tok;
}

Tokenizer load_tokenizer_json(const std::string& file, const std::string* text = nullptr) {
  json j = text ? parse_json_text(*text, file) : parse_json(file);
  try {
    return load_tokenizer_json_fields(file, j);
  } catch (const json::exception& e) {  // a field of the wrong JSON type
    fail(file, ": ", library_message(e));
  }
}

// GPT-2's own files: vocab.json (byte-alphabet token -> id; "<|endoftext|>" is special) and
// merges.txt ("a b" per line, optional "#version" first line).
Tokenizer load_vocab_merges(const std::string& vocab_file, const std::string& merges_file) {
  json v = parse_json(vocab_file);
  if (!v.is_object()) fail(vocab_file, ": expected a JSON object of token -> id");
  std::vector<Entry> entries;
  for (const auto& [text, idj] : v.items()) {
    if (!idj.is_number_integer())
      fail(vocab_file, ": entry ", quoted(text), " has a non-integer id");
    set_entry(entries, vocab_file, idj.get<int64_t>(), text, text == kEndOfText, v.size());
  }
  if (entries.empty()) fail(vocab_file, ": empty vocabulary");
  Tokenizer tok;
  fill_vocab(tok, vocab_file, entries);

  std::string text = read_file(merges_file);
  std::unordered_set<std::string> known;
  for (size_t id = 0; id < tok.id_to_bytes.size(); id++)
    if (!entries[id].special) known.insert(tok.id_to_bytes[id]);
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
      fail(merges_file, ": line ", line_no, " ", quoted(line),
           " is not two tokens separated by a space");
    std::string a = decode_token(merges_file, "merges", line.substr(0, sp));
    std::string b = decode_token(merges_file, "merges", line.substr(sp + 1));
    for (const std::string* s : {&a, &b})
      if (!known.count(*s))
        fail(merges_file, ": line ", line_no, " references token ",
             quoted(byte_level_encode(*s)), " that is not in vocab.json");
    if (!known.count(a + b))
      fail(merges_file, ": line ", line_no, " makes ", quoted(byte_level_encode(a + b)),
           " that is not in vocab.json");
    tok.merges.push_back({std::move(a), std::move(b)});
  }
  tokenizer_build_index(tok, vocab_file);
  return tok;
}

// JSON string literal; fails (naming the file) for text that is not valid UTF-8.
std::string json_str(const std::string& s, const std::string& file) {
  try {
    return json(s).dump();
  } catch (const json::exception&) {
    fail(file, ": cannot save token ", quoted(byte_level_encode(s)),
         ": special token content is not valid UTF-8");
  }
}

}  // namespace

Tokenizer tokenizer_load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    std::string tj = path + "/tokenizer.json";
    if (file_exists(tj)) return load_tokenizer_json(tj);
    std::string vj = path + "/vocab.json", mt = path + "/merges.txt";
    if (file_exists(vj) && file_exists(mt)) return load_vocab_merges(vj, mt);
    fail(path, ": directory has neither tokenizer.json nor vocab.json + merges.txt");
  }
  return load_tokenizer_json(path);
}

Tokenizer tokenizer_parse_json(const std::string& text, const std::string& where) {
  return load_tokenizer_json(where, &text);
}

void tokenizer_save(const Tokenizer& tok, const std::string& path) {
  size_t n = tok.id_to_bytes.size();
  if (tok.is_special.size() != n) fail(path, ": cannot save an unindexed tokenizer");
  // model.vocab keys: byte-alphabet text of ordinary tokens, raw content of specials (as in
  // Hugging Face's GPT-2 tokenizer.json). Keys must be unique.
  std::vector<std::string> keys(n);
  std::unordered_map<std::string, size_t> seen;
  for (size_t id = 0; id < n; id++) {
    keys[id] = tok.is_special[id] ? tok.id_to_bytes[id] : byte_level_encode(tok.id_to_bytes[id]);
    auto [it, fresh] = seen.emplace(keys[id], id);
    if (!fresh)
      fail(path, ": cannot save: tokens ", it->second, " and ", id, " would both be ",
           quoted(keys[id]), " in model.vocab");
  }
  std::vector<std::pair<int, std::string>> specials;
  for (const auto& [content, id] : tok.specials) specials.push_back({id, content});
  std::sort(specials.begin(), specials.end());

  std::string o;
  o.reserve(n * 24 + tok.merges.size() * 16 + 4096);
  o += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n";
  o += "  \"added_tokens\": [";
  for (size_t i = 0; i < specials.size(); i++) {
    o += i ? ",\n    " : "\n    ";
    o += "{\"id\": " + std::to_string(specials[i].first) +
         ", \"content\": " + json_str(specials[i].second, path) +
         ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
         "\"normalized\": false, \"special\": true}";
  }
  o += specials.empty() ? "],\n" : "\n  ],\n";
  o += "  \"normalizer\": null,\n";
  const char* bl = "{\"type\": \"ByteLevel\", \"add_prefix_space\": ";
  o += std::string("  \"pre_tokenizer\": ") + bl +
       "false, \"trim_offsets\": true, \"use_regex\": true},\n";
  o += std::string("  \"post_processor\": ") + bl +
       "true, \"trim_offsets\": false, \"use_regex\": true},\n";
  o += std::string("  \"decoder\": ") + bl + "true, \"trim_offsets\": true, \"use_regex\": true},\n";
  o += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
       "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n"
       "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"vocab\": {";
  for (size_t id = 0; id < n; id++) {
    o += id ? ",\n      " : "\n      ";
    o += json_str(keys[id], path) + ": " + std::to_string(id);
  }
  o += "\n    },\n    \"merges\": [";
  for (size_t r = 0; r < tok.merges.size(); r++) {
    o += r ? ",\n      " : "\n      ";
    o += json_str(byte_level_encode(tok.merges[r].first) + " " +
                      byte_level_encode(tok.merges[r].second), path);
  }
  o += tok.merges.empty() ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n";
  write_file_atomic(path, o);
}

}  // namespace softslm
