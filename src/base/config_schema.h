// The one config loader: a table of typed keys (dotted names, one level of sections) read
// from YAML, overridden by "key=value" strings, validated by type, and dumped back as YAML.
// Each config (training, soft thinking) is a plain struct plus a table of its keys.
#pragma once
#include <string>
#include <vector>

namespace softslm {

enum class KeyKind { Int, Int64, U64, Float, Double, OptDouble, Bool, String, StrList, Enum };

struct KeyDef {
  const char* name;                    // "section.key" or "key"
  KeyKind kind;
  void* (*get)(void* cfg);             // the field inside the config struct
  bool hashed = false;                 // for configs that hash a subset of their keys
  std::vector<const char*> choices{};  // Enum: names of the values 0, 1, ... (field is an int-sized enum)
};

struct ConfigSchema {
  std::vector<KeyDef> keys;
  std::vector<std::string> sections;  // names that hold maps of keys
};

// Parses YAML text on top of cfg (absent keys keep their values). `where` prefixes errors.
// Unknown keys (with a did-you-mean hint) and ill-typed values throw Error naming the key.
void config_parse(const ConfigSchema& s, void* cfg, const std::string& yaml_text,
                  const std::string& where);
// yaml-cpp's error message for users: its nesting-depth limit ("bad file") said plainly.
std::string yaml_message(const std::string& msg);

// Applies one "dotted.key=value" override (value read as a YAML scalar or flow sequence).
void config_set(const ConfigSchema& s, void* cfg, const std::string& assignment);
// The value of one key as YAML text.
std::string config_value(const KeyDef& d, void* cfg);
// Every key as YAML, grouped by section, after a header comment.
std::string config_to_yaml(const ConfigSchema& s, void* cfg, const std::string& header);

}  // namespace softslm
