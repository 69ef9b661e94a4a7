// The HTML report and trace viewer: well-formed, every section present, nothing external.
#include <gtest/gtest.h>

#include <vector>

#include "base/jsonl.h"
#include "report/report.h"

using namespace softslm;

// Checks that the tags we emit nest properly (void elements excepted).
static bool well_formed(const std::string& html, std::string* why) {
  std::vector<std::string> stack;
  const std::vector<std::string> voids = {"meta", "br", "circle", "rect", "line", "polyline",
                                          "!DOCTYPE"};
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string::npos) {
    size_t j = html.find('>', i);
    if (j == std::string::npos) return *why = "unterminated tag", false;
    std::string tag = html.substr(i + 1, j - i - 1);
    i = j + 1;
    bool closing = !tag.empty() && tag[0] == '/';
    bool self_closing = !tag.empty() && tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" /"));
    if (std::find(voids.begin(), voids.end(), name) != voids.end() || self_closing) continue;
    if (!closing) {
      stack.push_back(name);
    } else {
      if (stack.empty() || stack.back() != name)
        return *why = "unbalanced </" + name + ">", false;
      stack.pop_back();
    }
  }
  if (!stack.empty()) return *why = "unclosed <" + stack.back() + ">", false;
  return true;
}

static void expect_self_contained(const std::string& html) {
  for (const char* bad : {"<script", "<link", "src=", "href=", "@import", "url(", "http://", "https://"})
    EXPECT_EQ(html.find(bad), std::string::npos) << "external resource marker: " << bad;
}

static const char* kTrace =
    R"({"seq":0,"step":0,"phase":"thinking","soft":true,"token":5,"text":"4<","entropy":1.2,"concept":{"ids":[5,6],"texts":["4<","5&"],"weights":[0.7,0.3]},"switch":null}
{"seq":0,"step":1,"phase":"thinking","soft":false,"token":9,"text":"</think>","entropy":0.01,"concept":{"ids":[9],"texts":["</think>"],"weights":[1.0]},"switch":"cold_stop"}
{"seq":0,"step":2,"phase":"answer","soft":false,"token":3,"text":"42","entropy":0.2,"concept":{"ids":[3],"texts":["42"],"weights":[1.0]},"switch":null}
)";

TEST(Report, EvalReportHasEverySectionAndNothingExternal) {
  nlohmann::json summary = nlohmann::json::array();
  for (const char* name : {"greedy", "soft"})
    summary.push_back({{"config", name},
                       {"tasks",
                        {{"add", {{"n_examples", 10}, {"samples", 1}, {"pass1", 0.9}, {"passk", 0.9},
                                  {"mean_tokens", 40.0}, {"mean_tokens_correct", 39.0},
                                  {"mean_thinking_tokens", 35.0}, {"cold_stop_rate", 0.1},
                                  {"budget_rate", 0.0}}}}}});
  nlohmann::json row = {{"config", "soft"}, {"id", "add-test-0"}, {"prompt", "1+3="},
                        {"answer", "4"}, {"correct", true},
                        {"steps", nlohmann::json::array()}};
  for (const auto& r : jsonl_parse(kTrace, "t")) row["steps"].push_back(r);
  std::string html = report_html(summary, row.dump() + "\n", "report <test>");
  std::string why;
  EXPECT_TRUE(well_formed(html, &why)) << why;
  expect_self_contained(html);
  for (const char* section : {"<h2>Results</h2>", "<h2>Accuracy vs tokens</h2>",
                              "<h2>Example generations</h2>", "task: add", "<svg", "polyline",
                              "cold_stop", "report &lt;test&gt;", "4&lt;", "5&amp;", "0.700"})
    EXPECT_NE(html.find(section), std::string::npos) << section;
}

TEST(Report, TraceViewer) {
  std::string html = trace_html(kTrace, "trace.jsonl");
  std::string why;
  EXPECT_TRUE(well_formed(html, &why)) << why;
  expect_self_contained(html);
  EXPECT_NE(html.find("sequence 0 (3 steps)"), std::string::npos);
  EXPECT_NE(html.find("stroke-dasharray"), std::string::npos) << "switch marker";
  EXPECT_THROW(trace_html("{\"x\":1}\n", "t"), std::exception);
  EXPECT_THROW(trace_html("not json\n", "t"), std::exception);
}
