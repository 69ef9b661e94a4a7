// softslm train --config FILE [--set key=value ...] [--out DIR] [--steps N] [--resume]
#include <csignal>
#include <memory>

#include "base/error.h"
#include "cli/commands.h"
#include "train/trainer.h"

namespace softslm {

namespace {

std::atomic<bool> g_interrupt{false};

extern "C" void on_sigint(int) {
  g_interrupt.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C kills at once
}

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string out;
  int64_t steps = 0;
  int64_t stop_at = 0;
  bool resume = false, overwrite = false, stop_at_given = false;
  bool quiet = false;
};

void run_train(const TrainArgs& a) {
  TrainConfig cfg;
  if (!a.config.empty()) {
    cfg = train_config_load(a.config);
  } else if (a.resume) {
    check(!a.out.empty(), "--resume without --config needs --out DIR (the run to continue)");
    cfg = train_config_load(a.out + "/train_config.yaml");
  } else {
    fail("train needs --config FILE (or --resume --out DIR)");
  }
  for (const auto& s : a.sets) train_config_set(cfg, s);
  if (!a.out.empty()) cfg.out_dir = a.out;
  if (a.steps != 0) {
    check(a.steps > 0, "--steps must be >= 1 (got ", a.steps, ")");
    cfg.steps = a.steps;
  }
  check(!a.stop_at_given || a.stop_at >= 1, "--stop-at must be >= 1 (got ", a.stop_at, ")");
  check(a.stop_at <= cfg.steps, "--stop-at ", a.stop_at, " is beyond steps = ", cfg.steps);
  check(!(a.resume && a.overwrite), "give --resume or --overwrite, not both");
  train_config_validate(cfg);  // before any work or any file is written

  TrainOptions opt;
  opt.resume = a.resume;
  opt.overwrite = a.overwrite;
  opt.stop_at = a.stop_at;
  opt.quiet = a.quiet;
  opt.interrupt = &g_interrupt;
  g_interrupt.store(false);
  auto old = std::signal(SIGINT, on_sigint);
  TrainResult res;
  try {
    res = train_run(cfg, opt);
  } catch (...) {
    std::signal(SIGINT, old);
    throw;
  }
  std::signal(SIGINT, old);
  if (res.interrupted) throw CLI::RuntimeError(130);  // checkpoint saved; exit like SIGINT
}

}  // namespace

void register_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train a GPT-2 model from a YAML config (see configs/train-default.yaml for every key). "
      "Writes a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer.json) "
      "plus train_config.yaml, train_state.bin and metrics.jsonl to out_dir. Ctrl-C saves a "
      "checkpoint and stops.");
  cmd->add_option("-c,--config", a->config, "YAML training config");
  cmd->add_option("--set", a->sets,
                  "override a config key: --set lr=3e-4 --set model.n_layer=2 "
                  "--set data.train=[a.txt,b.txt] (repeatable)");
  cmd->add_option("-o,--out", a->out, "output directory (overrides out_dir)");
  cmd->add_option("--steps", a->steps, "total training steps (overrides steps)");
  cmd->add_flag("--resume", a->resume,
                "continue from out_dir's checkpoint (without --config: reuse its "
                "train_config.yaml); bit-identical to an uninterrupted run");
  cmd->add_flag("--overwrite", a->overwrite,
                "start afresh in an out_dir that already holds a checkpoint (without it, "
                "that is an error)");
  auto* stop = cmd->add_option("--stop-at", a->stop_at,
                               "stop with a checkpoint after this step (1..steps), keeping the "
                               "schedule of `steps`");
  cmd->add_flag("-q,--quiet", a->quiet, "no progress output");
  cmd->callback([a, stop] {
    a->stop_at_given = stop->count() > 0;
    run_train(*a);
  });
}

}  // namespace softslm
