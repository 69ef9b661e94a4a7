// JSON Lines: one object per line; blank lines skipped.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace softslm {

// Rows of a JSONL text; throws Error "<where>:<line>: not valid JSON" on a bad line.
std::vector<nlohmann::json> jsonl_parse(const std::string& text, const std::string& where);

}  // namespace softslm
