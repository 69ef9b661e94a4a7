// Self-contained HTML (no external scripts, styles or fonts): the evaluation report and the
// single-trace viewer. Charts are inline SVG.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace softslm {

// summary: eval_summary_json(); traces_jsonl: eval_traces_jsonl() rows. Sections: results
// per task x configuration, accuracy-vs-tokens scatter, example generations (entropy over
// steps with phases and switch points, and the concept tokens of each soft step).
std::string report_html(const nlohmann::json& summary, const std::string& traces_jsonl,
                        const std::string& title);
// One generation's trace (generate --trace JSONL; several sequences allowed).
std::string trace_html(const std::string& trace_jsonl, const std::string& title);

// Pieces (tested): HTML escaping, and one generation (steps = trace records) as a chart + table.
std::string html_escape(const std::string& s);
std::string trace_section_html(const std::string& heading, const nlohmann::json& steps);

}  // namespace softslm
