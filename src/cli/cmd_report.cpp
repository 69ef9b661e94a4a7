// softslm report / viz: the HTML report of an eval directory, and a single trace's chart.
#include "base/error.h"
#include "base/io.h"
#include "cli/commands.h"
#include "report/report.h"

namespace softslm {

void register_report(CLI::App& app) {
  struct ReportArgs {
    std::vector<std::string> evals;
    std::string out, title, markdown, readme, block = "results";
  };
  auto a = std::make_shared<ReportArgs>();
  CLI::App* r = app.add_subcommand(
      "report", "HTML report of eval output directories (several: one report, configurations "
                "named after their model and set), and their Markdown tables");
  r->add_option("--eval", a->evals, "Directory written by softslm eval --out (repeatable)")
      ->required();
  r->add_option("-o,--out", a->out, "Output HTML file");
  r->add_option("--title", a->title,
                "Title (default: the model and the sets evaluated, from each directory's run.json)");
  r->add_option("--markdown", a->markdown, "Also write the results as Markdown tables here");
  r->add_option("--readme", a->readme,
                "Replace the lines between <!-- BLOCK:begin --> and <!-- BLOCK:end --> in "
                "this file with the Markdown tables");
  r->add_option("--readme-block", a->block,
                "BLOCK, the name in the --readme markers (default: results)");
  r->callback([a] {
    check(!a->out.empty() || !a->markdown.empty() || !a->readme.empty(),
          "nothing to write: give -o/--out, --markdown or --readme");
    std::vector<EvalDir> dirs;
    for (const auto& e : a->evals) dirs.push_back(eval_dir_read(e));
    nlohmann::json summary;
    std::string traces, html;
    eval_dirs_merge(dirs, &summary, &traces);
    std::string t = a->title;
    if (t.empty() && dirs.size() == 1) t = report_title(dirs[0].run, dirs[0].path);
    if (t.empty()) {
      t = "softslm evaluation:";
      for (size_t i = 0; i < dirs.size(); i++) t += (i ? ", " : " ") + eval_dir_label(dirs[i]);
    }
    if (!a->out.empty()) html = report_html(summary, traces, t);
    const std::string table = report_markdown(dirs);
    std::string readme;
    if (!a->readme.empty()) readme = report_splice(read_file(a->readme), table, a->readme, a->block);
    // every output is built before the first is written
    if (!a->out.empty()) write_file_atomic(a->out, html);
    if (!a->markdown.empty()) write_file_atomic(a->markdown, table);
    if (!a->readme.empty()) write_file_atomic(a->readme, readme);
  });
  auto trace = std::make_shared<std::string>(), vout = std::make_shared<std::string>();
  CLI::App* v = app.add_subcommand("viz", "HTML chart of one generation's trace (generate --trace)");
  v->add_option("trace", *trace, "Trace JSONL")->required();
  v->add_option("-o,--out", *vout, "Output HTML file")->required();
  v->callback([trace, vout] { write_file_atomic(*vout, trace_html(read_file(*trace), *trace)); });
}

}  // namespace softslm
