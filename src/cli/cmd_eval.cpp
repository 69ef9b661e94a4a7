// softslm eval: accuracy and token use of decoding configurations on task or external sets.
#include <iostream>

#include "base/error.h"
#include "base/io.h"
#include "base/progress.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "eval/eval.h"
#include "report/report.h"
#include "tasks/tasks.h"

namespace softslm {

namespace {

struct EvalArgs {
  std::string model, task, data, configs_file, out_dir, html, split = "test";
  std::vector<std::string> decode{"greedy", "sampled", "soft"}, sweeps;
  std::string sweep_base = "soft";
  int n = 100, threads = 0;
  std::string dtype = "f32";
  uint64_t data_seed = 12345;
  EvalOptions opt;
  bool quiet = false, by_difficulty = false;
};

std::vector<std::string> split_csv(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& it : items) {
    std::stringstream ss(it);
    for (std::string x; std::getline(ss, x, ',');)
      if (!x.empty()) out.push_back(x);
  }
  return out;
}

void run_eval(const EvalArgs& a) {
  set_threads(a.threads);
  EvalOptions opt = a.opt;
  opt.dtype = dtype_parse(a.dtype);
  check(a.task.empty() != a.data.empty(), "give exactly one of --task and --data");
  std::vector<std::string> names = split_csv(a.decode);
  std::vector<DecodeConfig> configs = decode_configs_resolve(names, a.configs_file, a.model);
  if (!a.sweeps.empty()) {
    std::vector<DecodeConfig> base =
        decode_configs_resolve({a.sweep_base}, a.configs_file, a.model);
    for (auto& c : decode_configs_sweep(base[0], a.sweeps)) configs.push_back(c);
  }
  check(!configs.empty(), "no decoding configuration to evaluate (--decode)");
  std::vector<EvalExample> examples;
  const std::vector<std::string> tasks =
      a.data.empty() ? (a.task == "all" ? task_names() : split_csv({a.task}))
                     : std::vector<std::string>{};
  examples = a.data.empty() ? eval_task_examples(tasks, a.split, a.data_seed, a.n)
                            : eval_read_jsonl(a.data);
  LoadedModel lm = load_model_dir(a.model);
  for (const DecodeConfig& c : configs) decode_config_validate(c, lm.model.cfg.vocab_size);
  // packed once for every configuration; the model is handed over (packed in place)
  const auto weights = inference_weights_create(std::move(lm.model), opt.dtype);
  std::vector<EvalRun> runs;
  ProgressLine bar(stderr, -1, a.quiet);
  auto t0 = std::chrono::steady_clock::now();
  const double total_work = (double)configs.size() * examples.size() * a.opt.samples;
  double done_before = 0;
  for (const DecodeConfig& c : configs) {
    runs.push_back(eval_run(weights, lm.tok, examples, c, opt, [&](int done, int total) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double frac = (done_before + done) / total_work;
      char buf[256];
      std::snprintf(buf, sizeof buf, "eval %s: %d/%d | all %.0f %% | ETA %s", c.name.c_str(), done,
                    total, 100 * frac, format_duration(frac > 0 ? secs * (1 - frac) / frac : 0).c_str());
      bar.update(buf, done == total);
    }));
    done_before += (double)examples.size() * a.opt.samples;
  }
  bar.finish();
  std::cout << eval_markdown(runs);
  if (a.by_difficulty) std::cout << "\n" << eval_markdown_difficulty(runs);
  // what was evaluated, for the report's title (report_title) and for the record
  nlohmann::json meta = {{"model", a.model}, {"data", a.data}, {"split", a.split}, {"n", a.n},
                         {"data_seed", a.data_seed}, {"samples", a.opt.samples},
                         {"seed", a.opt.seed}, {"configs", nlohmann::json::array()}};
  meta["tasks"] = tasks;
  for (const DecodeConfig& c : configs) meta["configs"].push_back(c.name);
  if (!a.out_dir.empty()) {
    make_dirs(a.out_dir);
    write_file_atomic(a.out_dir + "/run.json", json_dump(meta) + "\n");
    write_file_atomic(a.out_dir + "/summary.json", json_dump(eval_summary_json(runs)) + "\n");
    write_file_atomic(a.out_dir + "/results.jsonl", eval_results_jsonl(runs, examples));
    write_file_atomic(a.out_dir + "/traces.jsonl", eval_traces_jsonl(runs, examples, lm.tok, opt.trace_examples));
    std::fprintf(stderr, "wrote %s/run.json, summary.json, results.jsonl, traces.jsonl\n",
                 a.out_dir.c_str());
  }
  if (!a.html.empty()) {
    write_file_atomic(a.html, report_html(eval_summary_json(runs),
                                          eval_traces_jsonl(runs, examples, lm.tok, opt.trace_examples),
                                          report_title(meta, a.model)));
    std::fprintf(stderr, "wrote %s\n", a.html.c_str());
  }
}

}  // namespace

void register_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* c = app.add_subcommand("eval", "Evaluate decoding configurations on reasoning tasks");
  c->add_option("-m,--model", a->model, "Model directory")->required();
  c->add_option("--task", a->task, "add, mul, path, a comma list, or all (generated test sets)");
  c->add_option("-n,--n", a->n, "Examples per task")->capture_default_str();
  c->add_option("--split", a->split, "Split of generated sets")->capture_default_str();
  c->add_option("--data-seed", a->data_seed, "Seed of generated sets")
      ->check(seed_check())->capture_default_str();
  c->add_option("--data", a->data, "JSONL of {\"prompt\", \"answer\"} (optional \"id\", \"task\")");
  c->add_option("--decode", a->decode,
                "Decoding configurations (comma list): greedy, sampled, soft, soft-gumbel, "
                "soft-dirichlet, soft-moi, entropy-gate, model (the decoding the model was "
                "trained for: its soft_thinking.yaml), model-gumbel, model-dirichlet (the same "
                "with noise), model-discrete (the same model decoded with tokens), or names "
                "from --configs")
      ->capture_default_str();
  c->add_option("--configs", a->configs_file,
                "YAML of named configurations: name: {base: NAME, <soft-thinking keys>}");
  c->add_option("--sweep", a->sweeps, "key=v1,v2,... grid over --sweep-base (repeatable)");
  c->add_option("--sweep-base", a->sweep_base, "Configuration the sweep starts from")
      ->capture_default_str();
  c->add_option("--samples", a->opt.samples, "Samples per prompt (pass@1 averaged, pass@k)")
      ->capture_default_str();
  c->add_option("-s,--seed", a->opt.seed, "Sampling seed")
      ->check(seed_check())->capture_default_str();
  c->add_option("--max-new-tokens", a->opt.max_new_tokens, "Token budget per generation")
      ->capture_default_str();
  c->add_option("--batch", a->opt.batch, "Sequences decoded together")->capture_default_str();
  c->add_option("--trace-examples", a->opt.trace_examples,
                "Examples per task whose step traces go to traces.jsonl and the report: those "
                "where the configurations disagree (right under one, wrong under another) first")
      ->capture_default_str();
  c->add_option("-o,--out", a->out_dir,
                "Directory for run.json (what was evaluated), summary.json, results.jsonl, "
                "traces.jsonl");
  c->add_option("--html", a->html, "Also write the HTML report here");
  c->add_option("--threads", a->threads, "Threads; 0 = all cores")->capture_default_str();
  c->add_option("--dtype", a->dtype, "Weights for the matrix products: f32, or bf16 (faster, logits ~1e-3 off)")
      ->capture_default_str();
  c->add_flag("-q,--quiet", a->quiet, "No progress line");
  c->add_flag("--by-difficulty", a->by_difficulty,
              "Also print accuracy per task and difficulty class (add/mul: digit counts, path: "
              "depth); summary.json always has it");
  c->callback([a] { run_eval(*a); });
}

}  // namespace softslm
