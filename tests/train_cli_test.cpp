// `softslm train` end to end through the real binary.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/io.h"
#include "test_util.h"

namespace softslm {
namespace {

using testing::make_temp_dir;
using testing::run_cli;

std::string tiny_yaml(const std::string& data, const std::string& out) {
  return "model: {vocab_size: 300, n_ctx: 32, n_embd: 16, n_layer: 2, n_head: 2}\n"
         "data:\n  train: [\"" + data + "\"]\n  val_fraction: 0.1\n"
         "batch_size: 4\nseq_len: 16\nlr: 1.0e-2\nwarmup_steps: 2\nsteps: 8\n"
         "eval_interval: 4\neval_batches: 2\nlog_interval: 2\nthreads: 1\n"
         "out_dir: \"" + out + "\"\n";
}

struct Fixture {
  std::string dir, data, cfg, out;
  Fixture() {
    dir = make_temp_dir();
    data = dir + "/stories.txt";
    cfg = dir + "/cfg.yaml";
    out = dir + "/run";
    std::string text;
    for (int i = 0; i < 20; i++)
      text += "Lily had a red ball. She went to the park. \"Where is my ball?\" she asked.\n";
    write_file_atomic(data, text);
    write_file_atomic(cfg, tiny_yaml(data, out));
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
};

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(TrainCli, TinyRunWritesHuggingFaceDirectoryAndMetrics) {
  Fixture f;
  auto r = run_cli("train --config " + f.cfg);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl",
                           "train_config.yaml", "train_state.bin"})
    EXPECT_TRUE(file_exists(f.out + "/" + name)) << name;
  EXPECT_NE(r.out.find("step 8/8"), std::string::npos) << r.out;  // progress (plain lines)
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
  std::istringstream in(read_file(f.out + "/metrics.jsonl"));
  std::string line;
  int train = 0, eval = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    (j["type"] == "train" ? train : eval)++;
  }
  EXPECT_EQ(train, 4);  // steps 2, 4, 6, 8
  EXPECT_EQ(eval, 3);   // steps 0, 4, 8
  auto cfg = nlohmann::json::parse(read_file(f.out + "/config.json"));
  EXPECT_EQ(cfg["n_layer"], 2);
  EXPECT_EQ(cfg["n_embd"], 16);

  // --resume with a longer run continues from step 8, from the saved train_config.yaml
  auto r2 = run_cli("train --resume --out " + f.out + " --steps 10 -q");
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  auto last = read_file(f.out + "/metrics.jsonl");
  EXPECT_NE(last.find("\"step\":10,"), std::string::npos) << last;
}

TEST(TrainCli, BadKeyIsAOneLineErrorAndWritesNothing) {
  Fixture f;
  auto r = run_cli("train --config " + f.cfg + " --set model.n_layr=3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model.n_layr"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_FALSE(file_exists(f.out));

  write_file_atomic(f.cfg, tiny_yaml(f.data, f.out) + "learning_rate: 0.1\n");
  r = run_cli("train --config " + f.cfg);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("unknown config key 'learning_rate'"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_FALSE(file_exists(f.out));

  write_file_atomic(f.cfg, tiny_yaml(f.data, f.out));
  r = run_cli("train --config " + f.cfg + " --set lr=abc");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("'lr'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'abc'"), std::string::npos) << r.out;
  r = run_cli("train --config " + f.cfg + " --set seq_len=64");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("'seq_len' (64)"), std::string::npos) << r.out;
  EXPECT_FALSE(file_exists(f.out));
}

TEST(TrainCli, MissingDataFileIsAnError) {
  Fixture f;
  auto r = run_cli("train --config " + f.cfg + " --set data.train=" + f.dir + "/nope.txt");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nope.txt' not found"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_FALSE(file_exists(f.out));
  r = run_cli("train --config " + f.dir + "/missing.yaml");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("missing.yaml"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace softslm

namespace softslm {
namespace {

TEST(TrainCli, SaysWhatItDoesWithSpareRowsAndALongWarmup) {
  Fixture f;
  // vocab_size 300 rows, a tokenizer of fewer ids (the tiny text has few merges to learn)
  auto r = run_cli("train --config " + f.cfg + " --set warmup_steps=20");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: warmup_steps (20) > steps (8)"), std::string::npos) << r.out;
  auto tok = nlohmann::json::parse(read_file(f.out + "/tokenizer.json"));
  const size_t ids = tok["model"]["vocab"].size() + tok["added_tokens"].size();
  if (ids < 300) {
    EXPECT_NE(r.out.find("belong to no token"), std::string::npos) << r.out;
  }
  // and the run then refuses to overwrite itself, unless asked to
  auto again = run_cli("train --config " + f.cfg + " -q");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.out.find("already holds a checkpoint"), std::string::npos) << again.out;
  auto fresh = run_cli("train --config " + f.cfg + " -q --overwrite");
  EXPECT_EQ(fresh.exit_code, 0) << fresh.out;
}

}  // namespace
}  // namespace softslm
