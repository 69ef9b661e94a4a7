#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/io.h"
#include "base/jsonl.h"
#include "base/natural_order.h"

namespace softslm {

namespace {

const char* kCss = R"(
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1.05em;margin-top:1.6em}h4{margin:1.2em 0 .3em;font-size:.95em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.think{background:#eef3fb}.switch{background:#fff3cd}
.tok{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;overflow-wrap:anywhere}
.muted{color:#777}svg text{font-family:inherit;font-size:11px}.scroll{overflow-x:auto}
.legend{display:flex;flex-wrap:wrap;gap:.3em 1.4em;margin:.3em 0 1em;font-size:.9em}.legend span{white-space:nowrap}.legend svg{vertical-align:middle;margin-right:.3em}
table.heat{font-size:.8em}table.heat td{font-family:ui-monospace,Menlo,Consolas,monospace;text-align:center;min-width:1.6em;padding:.1em .25em;white-space:nowrap}table.heat td.soft{font-weight:bold}table.heat th{padding:.1em .3em}
.ex{border-left:3px solid #ddd;padding-left:.8em;margin:1.4em 0}.ex.dis{border-left-color:#f58518}.ok{color:#2e7d32}.bad{color:#c62828}
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

// A configuration's marker: colour i % 10, shape i % 6 (circle, square, triangle, diamond,
// inverted triangle, cross), so points stay apart even where colours look alike.
std::string marker_svg(int i, double x, double y, double r) {
  const std::string c = kColors[i % 10];
  const std::string style = "\" fill=\"" + c + "\" fill-opacity=\"0.85\" stroke=\"#fff\" stroke-width=\"1\"";
  auto poly = [&](std::initializer_list<std::pair<double, double>> pts) {
    std::string s = "<polygon points=\"";
    for (const auto& [dx, dy] : pts) s += fmt("%.1f", x + dx * r) + "," + fmt("%.1f", y + dy * r) + " ";
    return s + style + "/>";
  };
  switch (i % 6) {
    case 0: return "<circle cx=\"" + fmt("%.1f", x) + "\" cy=\"" + fmt("%.1f", y) + "\" r=\"" + fmt("%.1f", r) + style + "/>";
    case 1: return "<rect x=\"" + fmt("%.1f", x - r * 0.9) + "\" y=\"" + fmt("%.1f", y - r * 0.9) + "\" width=\"" + fmt("%.1f", 1.8 * r) + "\" height=\"" + fmt("%.1f", 1.8 * r) + style + "/>";
    case 2: return poly({{0, -1.2}, {1.1, 0.8}, {-1.1, 0.8}});
    case 3: return poly({{0, -1.3}, {1.1, 0}, {0, 1.3}, {-1.1, 0}});
    case 4: return poly({{0, 1.2}, {1.1, -0.8}, {-1.1, -0.8}});
    default:
      return poly({{-0.4, -1.1}, {0.4, -1.1}, {0.4, -0.4}, {1.1, -0.4}, {1.1, 0.4}, {0.4, 0.4},
                   {0.4, 1.1}, {-0.4, 1.1}, {-0.4, 0.4}, {-1.1, 0.4}, {-1.1, -0.4}, {-0.4, -0.4}});
  }
}

// One legend entry per configuration in `which` (its marker and name; extra[i] after it).
std::string legend_html(const std::vector<std::string>& names, const std::vector<int>& which,
                        const std::vector<std::string>& extra = {}) {
  std::string s = "<div class=\"legend\">";
  for (int i : which)
    s += "<span><svg width=\"14\" height=\"14\">" + marker_svg(i, 7, 7, 5) + "</svg>" +
         html_escape(names[i]) +
         ((size_t)i < extra.size() && !extra[i].empty()
              ? " <span class=\"muted\">" + html_escape(extra[i]) + "</span>"
              : "") +
         "</span>";
  return s + "</div>";
}

// A round axis step (1, 2 or 5 times a power of ten) giving at most `ticks` intervals up to
// `max`.
double nice_step(double max, int ticks) {
  const double raw = std::max(max, 1e-9) / ticks, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

struct Point {
  int config = 0;  // index into the report's configurations (marker and legend)
  double x = 0, y = 0;
  std::string label;
};

// pass@1 against mean thinking tokens, one marker per configuration.
std::string scatter_svg(const std::vector<Point>& pts) {
  const int W = 640, H = 300, L = 50, R = 20, T = 15, B = 40;
  double xmax = 1;
  for (const auto& p : pts) xmax = std::max(xmax, p.x);
  const double xstep = nice_step(xmax * 1.05, 5);
  xmax = xstep * std::ceil(xmax * 1.05 / xstep);
  std::string s = "<svg width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
                  "\" role=\"img\" aria-label=\"accuracy versus thinking tokens\">";
  int pw = W - L - R, ph = H - T - B;
  s += "<rect x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(T) + "\" width=\"" +
       std::to_string(pw) + "\" height=\"" + std::to_string(ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  for (int i = 0; i <= 4; i++) {
    double y = T + ph - ph * i / 4.0;
    s += "<line x1=\"" + std::to_string(L) + "\" x2=\"" + std::to_string(L + pw) + "\" y1=\"" +
         fmt("%.1f", y) + "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"#eee\"/>";
    s += "<text x=\"" + std::to_string(L - 6) + "\" y=\"" + fmt("%.1f", y + 4) +
         "\" text-anchor=\"end\">" + std::to_string(25 * i) + "%</text>";
  }
  for (double v = 0; v <= xmax + 1e-9; v += xstep)
    s += "<text x=\"" + fmt("%.1f", L + pw * v / xmax) + "\" y=\"" + std::to_string(H - B + 16) +
         "\" text-anchor=\"middle\">" + fmt(xstep < 1 ? "%.1f" : "%.0f", v) + "</text>";
  s += "<text x=\"" + std::to_string(L + pw / 2) + "\" y=\"" + std::to_string(H - 6) +
       "\" text-anchor=\"middle\">mean thinking tokens (concept tokens count one each)</text>";
  std::vector<std::pair<double, double>> placed;
  for (const auto& p : pts) {
    double x = L + pw * p.x / xmax, y = T + ph - ph * p.y;
    // markers that would cover an earlier one go round it, 9 px out, so every one shows
    int k = 0;
    for (const auto& [px, py] : placed) k += std::hypot(px - x, py - y) < 6;
    placed.push_back({x, y});
    if (k) x += 9 * std::cos(k * 1.0472), y += 9 * std::sin(k * 1.0472);
    s += "<g><title>" + html_escape(p.label) + ": " + fmt("%.1f", 100 * p.y) + "% at " +
         fmt("%.1f", p.x) + " thinking tokens</title>" + marker_svg(p.config, x, y, 6) + "</g>";
  }
  return s + "</svg>";
}

// Grouped bars: per difficulty class, pass@1 of each configuration in `which` (colour: its
// index, as its marker).
std::string difficulty_bars_svg(const std::vector<std::string>& classes,
                                const std::vector<std::vector<double>>& pass1,  // [class][config], < 0 absent
                                const std::vector<std::string>& names, const std::vector<int>& which) {
  const int nc = (int)which.size(), bw = std::max(4, std::min(14, 60 / std::max(1, nc)));
  const int gw = nc * bw + 14, L = 45, T = 10, ph = 160, B = 60;
  const int W = std::max(300, L + 10 + gw * (int)classes.size()), H = T + ph + B;
  std::string s = "<svg width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
                  "\" role=\"img\" aria-label=\"accuracy by difficulty\">";
  for (int i = 0; i <= 4; i++) {
    double y = T + ph - ph * i / 4.0;
    s += "<line x1=\"" + std::to_string(L) + "\" x2=\"" + std::to_string(W - 5) + "\" y1=\"" +
         fmt("%.1f", y) + "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"" + (i ? "#eee" : "#999") +
         "\"/><text x=\"" + std::to_string(L - 6) + "\" y=\"" + fmt("%.1f", y + 4) +
         "\" text-anchor=\"end\">" + std::to_string(25 * i) + "%</text>";
  }
  for (size_t g = 0; g < classes.size(); g++) {
    const int x0 = L + 10 + (int)g * gw;
    for (int k = 0; k < nc; k++) {
      const int c = which[k];
      const double v = pass1[g][c];
      if (v < 0) continue;
      const double h = std::max(1.0, ph * v);
      s += "<rect x=\"" + std::to_string(x0 + k * bw) + "\" y=\"" + fmt("%.1f", T + ph - h) +
           "\" width=\"" + std::to_string(bw - 1) + "\" height=\"" + fmt("%.1f", h) +
           "\" fill=\"" + kColors[c % 10] + "\"><title>" + html_escape(names[c]) + ", " +
           html_escape(classes[g]) + ": " + fmt("%.1f", 100 * v) + "%</title></rect>";
    }
    const double cx = x0 + nc * bw / 2.0;
    s += "<text transform=\"translate(" + fmt("%.1f", cx + 4) + "," + std::to_string(T + ph + 8) +
         ") rotate(-45)\" text-anchor=\"end\">" + html_escape(classes[g]) + "</text>";
  }
  return s + "</svg>";
}

// o[key] of a const object, null when absent (const operator[] asserts the key exists).
const nlohmann::json& field(const nlohmann::json& o, const char* key) {
  static const nlohmann::json kNull;
  auto it = o.find(key);
  return it == o.end() ? kNull : *it;
}

// A run's answers per second over all its tasks ("" when it recorded no time or no "all").
std::string answers_per_s(const nlohmann::json& run) {
  const auto& all = field(field(run, "tasks"), "all");
  const double secs = field(run, "seconds").is_number() ? run["seconds"].get<double>() : 0;
  if (!all.is_object() || secs <= 0) return "";
  return fmt("%.1f", all["n_examples"].get<double>() * all["samples"].get<double>() / secs);
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

// A token's text for a chart label or a heatmap cell: spaces and newlines made visible, at
// most `max` characters (UTF-8 sequences kept whole).
std::string token_label(const std::string& t, size_t max) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < t.size() && chars < max; chars++) {
    unsigned char c = (unsigned char)t[i];
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    std::string ch = t.substr(i, len);
    i += len;
    out += ch == " " ? "\u2423" : ch == "\n" ? "\u21b5" : ch;
  }
  return chars < max || out.size() >= t.size() ? out : out + "\u2026";
}

// Which steps are thinking: the trace's phase, or for plain decoding (no thinking phase)
// every step up to and including the first emitted </think>.
std::vector<bool> thinking_steps(const nlohmann::json& steps) {
  std::vector<bool> out(steps.size(), false);
  bool any = false;
  for (size_t i = 0; i < steps.size(); i++)
    any |= (out[i] = steps[i].value("phase", "") == "thinking");
  if (any) return out;
  for (size_t i = 0; i < steps.size(); i++) {
    out[i] = true;
    if (steps[i].value("text", "") == "</think>") return out;
  }
  return std::vector<bool>(steps.size(), false);  // no </think>: nothing reads as thinking
}

// Entropy over steps, the emitted token under each step; thinking steps shaded, switch points
// marked.
std::string entropy_svg(const nlohmann::json& steps) {
  const int n = (int)steps.size();
  if (n == 0) return "<p class=\"muted\">no steps</p>";
  const int L = 45, R = 10, T = 10, B = 78, ph = 140;
  const int W = std::max(600, L + R + 13 * n), H = T + ph + B;  // 13 px a step: every label fits
  double hmax = 0.1;
  for (const auto& st : steps) hmax = std::max(hmax, st.value("entropy", 0.0));
  hmax *= 1.1;
  int pw = W - L - R;
  auto X = [&](double i) { return L + pw * (n == 1 ? 0.5 : (i + 0.5) / n); };
  auto Y = [&](double h) { return T + ph - ph * h / hmax; };
  std::string s = "<div class=\"scroll\"><svg width=\"" + std::to_string(W) + "\" height=\"" +
                  std::to_string(H) + "\" role=\"img\" aria-label=\"entropy over steps\">";
  const double half = pw / (2.0 * n);
  const std::vector<bool> think = thinking_steps(steps);
  for (int i = 0; i < n; i++)
    if (think[i])
      s += "<rect x=\"" + fmt("%.1f", X(i) - half) + "\" y=\"" + std::to_string(T) + "\" width=\"" +
           fmt("%.1f", 2 * half) + "\" height=\"" + std::to_string(ph) + "\" fill=\"#eef3fb\"/>";
  s += "<rect x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(T) + "\" width=\"" +
       std::to_string(pw) + "\" height=\"" + std::to_string(ph) + "\" fill=\"none\" stroke=\"#999\"/>";
  for (int i = 0; i <= 2; i++)
    s += "<text x=\"" + std::to_string(L - 5) + "\" y=\"" + fmt("%.1f", Y(hmax / 1.1 * i / 2) + 4) +
         "\" text-anchor=\"end\">" + fmt("%.2f", hmax / 1.1 * i / 2) + "</text>";
  s += "<text x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(H - 4) +
       "\">entropy (nats) of each step's distribution; below, the emitted token (shaded: "
       "thinking; bold: a concept token was fed)</text>";
  std::string pts;
  for (int i = 0; i < n; i++) pts += fmt("%.1f", X(i)) + "," + fmt("%.1f", Y(steps[i].value("entropy", 0.0))) + " ";
  s += "<polyline fill=\"none\" stroke=\"#4c78a8\" stroke-width=\"1.5\" points=\"" + pts + "\"/>";
  for (int i = 0; i < n; i++) {
    s += "<circle cx=\"" + fmt("%.1f", X(i)) + "\" cy=\"" +
         fmt("%.1f", Y(steps[i].value("entropy", 0.0))) + "\" r=\"2\" fill=\"#4c78a8\"/>";
    const bool soft = steps[i].value("soft", false);
    s += "<text class=\"tok\" transform=\"translate(" + fmt("%.1f", X(i) + 4) + "," +
         std::to_string(T + ph + 6) + ") rotate(-90)\" text-anchor=\"end\"" +
         (soft ? " font-weight=\"bold\"" : "") + ">" +
         html_escape(token_label(steps[i].value("text", ""), 9)) + "</text>";
  }
  for (int i = 0; i < n; i++) {
    const auto& sw = field(steps[i], "switch");
    if (sw.is_string())
      s += "<line x1=\"" + fmt("%.1f", X(i) - half) + "\" x2=\"" + fmt("%.1f", X(i) - half) +
           "\" y1=\"" + std::to_string(T) + "\" y2=\"" + std::to_string(T + ph) +
           "\" stroke=\"#e45756\" stroke-dasharray=\"4 3\"/><text x=\"" +
           fmt("%.1f", X(i) - half + 3) + "\" y=\"" + std::to_string(T + 12) +
           "\" fill=\"#e45756\">" + html_escape(sw.get<std::string>()) + "</text>";
  }
  return s + "</svg></div>";
}

// The thinking steps' concept tokens as a top-K x step heatmap (a column per step, its K
// candidates down the rows): token text in the cells, weight as colour; a discrete step is
// one-hot.
std::string concept_heatmap_html(const nlohmann::json& steps) {
  const std::vector<bool> think = thinking_steps(steps);
  std::vector<size_t> cols;
  size_t K = 0;
  for (size_t i = 0; i < steps.size(); i++) {
    const auto& c = field(steps[i], "concept");
    if (think[i] && c.is_object() && field(c, "ids").is_array())
      K = std::max(K, c["ids"].size()), cols.push_back(i);
  }
  if (cols.empty() || !K) return "";
  std::string s = "<div class=\"scroll\"><table class=\"heat\"><tr><th class=\"l\">step</th>";
  for (size_t i : cols) s += "<th>" + std::to_string(steps[i].value("step", 0)) + "</th>";
  s += "</tr><tr><th class=\"l\">emitted</th>";
  for (size_t i : cols)
    s += std::string("<td") + (steps[i].value("soft", false) ? " class=\"soft\"" : "") + ">" +
         html_escape(token_label(steps[i].value("text", ""), 8)) + "</td>";
  s += "</tr>";
  for (size_t j = 0; j < K; j++) {
    s += "<tr><th class=\"l\">" + std::string(j == 0 ? "top " : "") + std::to_string(j + 1) + "</th>";
    for (size_t i : cols) {
      const auto& c = steps[i]["concept"];
      if (j >= c["ids"].size()) {
        s += "<td></td>";
        continue;
      }
      const double w = std::clamp(c["weights"][j].get<double>(), 0.0, 1.0);
      const std::string txt = field(c, "texts").is_array()
                                  ? c["texts"][j].get<std::string>()
                                  : "#" + std::to_string(c["ids"][j].get<long>());
      // white -> #4c78a8 by weight; white text on the dark end
      const int r = (int)std::lround(255 - (255 - 76) * w), g = (int)std::lround(255 - (255 - 120) * w),
                b = (int)std::lround(255 - (255 - 168) * w);
      s += "<td title=\"" + fmt("%.3f", w) + "\" style=\"background:rgb(" + std::to_string(r) + "," +
           std::to_string(g) + "," + std::to_string(b) + ")" + (w > 0.55 ? ";color:#fff" : "") +
           "\">" + html_escape(token_label(txt, 8)) + "</td>";
    }
    s += "</tr>";
  }
  return s + "</table></div><p class=\"muted\">Concept tokens of the thinking steps: a column "
             "per step (the emitted token on top, bold where a concept token was fed), its top-K "
             "candidates below, darker = more weight (hover for the value). A single dark cell "
             "is a one-hot step.</p>\n";
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

namespace {

// A generation's chart, texts and heatmap under a heading given as HTML.
std::string trace_section(const std::string& heading_html, const nlohmann::json& steps) {
  std::string s = "<h4>" + heading_html + "</h4>\n" + entropy_svg(steps);
  std::string thinking, answer;
  const std::vector<bool> think = thinking_steps(steps);
  for (size_t i = 0; i < steps.size(); i++)
    (think[i] ? thinking : answer) += steps[i].value("text", "");
  s += "<p><b>thinking</b> <span class=\"tok\">" + html_escape(thinking) +
       "</span><br><b>answer</b> <span class=\"tok\">" + html_escape(answer) + "</span></p>";
  return s + concept_heatmap_html(steps);
}

}  // namespace

std::string trace_section_html(const std::string& heading, const nlohmann::json& steps) {
  return trace_section(html_escape(heading), steps);
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
                     "trimmed, must equal the answer exactly. Thinking tokens are the positions "
                     "before <code>&lt;/think&gt;</code>: a concept token counts one.</p>\n"
                     "<h2 id=\"results\">Results</h2>\n";
  std::vector<std::string> names;  // configuration i: marker i in every chart
  for (const auto& run : summary) names.push_back(run["config"]);
  auto index_of = [&](const std::string& name) {
    return (int)(std::find(names.begin(), names.end(), name) - names.begin());
  };
  std::vector<std::string> tasks;
  for (const auto& run : summary)
    for (const auto& [task, m] : run["tasks"].items())
      if (task != "all" && std::find(tasks.begin(), tasks.end(), task) == tasks.end())
        tasks.push_back(task);
  std::sort(tasks.begin(), tasks.end());
  std::string scatter, bars;
  for (const auto& task : tasks) {
    body += "<h3>task: " + html_escape(task) + "</h3><table><tr><th class=\"l\">configuration</th>"
            "<th>n</th><th>pass@1</th><th>pass@k</th><th>thinking tokens</th><th>tokens</th>"
            "<th>tokens (correct)</th><th>cold stop</th><th>budget hit</th><th>answers/s</th></tr>";
    std::vector<Point> pts;
    std::vector<std::string> extra(names.size());
    for (size_t r = 0; r < summary.size(); r++) {
      const auto& run = summary[r];
      if (!run["tasks"].contains(task)) continue;
      const auto& m = run["tasks"][task];
      const std::string& name = names[r];
      // answers per second over the whole run (every task), when the run recorded its time
      const std::string aps = answers_per_s(run);
      body += "<tr><td class=\"l\">" + html_escape(name) + "</td><td>" +
              std::to_string(m["n_examples"].get<int>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["pass1"].get<double>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["passk"].get<double>()) + " (k=" +
              std::to_string(m["samples"].get<int>()) + ")</td><td>" +
              fmt("%.1f", m["mean_thinking_tokens"].get<double>()) + "</td><td>" +
              fmt("%.1f", m["mean_tokens"].get<double>()) + "</td><td>" +
              fmt("%.1f", m["mean_tokens_correct"].get<double>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["cold_stop_rate"].get<double>()) + "</td><td>" +
              fmt("%.1f %%", 100 * m["budget_rate"].get<double>()) + "</td><td>" + aps +
              "</td></tr>";
      pts.push_back({(int)r, m["mean_thinking_tokens"].get<double>(), m["pass1"].get<double>(), name});
      extra[r] = fmt("%.1f %%", 100 * m["pass1"].get<double>()) + ", " +
                 fmt("%.1f", m["mean_thinking_tokens"].get<double>()) + " thinking";
    }
    body += "</table>\n";
    std::vector<int> present;
    for (const auto& p : pts) present.push_back(p.config);
    scatter += "<h3>task: " + html_escape(task) + "</h3>" + scatter_svg(pts) +
               legend_html(names, present, extra) + "\n";
    // per-difficulty bars, when the runs recorded classes for this task
    std::vector<std::string> classes;
    for (const auto& run : summary) {
      const auto& d = field(field(run, "difficulties"), task.c_str());
      if (d.is_object())
        for (const auto& [cls, m] : d.items())
          if (std::find(classes.begin(), classes.end(), cls) == classes.end()) classes.push_back(cls);
    }
    if (!classes.empty()) {
      std::sort(classes.begin(), classes.end(), natural_less);
      std::vector<std::vector<double>> v(classes.size(), std::vector<double>(names.size(), -1));
      for (size_t r = 0; r < summary.size(); r++) {
        const auto& d = field(field(summary[r], "difficulties"), task.c_str());
        if (!d.is_object()) continue;
        for (size_t g = 0; g < classes.size(); g++) {
          const auto& m = field(d, classes[g].c_str());
          if (m.is_object() && field(m, "pass1").is_number()) v[g][r] = m["pass1"].get<double>();
        }
      }
      std::vector<int> with_classes;
      for (size_t r = 0; r < summary.size(); r++)
        if (field(field(summary[r], "difficulties"), task.c_str()).is_object())
          with_classes.push_back((int)r);
      bars += "<h3>task: " + html_escape(task) + "</h3><div class=\"scroll\">" +
              difficulty_bars_svg(classes, v, names, with_classes) + "</div>" +
              legend_html(names, with_classes) + "\n";
    }
  }
  body += "<h2 id=\"tokens\">Accuracy vs thinking tokens</h2>\n<p class=\"muted\">pass@1 against mean "
          "thinking tokens, one marker per configuration (hover for the values; markers that "
          "coincide are set around their point); up and to the left is better.</p>\n" + scatter;
  if (!bars.empty())
    body += "<h2 id=\"difficulty\">Accuracy by difficulty</h2>\n<p class=\"muted\">pass@1 per difficulty class "
            "(add and mul: digit counts of the operands; path: the answer's depth), one bar per "
            "configuration.</p>\n" + bars;
  body += "<h2 id=\"examples\">Example generations</h2>\n<p class=\"muted\">Per task, the examples where the "
          "configurations disagree (right under one, wrong under another) come first. Each "
          "configuration's generation: the entropy of the next-token distribution at every "
          "step with the emitted token below it (shaded: thinking; dashed: a phase switch and "
          "its reason), then the concept tokens of its thinking steps.</p>\n";
  // rows are example-major (eval_traces_jsonl); group them by task, then example
  std::vector<std::string> row_tasks;
  std::map<std::string, std::vector<std::vector<size_t>>> groups;  // task -> examples -> rows
  std::map<std::string, std::pair<std::string, size_t>> slot;  // id + prompt -> its example
  for (size_t i = 0; i < rows.size(); i++) {
    const std::string task = rows[i].value("task", "");
    if (!groups.count(task)) row_tasks.push_back(task);
    auto& g = groups[task];
    const std::string key = task + "\n" + rows[i].value("id", "") + "\n" + rows[i].value("prompt", "");
    auto it = slot.find(key);
    if (it != slot.end()) {
      groups[it->second.first][it->second.second].push_back(i);
    } else {
      slot[key] = {task, g.size()};
      g.push_back({i});
    }
  }
  for (const auto& task : row_tasks) {
    if (!task.empty()) body += "<h3>task: " + html_escape(task) + "</h3>\n";
    for (const auto& ex : groups[task]) {
      const nlohmann::json& first = rows[ex.front()];
      bool right = false, wrong = false;
      for (size_t i : ex) (rows[i].value("correct", false) ? right : wrong) = true;
      const bool dis = right && wrong;
      body += std::string("<div class=\"ex") + (dis ? " dis" : "") + "\"><p><b>" +
              html_escape(first.value("id", "")) + "</b> <span class=\"tok\">" +
              html_escape(first.value("prompt", "")) + "</span> &rarr; <span class=\"tok\">" +
              html_escape(first.value("answer", "")) + "</span>" +
              (dis ? " <span class=\"muted\">(the configurations disagree)</span>" : "") + "</p>\n";
      for (size_t i : ex) {
        const nlohmann::json& row = rows[i];
        const std::string cfg = row.value("config", "");
        const bool ok = row.value("correct", false);
        const int mi = index_of(cfg);
        body += "<div>" + trace_section("<svg width=\"14\" height=\"14\">" +
                                            marker_svg(mi, 7, 7, 5) + "</svg> " + html_escape(cfg) +
                                            (ok ? ": <span class=\"ok\">right</span>"
                                                : ": <span class=\"bad\">wrong</span>"),
                                        row["steps"]) +
                "</div>\n";
      }
      body += "</div>\n";
    }
  }
  return page(title, body);
}

EvalDir eval_dir_read(const std::string& dir) {
  EvalDir d;
  d.path = dir;
  auto parse = [&](const std::string& path) {
    try {
      return nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception&) {
      fail(path, ": not valid JSON");
    }
  };
  check(file_exists(dir + "/summary.json"), dir,
        "/summary.json: not found (not an eval --out directory?)");
  d.summary = parse(dir + "/summary.json");
  d.traces = read_file(dir + "/traces.jsonl");
  if (file_exists(dir + "/run.json")) d.run = parse(dir + "/run.json");
  try {
    std::vector<int> lines;
    check_report_inputs(d.summary, jsonl_parse(d.traces, "traces.jsonl", &lines), lines);
  } catch (const Error& e) {  // "summary.json: ..." / "traces.jsonl:3: ...": name the dir
    fail(dir, "/", e.what());
  }
  return d;
}

std::string eval_dir_label(const EvalDir& d) {
  auto last = [](std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    const size_t at = p.find_last_of('/');
    return at == std::string::npos ? p : p.substr(at + 1);
  };
  if (!d.run.is_object() || !field(d.run, "model").is_string()) return last(d.path);
  std::string label = last(d.run["model"].get<std::string>());
  if (field(d.run, "data").is_string() && !d.run["data"].get<std::string>().empty()) {
    std::string set = last(d.run["data"].get<std::string>());
    if (set.size() > 6 && set.compare(set.size() - 6, 6, ".jsonl") == 0) set.resize(set.size() - 6);
    label += " / " + set;
  }
  return label;
}

void eval_dirs_merge(const std::vector<EvalDir>& dirs, nlohmann::json* summary,
                     std::string* traces) {
  *summary = nlohmann::json::array();
  traces->clear();
  for (const EvalDir& d : dirs) {
    const std::string prefix = dirs.size() > 1 ? eval_dir_label(d) + ": " : "";
    check(d.summary.is_array(), d.path, "/summary.json: expected the array written by softslm eval");
    for (nlohmann::json run : d.summary) {
      if (run.is_object() && field(run, "config").is_string())
        run["config"] = prefix + run["config"].get<std::string>();
      summary->push_back(run);
    }
    std::vector<int> lines;
    for (nlohmann::json row : jsonl_parse(d.traces, d.path + "/traces.jsonl", &lines)) {
      if (row.is_object() && field(row, "config").is_string())
        row["config"] = prefix + row["config"].get<std::string>();
      *traces += row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
  }
}

std::string report_markdown(const std::vector<EvalDir>& dirs) {
  std::vector<std::string> tasks;
  for (const EvalDir& d : dirs)
    for (const auto& run : d.summary)
      for (const auto& [task, m] : field(run, "tasks").items())
        if (task != "all" && std::find(tasks.begin(), tasks.end(), task) == tasks.end())
          tasks.push_back(task);
  std::sort(tasks.begin(), tasks.end());
  std::string s;
  for (const auto& task : tasks) {
    s += (s.empty() ? "" : "\n") + std::string("**") + task + "**\n\n"
         "| model / set | decoding | n | pass@1 | pass@k | thinking tokens | generated tokens | "
         "answers/s |\n|---|---|---|---|---|---|---|---|\n";
    for (const EvalDir& d : dirs)
      for (const auto& run : d.summary) {
        const auto& m = field(field(run, "tasks"), task.c_str());
        if (!m.is_object()) continue;
        const std::string aps = answers_per_s(run);
        const int k = m["samples"].get<int>();
        s += "| " + eval_dir_label(d) + " | " + run["config"].get<std::string>() + " | " +
             std::to_string(m["n_examples"].get<int>()) + " | " +
             fmt("%.1f %%", 100 * m["pass1"].get<double>()) + " | " +
             (k > 1 ? fmt("%.1f %%", 100 * m["passk"].get<double>()) + " (k=" + std::to_string(k) + ")" : "") +
             " | " + fmt("%.1f", m["mean_thinking_tokens"].get<double>()) + " | " +
             fmt("%.1f", m["mean_tokens"].get<double>()) + " | " + aps + " |\n";
      }
  }
  return s;
}

std::string report_splice(const std::string& text, const std::string& block,
                          const std::string& where, const std::string& name) {
  bool ok = !name.empty();
  for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  check(ok, "README block name \"", name, "\": use lower-case letters, digits and '-'");
  // the markers are lines of their own (a mention inside a sentence is left alone)
  const std::string begin = "<!-- " + name + ":begin -->", end = "<!-- " + name + ":end -->";
  auto line_at = [&](const std::string& marker, size_t from) {
    for (size_t at = text.find(marker, from); at != std::string::npos;
         at = text.find(marker, at + 1)) {
      const size_t after = at + marker.size();
      if ((at == 0 || text[at - 1] == '\n') && (after == text.size() || text[after] == '\n'))
        return at;
    }
    return std::string::npos;
  };
  const size_t b = line_at(begin, 0);
  const size_t e = b == std::string::npos ? std::string::npos : line_at(end, b);
  check(b != std::string::npos && e != std::string::npos, where, ": no \"", begin, "\" ... \"",
        end, "\" lines around a block to replace");
  std::string out = text.substr(0, b + begin.size()) + "\n" + block;
  if (!block.empty() && block.back() != '\n') out += '\n';
  return out + text.substr(e);
}

std::string report_title(const nlohmann::json& run, const std::string& fallback) {
  if (!run.is_object() || !field(run, "model").is_string()) return "softslm evaluation: " + fallback;
  std::string t = "softslm evaluation: " + run["model"].get<std::string>();
  if (field(run, "data").is_string() && !run["data"].get<std::string>().empty()) {
    t += " on " + run["data"].get<std::string>();
  } else if (field(run, "tasks").is_array()) {
    std::string ts;
    for (const auto& x : run["tasks"])
      if (x.is_string()) ts += (ts.empty() ? "" : ", ") + x.get<std::string>();
    t += " on " + ts;
    if (field(run, "split").is_string() && field(run, "n").is_number_integer())
      t += " (" + run["split"].get<std::string>() + " split, " +
           std::to_string(run["n"].get<long>()) + " each)";
  }
  return t;
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
