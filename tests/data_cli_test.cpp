// `softslm data` end to end through the real binary.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/io.h"
#include "tasks/tasks.h"
#include "test_util.h"

namespace softslm {
namespace {

using testing::make_temp_dir;
using testing::run_cli;

struct TempDir {
  std::string path = make_temp_dir();
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(TaskDataCli, WritesAJsonlSet) {
  TempDir d;
  std::string out = d.path + "/sets/path_val.jsonl";
  auto r = run_cli("data --task path --n 25 --split val --seed 3 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote 25 path instances"), std::string::npos) << r.out;
  auto lines = read_jsonl(out);
  ASSERT_EQ(lines.size(), 25u);
  for (size_t i = 0; i < lines.size(); i++) {
    const auto& j = lines[i];
    EXPECT_EQ(j["id"], "path-val-" + std::to_string(i));
    EXPECT_EQ(j["task"], "path");
    EXPECT_TRUE(task_check("path", j["prompt"], j["answer"]));
    EXPECT_EQ(task_cot_answer(j["completion"]), j["answer"]);
    EXPECT_EQ(task_split_of("path", j["prompt"]), "val");
  }
  // Same arguments, same bytes.
  std::string again = d.path + "/again.jsonl";
  ASSERT_EQ(run_cli("data --task path --n 25 --split val --seed 3 --out " + again).exit_code, 0);
  EXPECT_EQ(read_file(out), read_file(again));
}

TEST(TaskDataCli, OutOfDistributionSetsAreOneCommand) {
  TempDir d;
  std::string out = d.path + "/add_ood.jsonl";
  auto r = run_cli("data --task add --min-digits 6 --max-digits 7 --split test --n 40 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto lines = read_jsonl(out);
  ASSERT_EQ(lines.size(), 40u);
  for (const auto& j : lines) {
    auto [a, b] = arith_parse(j["prompt"], '+');
    EXPECT_TRUE(a.size() >= 6 && a.size() <= 7 && b.size() >= 6 && b.size() <= 7) << j["prompt"];
  }
  r = run_cli("data --task mix --n 9 --no-cot --min-depth 3 --max-depth 3 --b-max-digits 1 --out " +
              d.path + "/mix.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto mix = read_jsonl(d.path + "/mix.jsonl");
  ASSERT_EQ(mix.size(), 9u);
  EXPECT_EQ(mix[2]["task"], "path");
  EXPECT_EQ(mix[1]["completion"], "<think></think>" + mix[1]["answer"].get<std::string>() + "<|endoftext|>");
}

TEST(TaskDataCli, BadFlagsFailWithoutOutput) {
  TempDir d;
  std::string out = d.path + "/x.jsonl";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--task add --n 0", "--n must be >= 1"},
      {"--task add --n 5 --min-digits 3 --max-digits 2", "--min-digits (3) must not exceed"},
      {"--task sub --n 5", "unknown task"},
      {"--task path --n 5 --min-depth 4 --max-nodes 8", "too few for depth 4"},
      {"--task add --n 5 --split dev", "unknown split"},
      {"--task add --n 5 --min-nodes 5", "--min-nodes applies to --task path"},
      {"--task mul --n 5 --max-digits 3", "--max-digits applies to --task add"},
      {"--task add --n 200 --max-digits 1", "distinct"},
      {"--task path --n 5 --path-cot dfs", "--path-cot"},
  };
  for (const auto& [args, needle] : cases) {
    auto r = run_cli("data " + args + " --out " + out);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_NE(r.out.find("softslm: error: "), std::string::npos) << args << ": " << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << args << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << ": " << r.out;
    EXPECT_FALSE(file_exists(out)) << args;
  }
  EXPECT_NE(run_cli("data --task add --n 5").exit_code, 0);  // --out is required
  EXPECT_TRUE(std::filesystem::is_empty(d.path));             // no temporary files left either
}

}  // namespace
}  // namespace softslm
