// Pieces the sub-commands share: JSON output, text input, seed flags (loading a model
// directory: generate/model_dir.h).
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "generate/model_dir.h"

namespace softslm {

// JSON text for stdout; invalid UTF-8 in strings is replaced, never an exception.
std::string json_dump(const nlohmann::json& j, int indent = 2);

// Text from --prompt/--text or from a file (exactly one must be given).
std::string text_from(const std::string& inline_text, const std::string& file, bool inline_given,
                      const char* what);

// CLI11 check for a seed flag: a decimal integer in [0, 2^64 - 1], so that -1, 2^64 or 1e23
// are refused instead of wrapping or saturating to the same seed.
CLI::Validator seed_check();

// Sets OpenMP threads (0 = all cores); rejects negatives and more than the cores.
void set_threads(int threads);

}  // namespace softslm
