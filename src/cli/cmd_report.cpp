// softslm report / viz: the HTML report of an eval directory, and a single trace's chart.
#include "base/error.h"
#include "base/io.h"
#include "cli/commands.h"
#include "report/report.h"

namespace softslm {

void register_report(CLI::App& app) {
  auto eval_dir = std::make_shared<std::string>(), out = std::make_shared<std::string>(),
       title = std::make_shared<std::string>();
  CLI::App* r = app.add_subcommand("report", "HTML report of an eval output directory");
  r->add_option("--eval", *eval_dir, "Directory written by softslm eval --out")->required();
  r->add_option("-o,--out", *out, "Output HTML file")->required();
  r->add_option("--title", *title,
                "Title (default: the model and the sets evaluated, from the directory's run.json)");
  r->callback([eval_dir, out, title] {
    nlohmann::json summary;
    std::string path = *eval_dir + "/summary.json";
    try {
      summary = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception&) {
      fail(path, ": not valid JSON");
    }
    std::string html;
    try {
      std::string t = *title;
      if (t.empty()) {
        nlohmann::json run;  // optional: older eval directories have no run.json
        const std::string run_path = *eval_dir + "/run.json";
        if (file_exists(run_path)) {
          try {
            run = nlohmann::json::parse(read_file(run_path));
          } catch (const nlohmann::json::exception&) {
            fail(run_path, ": not valid JSON");
          }
        }
        t = report_title(run, *eval_dir);
      }
      html = report_html(summary, read_file(*eval_dir + "/traces.jsonl"), t);
    } catch (const Error& e) {  // "summary.json: ..." / "traces.jsonl:3: ...": name the dir
      std::string what = e.what();
      if (what.rfind("summary.json", 0) == 0 || what.rfind("traces.jsonl", 0) == 0)
        fail(*eval_dir, "/", what);
      throw;
    }
    write_file_atomic(*out, html);
  });
  auto trace = std::make_shared<std::string>(), vout = std::make_shared<std::string>();
  CLI::App* v = app.add_subcommand("viz", "HTML chart of one generation's trace (generate --trace)");
  v->add_option("trace", *trace, "Trace JSONL")->required();
  v->add_option("-o,--out", *vout, "Output HTML file")->required();
  v->callback([trace, vout] { write_file_atomic(*vout, trace_html(read_file(*trace), *trace)); });
}

}  // namespace softslm
