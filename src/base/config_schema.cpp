#include "base/config_schema.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace softslm {

namespace {

using Kind = KeyKind;

bool is_section(const ConfigSchema& s, const std::string& k) {
  return std::find(s.sections.begin(), s.sections.end(), k) != s.sections.end();
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

const KeyDef& find_key(const ConfigSchema& s, const std::string& name, const std::string& where) {
  for (const KeyDef& d : s.keys)
    if (name == d.name) return d;
  std::string best;
  size_t best_d = 3;
  for (const KeyDef& d : s.keys) {
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

// Text values must be UTF-8: the resolved config is written back as YAML / JSON strings.
void check_utf8(const std::string& where, const KeyDef& d, const std::string& v) {
  try {
    (void)nlohmann::json(v).dump();
  } catch (const nlohmann::json::exception&) {
    bad_value(where, d, v, "UTF-8 text");
  }
}

void set_scalar(void* cfg, const KeyDef& d, const std::string& v, bool is_null,
                const std::string& where) {
  void* p = d.get(cfg);
  check_utf8(where, d, v);
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
      // a float key holds a float: beyond its range the value would become inf (and the
      // resolved config's "inf" would not read back)
      if (d.kind == Kind::Float && std::fabs(x) > std::numeric_limits<float>::max())
        bad_value(where, d, v, "a number within float range (|x| <= 3.4e38)");
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
    case Kind::Enum: {
      int i = 0;
      while (i < (int)d.choices.size() && v != d.choices[i]) i++;
      if (i == (int)d.choices.size()) {
        std::string names;
        for (const char* c : d.choices) names += (names.empty() ? "" : " | ") + std::string(c);
        bad_value(where, d, v, names.c_str());
      }
      *static_cast<int*>(p) = i;
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

void set_from_yaml(void* cfg, const KeyDef& d, const YAML::Node& n,
                   const std::string& where) {
  if (d.kind == Kind::StrList && n.IsSequence()) {
    std::vector<std::string> list;
    for (const auto& item : n) {
      if (!item.IsScalar()) bad_value(where, d, YAML::Dump(n), "a list of file names");
      check_utf8(where, d, item.Scalar());
      list.push_back(item.Scalar());
    }
    *static_cast<std::vector<std::string>*>(d.get(cfg)) = list;
    return;
  }
  if (!n.IsScalar() && !n.IsNull())
    bad_value(where, d, YAML::Dump(n), d.kind == Kind::StrList ? "a list of file names" : "a value");
  if (d.kind == Kind::StrList && !yaml_is_null(n)) {  // one file name (commas not special here)
    check_utf8(where, d, n.Scalar());
    *static_cast<std::vector<std::string>*>(d.get(cfg)) = {n.Scalar()};
    return;
  }
  set_scalar(cfg, d, n.IsNull() ? std::string() : n.Scalar(), yaml_is_null(n), where);
}

void walk(const ConfigSchema& s, void* cfg, const YAML::Node& node, const std::string& prefix,
          const std::string& where) {
  std::vector<std::pair<std::string, int>> seen;  // key, line: a repeated key is an error
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) fail(where, "line ", kv.first.Mark().line + 1,
                                   ": a config key must be a plain name");
    std::string key = prefix + kv.first.Scalar();
    const int line = kv.first.Mark().line + 1;
    for (const auto& [k, l] : seen)
      if (k == key) fail(where, "config key '", key, "' is given twice (lines ", l, " and ", line,
                         ")");
    seen.emplace_back(key, line);
    const YAML::Node& v = kv.second;
    if (prefix.empty() && is_section(s, key)) {
      if (v.IsNull()) continue;
      if (!v.IsMap()) fail(where, "config key '", key, "' must be a section (a map of keys)");
      walk(s, cfg, v, key + ".", where);
      continue;
    }
    set_from_yaml(cfg, find_key(s, key, where), v, where);
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

}  // namespace

std::string config_value(const KeyDef& d, void* cfg) {
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
    case Kind::Enum: return d.choices.at(*static_cast<int*>(p));
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

std::string yaml_message(const std::string& msg) {
  return msg == "bad file" ? "nested too deeply (a config has at most two levels)" : msg;
}

void config_parse(const ConfigSchema& s, void* cfg, const std::string& yaml_text,
                  const std::string& where) {
  std::string w = where.empty() ? std::string() : where + ": ";
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(w, "invalid YAML at line ", e.mark.line + 1, ": ", yaml_message(e.msg));
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) fail(w, "expected a map of config keys at the top level");
  try {
    walk(s, cfg, root, "", w);
  } catch (const YAML::Exception& e) {
    fail(w, "invalid config at line ", e.mark.line + 1, ": ", e.msg);
  }
}

void config_set(const ConfigSchema& s, void* cfg, const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos)
    fail("--set expects key=value, got '", assignment, "'");
  std::string key = trim(assignment.substr(0, eq)), value = trim(assignment.substr(eq + 1));
  if (is_section(s, key)) {
    std::string example;
    for (const KeyDef& d : s.keys)
      if (std::string(d.name).rfind(key + ".", 0) == 0 && example.empty()) example = d.name;
    fail("--set: '", key, "' is a section; set one of its keys (e.g. ", example, "=...)");
  }
  const KeyDef& d = find_key(s, key, "--set: ");
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

std::string config_to_yaml(const ConfigSchema& s, void* cfg, const std::string& header) {
  std::string out = header;
  std::string section;
  for (const KeyDef& d : s.keys) {
    std::string name = d.name;
    size_t dot = name.find('.');
    std::string sec = dot == std::string::npos ? "" : name.substr(0, dot);
    if (sec != section) {
      if (!sec.empty()) out += sec + ":\n";
      section = sec;
    }
    out += (sec.empty() ? "" : "  ") + name.substr(dot == std::string::npos ? 0 : dot + 1) +
           ": " + config_value(d, cfg) + "\n";
  }
  return out;
}

}  // namespace softslm
