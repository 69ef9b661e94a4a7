#include "train/train_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/io.h"

namespace softslm {

namespace {

enum class Kind { Int, Int64, U64, Float, Double, OptDouble, Bool, String, StrList };

struct KeyDef {
  const char* name;
  Kind kind;
  void* (*get)(TrainConfig&);
  bool hashed;  // shapes the training trajectory (see train_config_hash)
};

#define KEY(NAME, KIND, FIELD, HASHED) \
  KeyDef { NAME, Kind::KIND, [](TrainConfig& c) -> void* { return &c.FIELD; }, HASHED }

const std::vector<KeyDef>& key_defs() {
  static const std::vector<KeyDef> defs = {
      KEY("model.vocab_size", Int, model.vocab_size, true),
      KEY("model.n_ctx", Int, model.n_ctx, true),
      KEY("model.n_embd", Int, model.n_embd, true),
      KEY("model.n_layer", Int, model.n_layer, true),
      KEY("model.n_head", Int, model.n_head, true),
      KEY("model.layer_norm_epsilon", Float, model.layer_norm_epsilon, true),
      KEY("tokenizer.path", String, tokenizer_path, true),
      KEY("data.train", StrList, train_files, true),
      KEY("data.val", StrList, val_files, true),
      KEY("data.val_fraction", Double, val_fraction, true),
      KEY("data.format", String, format, true),
      KEY("data.completion_only_loss", Bool, completion_only_loss, true),
      KEY("batch_size", Int, batch_size, true),
      KEY("seq_len", Int, seq_len, true),
      KEY("lr", Double, lr, true),
      KEY("min_lr", OptDouble, min_lr, true),
      KEY("min_lr_ratio", Double, min_lr_ratio, true),
      KEY("warmup_steps", Int64, warmup_steps, true),
      KEY("weight_decay", Double, weight_decay, true),
      KEY("grad_clip", Double, grad_clip, true),
      KEY("beta1", Double, beta1, true),
      KEY("beta2", Double, beta2, true),
      KEY("adam_eps", Double, adam_eps, true),
      KEY("steps", Int64, steps, false),
      KEY("eval_interval", Int64, eval_interval, false),
      KEY("eval_batches", Int, eval_batches, false),
      KEY("checkpoint_interval", Int64, checkpoint_interval, false),
      KEY("log_interval", Int64, log_interval, false),
      KEY("seed", U64, seed, true),
      KEY("threads", Int, threads, false),
      KEY("out_dir", String, out_dir, false),
  };
  return defs;
}
#undef KEY

const char* kSections[] = {"model", "tokenizer", "data"};

bool is_section(const std::string& k) {
  for (const char* s : kSections)
    if (k == s) return true;
  return false;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const KeyDef& find_key(const std::string& name, const std::string& where) {
  for (const KeyDef& d : key_defs())
    if (name == d.name) return d;
  std::string best;
  size_t best_d = 3;
  for (const KeyDef& d : key_defs()) {
    size_t e = edit_distance(name, d.name);
    // also match a flat spelling of a nested key ("n_layer" -> "model.n_layer")
    std::string leaf = d.name;
    if (leaf.find('.') != std::string::npos) leaf = leaf.substr(leaf.find('.') + 1);
    if (name == leaf) e = 1;
    if (e < best_d) best_d = e, best = d.name;
  }
  fail(where, "unknown config key '", name, "'",
       best.empty() ? std::string() : " (did you mean '" + best + "'?)");
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::string lower(std::string s) {
  for (char& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

template <typename T>
bool parse_int(const std::string& s, T* out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') b++;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && b != e;
}

bool parse_double(const std::string& s, double* out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') b++;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && b != e && std::isfinite(*out);
}

[[noreturn]] void bad_value(const std::string& where, const KeyDef& d, const std::string& v,
                            const char* expected) {
  fail(where, "config key '", d.name, "': expected ", expected, ", got '", v, "'");
}

// Sets a scalar-kind key from its text (already trimmed). `is_null`: YAML null / empty value.
void set_scalar(TrainConfig& cfg, const KeyDef& d, const std::string& v, bool is_null,
                const std::string& where) {
  void* p = d.get(cfg);
  switch (d.kind) {
    case Kind::Int: {
      int x;
      if (is_null || !parse_int(v, &x)) bad_value(where, d, v, "an integer");
      *static_cast<int*>(p) = x;
      break;
    }
    case Kind::Int64: {
      int64_t x;
      if (is_null || !parse_int(v, &x)) bad_value(where, d, v, "an integer");
      *static_cast<int64_t*>(p) = x;
      break;
    }
    case Kind::U64: {
      uint64_t x;
      if (is_null || !parse_int(v, &x)) bad_value(where, d, v, "a non-negative integer");
      *static_cast<uint64_t*>(p) = x;
      break;
    }
    case Kind::Float:
    case Kind::Double:
    case Kind::OptDouble: {
      double x;
      if (d.kind == Kind::OptDouble && is_null) {
        *static_cast<double*>(p) = -1;
        break;
      }
      if (is_null || !parse_double(v, &x)) bad_value(where, d, v, "a number");
      if (d.kind == Kind::Float)
        *static_cast<float*>(p) = (float)x;
      else
        *static_cast<double*>(p) = x;
      break;
    }
    case Kind::Bool: {
      std::string l = lower(v);
      bool x;
      if (l == "true" || l == "yes" || l == "on" || l == "1")
        x = true;
      else if (l == "false" || l == "no" || l == "off" || l == "0")
        x = false;
      else
        bad_value(where, d, v, "true or false");
      *static_cast<bool*>(p) = x;
      break;
    }
    case Kind::String:
      *static_cast<std::string*>(p) = is_null ? std::string() : v;
      break;
    case Kind::StrList: {
      auto& list = *static_cast<std::vector<std::string>*>(p);
      list.clear();
      if (is_null) break;
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ','))
        if (!trim(item).empty()) list.push_back(trim(item));
      break;
    }
  }
}

bool yaml_is_null(const YAML::Node& n) {
  return n.IsNull() || (n.IsScalar() && n.Tag() != "!" && (n.Scalar() == "~" || n.Scalar() == "null"));
}

void set_from_yaml(TrainConfig& cfg, const KeyDef& d, const YAML::Node& n,
                   const std::string& where) {
  if (d.kind == Kind::StrList && n.IsSequence()) {
    std::vector<std::string> list;
    for (const auto& item : n) {
      if (!item.IsScalar()) bad_value(where, d, YAML::Dump(n), "a list of file names");
      list.push_back(item.Scalar());
    }
    *static_cast<std::vector<std::string>*>(d.get(cfg)) = list;
    return;
  }
  if (!n.IsScalar() && !n.IsNull())
    bad_value(where, d, YAML::Dump(n), d.kind == Kind::StrList ? "a list of file names" : "a value");
  if (d.kind == Kind::StrList && !yaml_is_null(n)) {  // one file name (commas not special here)
    *static_cast<std::vector<std::string>*>(d.get(cfg)) = {n.Scalar()};
    return;
  }
  set_scalar(cfg, d, n.IsNull() ? std::string() : n.Scalar(), yaml_is_null(n), where);
}

void walk(TrainConfig& cfg, const YAML::Node& node, const std::string& prefix,
          const std::string& where) {
  for (const auto& kv : node) {
    std::string key = prefix + kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (prefix.empty() && is_section(key)) {
      if (v.IsNull()) continue;
      if (!v.IsMap()) fail(where, "config key '", key, "' must be a section (a map of keys)");
      walk(cfg, v, key + ".", where);
      continue;
    }
    set_from_yaml(cfg, find_key(key, where), v, where);
  }
}

template <typename F>
std::string fmt_double(F x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);  // shortest round-trip form
  std::string s(buf, r.ptr);
  // keep it a YAML float (1 -> 1.0) where that is needed to read back as a float
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string yaml_str(const std::string& s) { return nlohmann::json(s).dump(); }

std::string yaml_value(TrainConfig& cfg, const KeyDef& d) {
  void* p = d.get(cfg);
  switch (d.kind) {
    case Kind::Int: return std::to_string(*static_cast<int*>(p));
    case Kind::Int64: return std::to_string(*static_cast<int64_t*>(p));
    case Kind::U64: return std::to_string(*static_cast<uint64_t*>(p));
    case Kind::Float: return fmt_double(*static_cast<float*>(p));
    case Kind::Double: return fmt_double(*static_cast<double*>(p));
    case Kind::OptDouble: {
      double x = *static_cast<double*>(p);
      return x < 0 ? "null" : fmt_double(x);
    }
    case Kind::Bool: return *static_cast<bool*>(p) ? "true" : "false";
    case Kind::String: return yaml_str(*static_cast<std::string*>(p));
    case Kind::StrList: {
      std::string s = "[";
      for (const auto& f : *static_cast<std::vector<std::string>*>(p))
        s += (s.size() > 1 ? ", " : "") + yaml_str(f);
      return s + "]";
    }
  }
  return "";
}

void check_file(const std::string& key, const std::string& path, bool dir_ok) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  check(std::filesystem::exists(st), "config key '", key, "': file '", path, "' not found");
  check(dir_ok || std::filesystem::is_regular_file(st), "config key '", key, "': '", path,
        "' is not a regular file");
}

}  // namespace

double train_config_min_lr(const TrainConfig& cfg) {
  return cfg.min_lr >= 0 ? cfg.min_lr : cfg.lr * cfg.min_lr_ratio;
}

void train_config_parse(TrainConfig& cfg, const std::string& yaml_text, const std::string& where) {
  std::string w = where.empty() ? std::string() : where + ": ";
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(w, "invalid YAML at line ", e.mark.line + 1, ": ", e.msg);
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) fail(w, "expected a map of config keys at the top level");
  try {
    walk(cfg, root, "", w);
  } catch (const YAML::Exception& e) {
    fail(w, "invalid config at line ", e.mark.line + 1, ": ", e.msg);
  }
}

TrainConfig train_config_load(const std::string& path) {
  TrainConfig cfg;
  train_config_parse(cfg, read_file(path), path);
  return cfg;
}

void train_config_set(TrainConfig& cfg, const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos)
    fail("--set expects key=value, got '", assignment, "'");
  std::string key = trim(assignment.substr(0, eq)), value = trim(assignment.substr(eq + 1));
  if (is_section(key))
    fail("--set: '", key, "' is a section; set one of its keys (e.g. ", key, ".",
         key == "model" ? "n_layer" : key == "data" ? "train" : "path", "=...)");
  const KeyDef& d = find_key(key, "--set: ");
  if (d.kind == Kind::StrList && !value.empty() && value[0] == '[') {
    YAML::Node n;
    try {
      n = YAML::Load(value);
    } catch (const YAML::Exception&) {
      bad_value("--set: ", d, value, "a list of file names");
    }
    set_from_yaml(cfg, d, n, "--set: ");
    return;
  }
  bool is_null = value.empty() || (d.kind == Kind::OptDouble && (value == "null" || value == "~"));
  if (is_null && (d.kind == Kind::Int || d.kind == Kind::Int64 || d.kind == Kind::U64 ||
                  d.kind == Kind::Float || d.kind == Kind::Double || d.kind == Kind::Bool))
    bad_value("--set: ", d, value, "a value");
  set_scalar(cfg, d, value, is_null, "--set: ");
}

void train_config_validate(const TrainConfig& c) {
  auto positive = [](const char* key, int64_t v) {
    check(v >= 1, "config key '", key, "' must be >= 1 (got ", v, ")");
  };
  auto non_negative = [](const char* key, double v) {
    check(v >= 0, "config key '", key, "' must be >= 0 (got ", v, ")");
  };
  const ModelConfig& m = c.model;
  positive("model.vocab_size", m.vocab_size);
  positive("model.n_ctx", m.n_ctx);
  positive("model.n_embd", m.n_embd);
  positive("model.n_layer", m.n_layer);
  positive("model.n_head", m.n_head);
  check(m.n_embd % m.n_head == 0, "config key 'model.n_embd' (", m.n_embd,
        ") must be divisible by 'model.n_head' (", m.n_head, ")");
  check(m.layer_norm_epsilon > 0, "config key 'model.layer_norm_epsilon' must be > 0 (got ",
        m.layer_norm_epsilon, ")");
  if (c.tokenizer_path.empty())
    check(m.vocab_size >= 256 + 3, "config key 'model.vocab_size' must be >= 259 to train a "
          "byte-level BPE tokenizer (256 bytes + 3 special tokens), got ", m.vocab_size);
  positive("batch_size", c.batch_size);
  positive("seq_len", c.seq_len);
  check(c.seq_len <= m.n_ctx, "config key 'seq_len' (", c.seq_len,
        ") must be <= 'model.n_ctx' (", m.n_ctx, ")");
  check(c.lr > 0, "config key 'lr' must be > 0 (got ", c.lr, ")");
  if (c.min_lr >= 0)
    check(c.min_lr <= c.lr, "config key 'min_lr' (", c.min_lr, ") must be <= 'lr' (", c.lr, ")");
  check(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1,
        "config key 'min_lr_ratio' must be in [0, 1] (got ", c.min_lr_ratio, ")");
  non_negative("warmup_steps", (double)c.warmup_steps);
  non_negative("weight_decay", c.weight_decay);
  non_negative("grad_clip", c.grad_clip);
  check(c.beta1 >= 0 && c.beta1 < 1, "config key 'beta1' must be in [0, 1) (got ", c.beta1, ")");
  check(c.beta2 >= 0 && c.beta2 < 1, "config key 'beta2' must be in [0, 1) (got ", c.beta2, ")");
  check(c.adam_eps > 0, "config key 'adam_eps' must be > 0 (got ", c.adam_eps, ")");
  positive("steps", c.steps);
  non_negative("eval_interval", (double)c.eval_interval);
  positive("eval_batches", c.eval_batches);
  non_negative("checkpoint_interval", (double)c.checkpoint_interval);
  positive("log_interval", c.log_interval);
  non_negative("threads", c.threads);
  check(!c.out_dir.empty(), "config key 'out_dir' must not be empty");
  check(c.format == "auto" || c.format == "text" || c.format == "jsonl",
        "config key 'data.format' must be auto, text or jsonl (got '", c.format, "')");
  check(!c.train_files.empty(), "config key 'data.train' must list at least one file");
  for (const auto& f : c.train_files) check_file("data.train", f, false);
  for (const auto& f : c.val_files) check_file("data.val", f, false);
  if (c.val_files.empty())
    check(c.val_fraction > 0 && c.val_fraction < 1,
          "config key 'data.val_fraction' must be in (0, 1) when 'data.val' is empty (got ",
          c.val_fraction, ")");
  if (!c.tokenizer_path.empty()) check_file("tokenizer.path", c.tokenizer_path, true);
}

std::string train_config_to_yaml(const TrainConfig& cfg_in) {
  TrainConfig cfg = cfg_in;
  std::string out = "# softslm training config (resolved: every key, defaults included)\n";
  std::string section;
  for (const KeyDef& d : key_defs()) {
    std::string name = d.name;
    size_t dot = name.find('.');
    std::string sec = dot == std::string::npos ? "" : name.substr(0, dot);
    if (sec != section) {
      if (!sec.empty()) out += sec + ":\n";
      section = sec;
    }
    out += (sec.empty() ? "" : "  ") + name.substr(dot == std::string::npos ? 0 : dot + 1) +
           ": " + yaml_value(cfg, d) + "\n";
  }
  return out;
}

uint64_t train_config_hash(const TrainConfig& cfg_in) {
  TrainConfig cfg = cfg_in;
  uint64_t h = fnv1a(std::string("softslm-train-config-v1"));
  for (const KeyDef& d : key_defs())
    if (d.hashed) h = fnv1a(std::string(d.name) + "=" + yaml_value(cfg, d), h);
  return h;
}

std::vector<std::string> train_config_keys() {
  std::vector<std::string> v;
  for (const KeyDef& d : key_defs()) v.push_back(d.name);
  return v;
}

}  // namespace softslm
