#include "base/jsonl.h"

#include <sstream>

#include "base/error.h"

namespace softslm {

std::vector<nlohmann::json> jsonl_parse(const std::string& text, const std::string& where,
                                        std::vector<int>* line_numbers) {
  if (line_numbers) line_numbers->clear();
  std::vector<nlohmann::json> rows;
  std::stringstream ss(text);
  int lineno = 0;
  for (std::string line; std::getline(ss, line);) {
    lineno++;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      rows.push_back(nlohmann::json::parse(line));
      if (line_numbers) line_numbers->push_back(lineno);
    } catch (const std::exception&) {
      fail(where, ":", lineno, ": not valid JSON");
    }
  }
  return rows;
}

}  // namespace softslm
