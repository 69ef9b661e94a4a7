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
// An eval --out directory, read: its name (the path given), run.json (null when absent),
// summary.json and traces.jsonl.
struct EvalDir {
  std::string path;
  nlohmann::json run, summary;
  std::string traces;
};
// Reads DIR/summary.json, DIR/traces.jsonl and DIR/run.json (optional) and checks the fields
// the report reads; errors name the file ("DIR/summary.json: run 2: ...").
EvalDir eval_dir_read(const std::string& dir);
// A short label for a directory: "MODEL" (the model directory's last component), with
// " / SET" (the data file's name without .jsonl) when it evaluated a file.
std::string eval_dir_label(const EvalDir& d);
// Several directories as one: configuration names become "LABEL: config" (unchanged for a
// single directory), in summary and traces alike.
void eval_dirs_merge(const std::vector<EvalDir>& dirs, nlohmann::json* summary,
                     std::string* traces);
// Markdown tables, one per task: a row per (directory, configuration) with pass@1, pass@k,
// mean thinking and generated tokens and answers per second.
std::string report_markdown(const std::vector<EvalDir>& dirs);
// text with the lines between the lines "<!-- NAME:begin -->" and "<!-- NAME:end -->"
// replaced by block (NAME: lower-case letters, digits and '-'); throws Error naming `where`
// when those lines are missing or out of order, or NAME is not such a name.
std::string report_splice(const std::string& text, const std::string& block,
                          const std::string& where, const std::string& name = "results");
// One generation's trace (generate --trace JSONL; several sequences allowed).
std::string trace_html(const std::string& trace_jsonl, const std::string& title);

// Pieces (tested): HTML escaping, and one generation (steps = trace records) as a chart + table.
std::string html_escape(const std::string& s);
std::string trace_section_html(const std::string& heading, const nlohmann::json& steps);

}  // namespace softslm
