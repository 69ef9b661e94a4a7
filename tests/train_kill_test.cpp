// No training run is lost: a child `softslm train` is killed (SIGKILL) at many points inside
// its file writes (SOFTSLM_TEST_KILL_AT, see base/io.h), then resumed; every time the run must
// finish with the same per-step losses and the same final weights as an uninterrupted run,
// and leave no temporary file behind.
#include <sys/wait.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/io.h"
#include "test_util.h"

namespace softslm {
namespace {

namespace fs = std::filesystem;
using testing::make_temp_dir;

struct ChildRun {
  int exit_code = -1;
  bool killed = false;  // by SIGKILL
  std::string out;
};

ChildRun train(const std::string& args, long kill_at = 0) {
  std::string cmd = (kill_at > 0 ? "SOFTSLM_TEST_KILL_AT=" + std::to_string(kill_at) + " " : "") +
                    "exec " + std::string(SOFTSLM_BINARY) + " train -q " + args + " 2>&1";
  ChildRun r;
  int st = testing::run_shell(cmd, &r.out);
  if (st == -1) return r;
  if (WIFSIGNALED(st)) r.killed = WTERMSIG(st) == SIGKILL;
  if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
  return r;
}

// step -> training loss, from metrics.jsonl (each step must appear once)
std::map<int64_t, double> train_losses(const std::string& dir) {
  std::map<int64_t, double> out;
  std::istringstream in(read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    if (j["type"] != "train") continue;
    int64_t step = j["step"];
    EXPECT_EQ(out.count(step), 0u) << dir << ": step " << step << " logged twice";
    out[step] = j["loss"];
  }
  return out;
}

int temp_files(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

TEST(TrainKill, KilledAnywhereInItsWritesTheRunResumesToTheSameLossesAndWeights) {
  const std::string dir = make_temp_dir();
  std::string text;
  for (int i = 0; i < 20; i++)
    text += "Lily had a red ball. She went to the park. \"Where is my ball?\" she asked.\n";
  write_file_atomic(dir + "/d.txt", text);
  const std::string cfg = dir + "/cfg.yaml";
  write_file_atomic(cfg, "model: {vocab_size: 300, n_ctx: 16, n_embd: 16, n_layer: 1, n_head: 2}\n"
                         "data: {train: [\"" + dir + "/d.txt\"], val_fraction: 0.1}\n"
                         "batch_size: 2\nseq_len: 16\nlr: 1.0e-2\nwarmup_steps: 1\nsteps: 6\n"
                         "checkpoint_interval: 2\neval_interval: 0\neval_batches: 1\n"
                         "log_interval: 1\nthreads: 1\n");
  // the uninterrupted run
  ChildRun ref = train("--config " + cfg + " --out " + dir + "/ref");
  ASSERT_EQ(ref.exit_code, 0) << ref.out;
  const std::map<int64_t, double> losses = train_losses(dir + "/ref");
  ASSERT_EQ(losses.size(), 6u);
  const std::string weights = read_file(dir + "/ref/model.safetensors");

  // kill at write point k (4 per atomic write: opened, half written, synced, renamed), then
  // resume; the last k is the one where the run finishes before reaching it
  int kills = 0, resumed = 0, restarted = 0;
  for (long k = 1; k < 400; k++) {
    const std::string out = dir + "/k" + std::to_string(k);
    ChildRun a = train("--config " + cfg + " --out " + out, k);
    if (!a.killed) {  // past the run's last write point: it completed
      ASSERT_EQ(a.exit_code, 0) << a.out;
      fs::remove_all(out);
      break;
    }
    kills++;
    SCOPED_TRACE("killed at write point " + std::to_string(k));
    ChildRun b;
    if (file_exists(out + "/train_state.bin")) {  // a whole checkpoint survived: continue it
      b = train("--resume --out " + out);
      resumed++;
    } else {  // killed before the first checkpoint was whole: nothing to lose but the steps
      b = train("--config " + cfg + " --out " + out + " --overwrite");
      restarted++;
    }
    ASSERT_EQ(b.exit_code, 0) << b.out;
    EXPECT_EQ(train_losses(out), losses);
    EXPECT_TRUE(read_file(out + "/model.safetensors") == weights) << "final weights differ";
    EXPECT_EQ(temp_files(out), 0);
    fs::remove_all(out);
  }
  // every write of three checkpoints (5 files each) and of the data cache and metrics log
  EXPECT_GE(kills, 60);
  EXPECT_GE(resumed, 40);  // kills inside the second and third checkpoints
  EXPECT_GE(restarted, 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace softslm
