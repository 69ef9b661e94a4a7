// Self-contained HTML (no external scripts, styles or fonts): the evaluation report and the
// single-trace viewer. Charts are inline SVG.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace softslm {

// summary: eval_summary_json(); traces_jsonl: eval_traces_jsonl() rows. Sections: results
// per task x configuration, accuracy vs thinking tokens (a marker per configuration), accuracy
// per difficulty class, example generations grouped by example (those where configurations
// disagree first): entropy over steps with each emitted token, phases and switch points, and
// the thinking steps' concept tokens as a step x top-K heatmap.
std::string report_html(const nlohmann::json& summary, const std::string& traces_jsonl,
                        const std::string& title);
// The report's title from an eval directory's run.json (model, data or tasks with split and
// n: what eval --out writes); "softslm evaluation: <fallback>" when run is not such an object.
std::string report_title(const nlohmann::json& run, const std::string& fallback);
// One generation's trace (generate --trace JSONL; several sequences allowed).
std::string trace_html(const std::string& trace_jsonl, const std::string& title);

// Pieces (tested): HTML escaping, and one generation (steps = trace records) as a chart + table.
std::string html_escape(const std::string& s);
std::string trace_section_html(const std::string& heading, const nlohmann::json& steps);

}  // namespace softslm
