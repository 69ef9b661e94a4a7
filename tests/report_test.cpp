// The HTML report and trace viewer: well-formed, every section present, nothing external.
#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "base/jsonl.h"
#include "report/report.h"

using namespace softslm;

// Checks that the tags we emit nest properly (void elements excepted).
static bool well_formed(const std::string& html, std::string* why) {
  std::vector<std::string> stack;
  const std::vector<std::string> voids = {"meta", "br", "circle", "rect", "line", "polyline",
                                          "polygon", "!DOCTYPE"};
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
  for (const char* section : {"<h2 id=\"results\">Results</h2>", "<h2 id=\"tokens\">Accuracy vs thinking tokens</h2>",
                              "<h2 id=\"examples\">Example generations</h2>", "task: add", "<svg", "polyline",
                              "cold_stop", "report &lt;test&gt;", "4&lt;", "5&amp;", "0.700"})
    EXPECT_NE(html.find(section), std::string::npos) << section;
}

static nlohmann::json task_metrics(double pass1, double thinking) {
  return {{"n_examples", 4}, {"samples", 1}, {"pass1", pass1}, {"passk", pass1},
          {"mean_tokens", thinking + 3}, {"mean_tokens_correct", thinking + 3},
          {"mean_thinking_tokens", thinking}, {"cold_stop_rate", 0.0}, {"budget_rate", 0.0}};
}

static size_t count_of(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) n++;
  return n;
}

TEST(Report, ChartsHeatmapDifficultyBarsAndExamplesGroupedByPrompt) {
  nlohmann::json summary = nlohmann::json::array();
  const char* names[] = {"greedy", "soft", "model"};
  for (int i = 0; i < 3; i++)
    summary.push_back(
        {{"config", names[i]},
         {"seconds", 2.0},
         {"tasks", {{"add", task_metrics(0.5 + 0.2 * i, 40.0 - 10 * i)}, {"all", task_metrics(0.5, 40)}}},
         {"difficulties",
          {{"add", {{"10+1", {{"n_examples", 2}, {"pass1", 0.25 * i}}},
                    {"2+1", {{"n_examples", 2}, {"pass1", 1.0}}}}}}}});
  // one example under all three configurations: right under greedy and model, wrong under soft
  std::string traces;
  for (int i = 0; i < 3; i++) {
    nlohmann::json row = {{"config", names[i]}, {"id", "add-test-7"}, {"task", "add"},
                          {"prompt", "1+3="}, {"answer", "4"}, {"correct", i != 1},
                          {"steps", nlohmann::json::array()}};
    for (const auto& r : jsonl_parse(kTrace, "t")) row["steps"].push_back(r);
    traces += row.dump() + "\n";
  }
  std::string html = report_html(summary, traces, "t");
  std::string why;
  ASSERT_TRUE(well_formed(html, &why)) << why;
  expect_self_contained(html);
  // accuracy vs thinking tokens: three different marker shapes, and a legend naming each
  EXPECT_NE(html.find("mean thinking tokens"), std::string::npos);
  EXPECT_NE(html.find("<circle cx"), std::string::npos);
  EXPECT_NE(html.find("<rect x=\"" ), std::string::npos);
  EXPECT_NE(html.find("<polygon"), std::string::npos);
  EXPECT_NE(html.find("class=\"legend\""), std::string::npos);
  for (const char* n : {"greedy", "soft", "model"})
    EXPECT_NE(html.find(std::string(">") + n + " <span class=\"muted\">"), std::string::npos) << n;
  EXPECT_NE(html.find("90.0 %, 20.0 thinking"), std::string::npos);  // model: its values
  // answers per second: 4 examples x 1 sample in 2 s
  EXPECT_NE(html.find("<td>2.0</td></tr>"), std::string::npos);
  // per-difficulty bars, classes in numeric order (2+1 before 10+1), a bar per configuration
  const size_t bars = html.find("<h2 id=\"difficulty\">Accuracy by difficulty</h2>");
  ASSERT_NE(bars, std::string::npos);
  EXPECT_LT(html.find(">2+1</text>", bars), html.find(">10+1</text>", bars));
  EXPECT_NE(html.find("<title>model, 10+1: 50.0%</title>"), std::string::npos);
  // the example appears once, marked as a disagreement, with its three generations
  EXPECT_EQ(count_of(html, "add-test-7"), 1u);
  EXPECT_NE(html.find("class=\"ex dis\""), std::string::npos);
  EXPECT_EQ(count_of(html, "class=\"bad\">wrong"), 1u);
  EXPECT_EQ(count_of(html, "class=\"ok\">right"), 2u);
  // the emitted token under every step of the entropy chart (the soft one in bold)
  EXPECT_NE(html.find("rotate(-90)\" text-anchor=\"end\" font-weight=\"bold\">4&lt;</text>"),
            std::string::npos);
  EXPECT_NE(html.find("rotate(-90)\" text-anchor=\"end\">42</text>"), std::string::npos);
  // the heatmap: token text in cells, weight as colour (0.7 of the way to #4c78a8)
  EXPECT_NE(html.find("<table class=\"heat\">"), std::string::npos);
  EXPECT_NE(html.find("title=\"0.700\" style=\"background:rgb(130,161,194);color:#fff\">4&lt;</td>"),
            std::string::npos);
  EXPECT_NE(html.find("title=\"0.300\" style=\"background:rgb(201,215,229)\">5&amp;</td>"),
            std::string::npos);
}

TEST(Report, PlainDecodingReadsAsThinkingUpToTheEndTag) {
  // greedy decoding has no thinking phase in its trace: the steps up to </think> are its
  // thinking, shaded, in the heatmap and in the thinking text
  nlohmann::json steps = nlohmann::json::array();
  const char* texts[] = {"7", "+", "</think>", "9"};
  for (int i = 0; i < 4; i++)
    steps.push_back({{"step", i}, {"phase", "answer"}, {"soft", false}, {"text", texts[i]},
                     {"entropy", 0.1}, {"concept", {{"ids", {i}}, {"texts", {texts[i]}}, {"weights", {1.0}}}}});
  std::string html = trace_section_html("g", steps);
  EXPECT_NE(html.find("<b>thinking</b> <span class=\"tok\">7+&lt;/think&gt;</span><br><b>answer</b> "
                      "<span class=\"tok\">9</span>"), std::string::npos) << html;
  EXPECT_EQ(count_of(html, "fill=\"#eef3fb\""), 3u);  // three shaded steps
  EXPECT_NE(html.find("<th>2</th></tr>"), std::string::npos);  // heatmap columns end at step 2
  steps[2]["text"] = "x";  // no end tag: nothing is thinking
  html = trace_section_html("g", steps);
  EXPECT_EQ(count_of(html, "fill=\"#eef3fb\""), 0u);
  EXPECT_EQ(html.find("class=\"heat\""), std::string::npos);
}

TEST(Report, TitleNamesTheRun) {
  nlohmann::json run = {{"model", "models/default"}, {"tasks", {"add", "mul"}}, {"split", "test"},
                        {"n", 500}, {"data", ""}};
  EXPECT_EQ(report_title(run, "/tmp/x"),
            "softslm evaluation: models/default on add, mul (test split, 500 each)");
  run["data"] = "sets/ood.jsonl";
  EXPECT_EQ(report_title(run, "/tmp/x"), "softslm evaluation: models/default on sets/ood.jsonl");
  EXPECT_EQ(report_title(nullptr, "results/test"), "softslm evaluation: results/test");
}

TEST(Report, SeveralEvalDirsMergeIntoOneReportAndMarkdownTables) {
  EvalDir cot, ood;
  cot.path = "results/cot";
  cot.run = {{"model", "models/cot"}, {"data", ""}};
  ood.path = "results/cot-ood";
  ood.run = {{"model", "models/cot/"}, {"data", "data/tasks/add-ood.jsonl"}};
  nlohmann::json all = task_metrics(0.5, 40);
  for (EvalDir* d : {&cot, &ood}) {
    nlohmann::json m = task_metrics(d == &cot ? 0.975 : 0.0, 47.25);
    m["samples"] = d == &cot ? 4 : 1;
    d->summary = nlohmann::json::array({{{"config", "greedy"}, {"seconds", 4.0},
                                         {"tasks", {{"add", m}, {"all", all}}}}});
    d->traces = nlohmann::json({{"config", "greedy"}, {"id", d->path}, {"task", "add"},
                                {"prompt", "1+3="}, {"answer", "4"}, {"correct", true},
                                {"steps", nlohmann::json::array()}}).dump() + "\n";
  }
  EXPECT_EQ(eval_dir_label(cot), "cot");
  EXPECT_EQ(eval_dir_label(ood), "cot / add-ood");
  nlohmann::json summary;
  std::string traces;
  eval_dirs_merge({cot, ood}, &summary, &traces);
  ASSERT_EQ(summary.size(), 2u);
  EXPECT_EQ(summary[1]["config"], "cot / add-ood: greedy");
  EXPECT_NE(traces.find("\"config\":\"cot: greedy\""), std::string::npos);
  std::string why;
  EXPECT_TRUE(well_formed(report_html(summary, traces, "t"), &why)) << why;
  // a directory with another task: each task's legend names only the configurations in it
  EvalDir mul = cot;
  mul.path = "results/mul";
  mul.run = {{"model", "models/m"}, {"data", ""}};
  mul.summary[0]["tasks"] = {{"mul", task_metrics(0.5, 9)}, {"all", all}};
  eval_dirs_merge({cot, mul}, &summary, &traces);
  const std::string html = report_html(summary, traces, "t");
  const size_t add_at = html.find("<h3>task: add</h3><svg"), mul_at = html.find("<h3>task: mul</h3><svg");
  ASSERT_NE(add_at, std::string::npos);
  ASSERT_NE(mul_at, std::string::npos);
  const std::string add_legend = html.substr(add_at, html.find("</div>", add_at) - add_at);
  EXPECT_NE(add_legend.find("cot: greedy"), std::string::npos);
  EXPECT_EQ(add_legend.find("m: greedy"), std::string::npos);
  eval_dirs_merge({cot}, &summary, &traces);  // one directory: names unchanged
  EXPECT_EQ(summary[0]["config"], "greedy");
  const std::string md = report_markdown({cot, ood});
  EXPECT_NE(md.find("**add**"), std::string::npos) << md;
  EXPECT_NE(md.find("| cot | greedy | 4 | 97.5 % | 97.5 % (k=4) | 47.2 | 50.2 | 1.0 |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| cot / add-ood | greedy | 4 | 0.0 % |  | 47.2 |"), std::string::npos) << md;
  // splicing into a README: only the block between the markers changes
  const std::string readme = "# x\n<!-- results:begin -->\nold\nlines\n<!-- results:end -->\ntail\n";
  EXPECT_EQ(report_splice(readme, "new\n", "README.md"),
            "# x\n<!-- results:begin -->\nnew\n<!-- results:end -->\ntail\n");
  EXPECT_EQ(report_splice(report_splice(readme, "a", "R"), "b\n", "R"),
            "# x\n<!-- results:begin -->\nb\n<!-- results:end -->\ntail\n");
  try {
    report_splice("# no markers\n", "x", "README.md");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("README.md"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("results:begin"), std::string::npos) << e.what();
  }
  EXPECT_THROW(report_splice("<!-- results:end -->\n<!-- results:begin -->\n", "x", "R"), Error);
  // a mention of the markers inside a sentence is not the block
  EXPECT_EQ(report_splice("see `<!-- results:begin -->` and `<!-- results:end -->`.\n" + readme, "n\n", "R"),
            "see `<!-- results:begin -->` and `<!-- results:end -->`.\n# x\n<!-- results:begin -->\nn\n"
            "<!-- results:end -->\ntail\n");
  // a named block: only its own markers count, the results block stays
  const std::string two = readme + "<!-- recipes:begin -->\nr\n<!-- recipes:end -->\n";
  EXPECT_EQ(report_splice(two, "q\n", "R", "recipes"), readme + "<!-- recipes:begin -->\nq\n<!-- recipes:end -->\n");
  EXPECT_THROW(report_splice(readme, "q\n", "R", "recipes"), Error);
  EXPECT_THROW(report_splice(two, "q\n", "R", "Recipes -->"), Error);
  EXPECT_THROW(report_splice(two, "q\n", "R", ""), Error);
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
