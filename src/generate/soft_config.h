// configs/soft-thinking.yaml: every soft-thinking parameter of GenerateParams::soft, read with
// the project's one config loader (base/config_schema) and overridable key by key.
#pragma once
#include <string>
#include <vector>

#include "generate/generate.h"

namespace softslm {

// The file in a model directory that records the decoding the model was trained for.
constexpr char kSoftThinkingFile[] = "soft_thinking.yaml";

// Parses YAML text on top of p.soft (absent keys keep their values); `where` prefixes errors.
void soft_config_parse(SoftThinkingParams& p, const std::string& yaml_text, const std::string& where);
void soft_config_load(SoftThinkingParams& p, const std::string& path);
// One "dotted.key=value" override, e.g. "cold_stop.tau=0.05" or "mode=entropy_gate".
void soft_config_set(SoftThinkingParams& p, const std::string& assignment);
// Every key as YAML (the resolved configuration).
std::string soft_config_to_yaml(const SoftThinkingParams& p);
std::vector<std::string> soft_config_keys();
const char* think_mode_name(ThinkMode m);

}  // namespace softslm
