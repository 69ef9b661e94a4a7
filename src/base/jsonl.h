// JSON Lines: one object per line; blank lines skipped.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace softslm {

// Rows of a JSONL text; throws Error "<where>:<line>: not valid JSON" on a bad line.
// line_numbers (optional) receives each row's 1-based line, for messages about a row.
std::vector<nlohmann::json> jsonl_parse(const std::string& text, const std::string& where,
                                        std::vector<int>* line_numbers = nullptr);

}  // namespace softslm
