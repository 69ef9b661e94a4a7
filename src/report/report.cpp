#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/jsonl.h"

namespace softslm {

namespace {

const char* kCss = R"(
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1.05em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.think{background:#eef3fb}.switch{background:#fff3cd}
.tok{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}.bar{display:inline-block;height:.7em;background:#4c78a8;vertical-align:middle;margin-right:.3em}
.concept span.c{display:inline-block;margin-right:.8em}.muted{color:#777}svg text{font-family:inherit;font-size:11px}
details{margin:.4em 0}summary{cursor:pointer}
)";

const char* kColors[] = {"#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2",
                         "#ff9da6", "#9d755d", "#bab0ac", "#eeca3b"};

std::string fmt(const char* f, double x) {
  char b[64];
  std::snprintf(b, sizeof b, f, x);
  return b;
}

std::string page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
         html_escape(title) + "</title><style>" + kCss + "</style></head><body>\n<h1>" +
         html_escape(title) + "</h1>\n" + body + "</body></html>\n";
}

// Accuracy (pass@1) against mean generated tokens, one point per configuration.
std::string scatter_svg(const std::vector<std::pair<std::string, std::pair<double, double>>>& pts) {
  const int W = 520, H = 300, L = 50, R = 160, T = 15, B = 40;
  double xmax = 1;
  for (const auto& p : pts) xmax = std::max(xmax, p.second.first);
  xmax *= 1.1;
  std::string s = "<svg width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
                  "\" role=\"img\" aria-label=\"accuracy versus tokens\">";
  int pw = W - L - R, ph = H - T - B;
  s += "<rect x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(T) + "\" width=\"" +
       std::to_string(pw) + "\" height=\"" + std::to_string(ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  for (int i = 0; i <= 4; i++) {
    double y = T + ph - ph * i / 4.0;
    s += "<text x=\"" + std::to_string(L - 6) + "\" y=\"" + fmt("%.1f", y + 4) +
         "\" text-anchor=\"end\">" + std::to_string(25 * i) + "%</text>";
    double x = L + pw * i / 4.0;
    s += "<text x=\"" + fmt("%.1f", x) + "\" y=\"" + std::to_string(H - B + 16) +
         "\" text-anchor=\"middle\">" + fmt("%.0f", xmax * i / 4.0) + "</text>";
  }
  s += "<text x=\"" + std::to_string(L + pw / 2) + "\" y=\"" + std::to_string(H - 6) +
       "\" text-anchor=\"middle\">mean generated tokens</text>";
  for (size_t i = 0; i < pts.size(); i++) {
    double x = L + pw * pts[i].second.first / xmax, y = T + ph - ph * pts[i].second.second;
    const char* c = kColors[i % 10];
    s += "<circle cx=\"" + fmt("%.1f", x) + "\" cy=\"" + fmt("%.1f", y) + "\" r=\"5\" fill=\"" + c +
         "\"><title>" + html_escape(pts[i].first) + ": " + fmt("%.1f", 100 * pts[i].second.second) +
         "% at " + fmt("%.1f", pts[i].second.first) + " tokens</title></circle>";
    s += "<circle cx=\"" + std::to_string(W - R + 12) + "\" cy=\"" + std::to_string(T + 8 + 16 * (int)i) +
         "\" r=\"5\" fill=\"" + c + "\"/><text x=\"" + std::to_string(W - R + 22) + "\" y=\"" +
         std::to_string(T + 12 + 16 * (int)i) + "\">" + html_escape(pts[i].first) + "</text>";
  }
  return s + "</svg>";
}

// o[key] of a const object, null when absent (const operator[] asserts the key exists).
const nlohmann::json& field(const nlohmann::json& o, const char* key) {
  static const nlohmann::json kNull;
  auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

// A trace record's fields have the types trace_section_html reads (all optional but these
// types when present, null only for switch and concept; a concept's weights and texts as long
// as its ids). Errors name `where`.
void check_trace_step(const nlohmann::json& st, const std::string& where) {
  check(st.is_object(), where, ": a trace step must be a JSON object");
  auto want = [&](const char* key, bool (nlohmann::json::*is)() const noexcept, const char* what,
                  bool null_ok = false) {
    auto it = st.find(key);
    check(it == st.end() || (null_ok && it->is_null()) || ((*it).*is)(), where, ": \"", key,
          "\" must be ", what);
  };
  using J = nlohmann::json;
  want("seq", &J::is_number_integer, "an integer");
  want("step", &J::is_number_integer, "an integer");
  want("entropy", &J::is_number, "a number");
  want("phase", &J::is_string, "a string");
  want("text", &J::is_string, "a string");
  want("soft", &J::is_boolean, "true or false");
  want("switch", &J::is_string, "a string or null", true);
  want("concept", &J::is_object, "an object or null", true);
  const nlohmann::json& c = field(st, "concept");
  if (!c.is_object() || !field(c, "ids").is_array()) return;
  const size_t n = c["ids"].size();
  const nlohmann::json& w = field(c, "weights");
  check(w.is_array() && w.size() == n &&
            std::all_of(w.begin(), w.end(), [](const J& x) { return x.is_number(); }),
        where, ": concept \"weights\" must be ", n, " numbers (one per id)");
  const nlohmann::json& t = field(c, "texts");
  check(t.is_null() || (t.is_array() && t.size() == n &&
                        std::all_of(t.begin(), t.end(), [](const J& x) { return x.is_string(); })),
        where, ": concept \"texts\" must be ", n, " strings (one per id)");
}

// Entropy over steps; thinking steps shaded, switch points marked.
std::string entropy_svg(const nlohmann::json& steps) {
  const int W = 900, H = 180, L = 45, R = 10, T = 10, B = 30;
  const int n = (int)steps.size();
  if (n == 0) return "<p class=\"muted\">no steps</p>";
  double hmax = 0.1;
  for (const auto& st : steps) hmax = std::max(hmax, st.value("entropy", 0.0));
  hmax *= 1.1;
  int pw = W - L - R, ph = H - T - B;
  auto X = [&](double i) { return L + pw * (n == 1 ? 0.5 : i / (n - 1)); };
  auto Y = [&](double h) { return T + ph - ph * h / hmax; };
  std::string s = "<svg width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
                  "\" role=\"img\" aria-label=\"entropy over steps\">";
  double half = n > 1 ? pw / (2.0 * (n - 1)) : pw / 2.0;
  for (int i = 0; i < n; i++)
    if (steps[i].value("phase", "") == "thinking")
      s += "<rect x=\"" + fmt("%.1f", X(i) - half) + "\" y=\"" + std::to_string(T) + "\" width=\"" +
           fmt("%.1f", 2 * half) + "\" height=\"" + std::to_string(ph) + "\" fill=\"#eef3fb\"/>";
  s += "<rect x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(T) + "\" width=\"" +
       std::to_string(pw) + "\" height=\"" + std::to_string(ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  for (int i = 0; i <= 2; i++)
    s += "<text x=\"" + std::to_string(L - 5) + "\" y=\"" + fmt("%.1f", Y(hmax / 1.1 * i / 2) + 4) +
         "\" text-anchor=\"end\">" + fmt("%.2f", hmax / 1.1 * i / 2) + "</text>";
  s += "<text x=\"" + std::to_string(L + pw / 2) + "\" y=\"" + std::to_string(H - 4) +
       "\" text-anchor=\"middle\">step (shaded: thinking); entropy in nats</text>";
  std::string pts;
  for (int i = 0; i < n; i++) pts += fmt("%.1f", X(i)) + "," + fmt("%.1f", Y(steps[i].value("entropy", 0.0))) + " ";
  s += "<polyline fill=\"none\" stroke=\"#4c78a8\" stroke-width=\"1.5\" points=\"" + pts + "\"/>";
  for (int i = 0; i < n; i++) {
    const auto& sw = field(steps[i], "switch");
    if (sw.is_string())
      s += "<line x1=\"" + fmt("%.1f", X(i)) + "\" x2=\"" + fmt("%.1f", X(i)) + "\" y1=\"" +
           std::to_string(T) + "\" y2=\"" + std::to_string(T + ph) +
           "\" stroke=\"#e45756\" stroke-dasharray=\"4 3\"/><text x=\"" + fmt("%.1f", X(i) + 3) +
           "\" y=\"" + std::to_string(T + 12) + "\" fill=\"#e45756\">" +
           html_escape(sw.get<std::string>()) + "</text>";
  }
  return s + "</svg>";
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string trace_section_html(const std::string& heading, const nlohmann::json& steps) {
  std::string s = "<h3>" + html_escape(heading) + "</h3>\n" + entropy_svg(steps);
  std::string thinking, answer;
  for (const auto& st : steps)
    (st.value("phase", "") == "thinking" ? thinking : answer) += st.value("text", "");
  s += "<p><b>thinking</b> <span class=\"tok\">" + html_escape(thinking) +
       "</span><br><b>answer</b> <span class=\"tok\">" + html_escape(answer) + "</span></p>";
  s += "<details><summary>concept tokens of each step</summary><table><tr><th>step</th>"
       "<th class=\"l\">phase</th><th class=\"l\">emitted</th><th>entropy</th><th class=\"l\">"
       "concept (top-K, weights)</th></tr>";
  for (const auto& st : steps) {
    bool think = st.value("phase", "") == "thinking";
    const nlohmann::json& sw_reason = field(st, "switch");
    bool sw = sw_reason.is_string();
    s += std::string("<tr class=\"") + (sw ? "switch" : think ? "think" : "") + "\"><td>" +
         std::to_string(st.value("step", 0)) + "</td><td class=\"l\">" +
         (think ? (st.value("soft", false) ? "thinking (soft)" : "thinking") : "answer") +
         (sw ? " &rarr; " + html_escape(sw_reason.get<std::string>()) : "") +
         "</td><td class=\"l tok\">" + html_escape(st.value("text", "")) + "</td><td>" +
         fmt("%.3f", st.value("entropy", 0.0)) + "</td><td class=\"l concept\">";
    const auto& c = field(st, "concept");
    if (c.is_object() && field(c, "ids").is_array())
      for (size_t j = 0; j < c["ids"].size(); j++) {
        double w = c["weights"][j].get<double>();
        std::string txt = field(c, "texts").is_array() ? c["texts"][j].get<std::string>() : "";
        s += "<span class=\"c\"><span class=\"bar\" style=\"width:" + fmt("%.0f", 4 + 60 * w) +
             "px\"></span><span class=\"tok\">" + html_escape(txt) + "</span> " + fmt("%.3f", w) +
             "</span>";
      }
    s += "</td></tr>";
  }
  return s + "</table></details>\n";
}

// The fields report_html reads, with their types; errors name "summary.json" / "traces.jsonl"
// (the files of an eval directory) and the run or line.
static void check_report_inputs(const nlohmann::json& summary,
                                const std::vector<nlohmann::json>& rows,
                                const std::vector<int>& lines) {
  check(summary.is_array(), "summary.json: expected the array written by softslm eval");
  for (size_t r = 0; r < summary.size(); r++) {
    const nlohmann::json& run = summary[r];
    const std::string where = "summary.json: run " + std::to_string(r + 1);
    check(run.is_object() && field(run, "config").is_string() && field(run, "tasks").is_object(),
          where, ": expected {\"config\": string, \"tasks\": {...}}");
    for (const auto& [task, m] : run["tasks"].items()) {
      check(m.is_object(), where, ": task '", task, "' must be an object");
      for (const char* key : {"n_examples", "samples"})
        check(field(m, key).is_number_integer(), where, ": task '", task, "': \"", key,
              "\" must be an integer");
      for (const char* key : {"pass1", "passk", "mean_tokens", "mean_tokens_correct",
                              "mean_thinking_tokens", "cold_stop_rate", "budget_rate"})
        check(field(m, key).is_number(), where, ": task '", task, "': \"", key,
              "\" must be a number");
    }
  }
  for (size_t i = 0; i < rows.size(); i++) {
    const nlohmann::json& row = rows[i];
    const std::string where = "traces.jsonl:" + std::to_string(lines[i]);
    check(row.is_object() && field(row, "steps").is_array(), where,
          ": expected an object with a \"steps\" array");
    for (const char* key : {"config", "id", "prompt", "answer"})
      check(field(row, key).is_null() || field(row, key).is_string(), where, ": \"", key,
            "\" must be a string");
    check(field(row, "correct").is_null() || field(row, "correct").is_boolean(), where,
          ": \"correct\" must be true or false");
    for (const auto& st : row["steps"]) check_trace_step(st, where);
  }
}

std::string report_html(const nlohmann::json& summary, const std::string& traces_jsonl,
                        const std::string& title) {
  std::vector<int> lines;
  const std::vector<nlohmann::json> rows = jsonl_parse(traces_jsonl, "traces.jsonl", &lines);
  check_report_inputs(summary, rows, lines);
  std::string body = "<p class=\"muted\">softslm evaluation report. Accuracy is pass@1 under "
                     "one strict rule for every configuration: the text after "
                     "<code>&lt;/think&gt;</code> up to <code>&lt;|endoftext|&gt;</code>, "
                     "trimmed, must equal the answer exactly.</p>\n<h2>Results</h2>\n";
  std::set<std::string> tasks;
  for (const auto& run : summary)
    for (const auto& [task, m] : run["tasks"].items()) tasks.insert(task);
  std::string scatter;
  for (const auto& task : tasks) {
    body += "<h3>task: " + html_escape(task) + "</h3><table><tr><th class=\"l\">configuration</th>"
            "<th>n</th><th>pass@1</th><th>pass@k</th><th>mean tokens</th><th>tokens (correct)"
            "</th><th>thinking tokens</th><th>cold stop</th><th>budget hit</th></tr>";
    std::vector<std::pair<std::string, std::pair<double, double>>> pts;
    for (const auto& run : summary) {
      if (!run["tasks"].contains(task)) continue;
      const auto& m = run["tasks"][task];
      std::string name = run["config"];
      body += "<tr><td class=\"l\">" + html_escape(name) + "</td><td>" +
              std::to_string(m["n_examples"].get<int>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["pass1"].get<double>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["passk"].get<double>()) + " (k=" +
              std::to_string(m["samples"].get<int>()) + ")</td><td>" +
              fmt("%.1f", m["mean_tokens"].get<double>()) + "</td><td>" +
              fmt("%.1f", m["mean_tokens_correct"].get<double>()) + "</td><td>" +
              fmt("%.1f", m["mean_thinking_tokens"].get<double>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["cold_stop_rate"].get<double>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["budget_rate"].get<double>()) + "</td></tr>";
      pts.push_back({name, {m["mean_tokens"].get<double>(), m["pass1"].get<double>()}});
    }
    body += "</table>\n";
    scatter += "<h3>task: " + html_escape(task) + "</h3>" + scatter_svg(pts) + "\n";
  }
  body += "<h2>Accuracy vs tokens</h2>\n<p class=\"muted\">pass@1 against mean generated tokens "
          "(thinking and answer), one point per configuration.</p>\n" + scatter;
  body += "<h2>Example generations</h2>\n<p class=\"muted\">Entropy of the next-token "
          "distribution at each step; shaded steps are in the thinking phase; dashed lines mark "
          "phase switches and their reason. Expand a table for the concept tokens (top-K ids with "
          "their weights) fed at each soft step.</p>\n";
  for (const auto& row : rows) {
    std::string head = row.value("config", "") + " | " + row.value("id", "") + " | " +
                       row.value("prompt", "") + " | answer " + row.value("answer", "") +
                       (row.value("correct", false) ? " (correct)" : " (wrong)");
    body += trace_section_html(head, row["steps"]);
  }
  return page(title, body);
}

std::string trace_html(const std::string& trace_jsonl, const std::string& title) {
  std::map<int, nlohmann::json> by_seq;
  std::vector<int> lines;
  const std::vector<nlohmann::json> rows = jsonl_parse(trace_jsonl, title, &lines);
  for (size_t i = 0; i < rows.size(); i++) {
    const nlohmann::json& r = rows[i];
    check(r.is_object() && r.contains("step") && r.contains("entropy"), title,
          ": not a softslm trace (rows need step and entropy)");
    check_trace_step(r, title + ":" + std::to_string(lines[i]));
    int seq = r.value("seq", 0);
    if (!by_seq.count(seq)) by_seq[seq] = nlohmann::json::array();
    by_seq[seq].push_back(r);
  }
  check(!by_seq.empty(), title, ": empty trace");
  std::string body;
  for (const auto& [seq, steps] : by_seq)
    body += trace_section_html("sequence " + std::to_string(seq) + " (" +
                                   std::to_string(steps.size()) + " steps)",
                               steps);
  return page("softslm trace: " + title, body);
}

}  // namespace softslm
