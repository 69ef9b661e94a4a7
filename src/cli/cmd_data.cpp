// softslm data: reasoning-task sets (add, mul, path, mix) as JSONL, for training and evaluation.
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/io.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "tasks/tasks.h"

namespace softslm {

namespace {

struct DataArgs {
  DataSpec spec;
  std::string out;
  bool no_cot = false;
};

struct FlagGroup {
  const char* task;                   // the task whose instances the flags shape
  std::vector<CLI::Option*> options;  // given with another task -> error
};

void run_data(DataArgs& a, const std::vector<FlagGroup>& groups) {
  for (const auto& g : groups)
    for (const CLI::Option* o : g.options)
      check(o->count() == 0 || a.spec.task == g.task || a.spec.task == "mix", o->get_name(),
            " applies to --task ", g.task, " (or mix), not ", a.spec.task);
  a.spec.params.cot = !a.no_cot;
  data_spec_validate(a.spec);
  std::vector<TaskInstance> xs = data_generate(a.spec);
  std::string parent = std::filesystem::path(a.out).parent_path().string();
  if (!parent.empty()) make_dirs(parent);
  write_file_atomic(a.out, data_to_jsonl(xs));
  size_t total = 0, longest = 0;
  for (const auto& x : xs) {
    size_t len = x.prompt.size() + x.completion.size();
    total += len;
    longest = std::max(longest, len);
  }
  std::printf("wrote %zu %s instances (split %s, seed %llu) to %s; prompt+completion chars: "
              "mean %.1f, max %zu\n",
              xs.size(), a.spec.task.c_str(), a.spec.split.c_str(),
              (unsigned long long)a.spec.seed, a.out.c_str(), (double)total / xs.size(), longest);
}

}  // namespace

void register_data(CLI::App& app) {
  auto a = std::make_shared<DataArgs>();
  TaskParams& p = a->spec.params;
  CLI::App* c = app.add_subcommand(
      "data", "Generate reasoning-task sets (JSONL: id, task, prompt, answer, completion, steps; "
      "soft_targets for path)");
  c->add_option("--task", a->spec.task, "add, mul, path, or mix (the three in turn)")->required();
  c->add_option("-n,--n", a->spec.n, "Number of instances")->required();
  c->add_option("--split", a->spec.split,
                "train, val or test (each prompt belongs to one split, by a hash of it)")
      ->capture_default_str();
  c->add_option("-s,--seed", a->spec.seed, "Random seed")
      ->check(seed_check())->capture_default_str();
  c->add_option("-o,--out", a->out, "Output JSONL file (written atomically)")->required();
  c->add_flag("--no-cot", a->no_cot, "Empty chain of thought: <think></think>answer");
  c->add_flag("--repeats", a->spec.repeats,
              "Instances may recur (never across splits), so every difficulty class keeps its "
              "share, the smallest included (add 1+1 digits: 1/25 of a default set); for "
              "training mixes");
  std::vector<FlagGroup> groups(3);
  groups[0].task = "add";
  groups[0].options = {
      c->add_option("--min-digits", p.add_min_digits, "add: fewest digits of a and b")
          ->capture_default_str(),
      c->add_option("--max-digits", p.add_max_digits, "add: most digits of a and b")
          ->capture_default_str()};
  groups[1].task = "mul";
  groups[1].options = {
      c->add_option("--a-min-digits", p.mul_a_min_digits, "mul: fewest digits of a")
          ->capture_default_str(),
      c->add_option("--a-max-digits", p.mul_a_max_digits, "mul: most digits of a")
          ->capture_default_str(),
      c->add_option("--b-min-digits", p.mul_b_min_digits, "mul: fewest digits of b")
          ->capture_default_str(),
      c->add_option("--b-max-digits", p.mul_b_max_digits, "mul: most digits of b")
          ->capture_default_str()};
  groups[2].task = "path";
  groups[2].options = {
      c->add_option("--min-nodes", p.path_min_nodes, "path: fewest nodes")->capture_default_str(),
      c->add_option("--max-nodes", p.path_max_nodes, "path: most nodes")->capture_default_str(),
      c->add_option("--min-edges", p.path_min_edges, "path: fewest edges")->capture_default_str(),
      c->add_option("--max-edges", p.path_max_edges, "path: most edges")->capture_default_str(),
      c->add_option("--min-depth", p.path_min_depth,
                    "path: shortest start-to-answer path, fewest edges")
          ->capture_default_str(),
      c->add_option("--max-depth", p.path_max_depth,
                    "path: shortest start-to-answer path, most edges")
          ->capture_default_str(),
      c->add_option("--path-cot", p.path_cot,
                    "path: chain of thought, back (walk back from the candidates), bfs (search layers) or "
                    "path (the path found)")
          ->capture_default_str()};
  c->callback([a, groups] { run_data(*a, groups); });
}

}  // namespace softslm
