// The evaluation harness: metrics on fixtures with known outcomes, the answer rule, configs.
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/io.h"
#include "eval/eval.h"
#include "generate/soft_config.h"
#include "test_util.h"

using namespace softslm;
using namespace softslm::testing;

static SampleOutcome outcome(int ex, int s, bool ok, int tokens, int think, const char* end = "end_tag") {
  SampleOutcome o;
  o.example = ex;
  o.sample = s;
  o.correct = ok;
  o.n_tokens = tokens;
  o.thinking_tokens = think;
  o.think_end = end;
  return o;
}

TEST(Eval, MetricsOnAFixtureWithKnownOutcomes) {
  // 3 examples x 2 samples: example 0 both right, example 1 one right, example 2 none
  std::vector<SampleOutcome> os = {outcome(0, 0, true, 10, 6),  outcome(0, 1, true, 12, 8),
                                   outcome(1, 0, false, 20, 15, "cold_stop"),
                                   outcome(1, 1, true, 14, 9), outcome(2, 0, false, 30, 30, "budget"),
                                   outcome(2, 1, false, 30, 30, "budget")};
  Metrics m = eval_metrics(os, 2);
  EXPECT_EQ(m.n_examples, 3);
  EXPECT_DOUBLE_EQ(m.pass1, (1.0 + 0.5 + 0.0) / 3);
  EXPECT_DOUBLE_EQ(m.passk, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.mean_tokens, (10 + 12 + 20 + 14 + 30 + 30) / 6.0);
  EXPECT_DOUBLE_EQ(m.mean_tokens_correct, (10 + 12 + 14) / 3.0);
  EXPECT_DOUBLE_EQ(m.mean_thinking, (6 + 8 + 15 + 9 + 30 + 30) / 6.0);
  EXPECT_DOUBLE_EQ(m.cold_stop_rate, 1.0 / 6);
  EXPECT_DOUBLE_EQ(m.budget_rate, 2.0 / 6);
  Metrics none = eval_metrics({outcome(0, 0, false, 5, 5)}, 1);
  EXPECT_EQ(none.pass1, 0.0);
  EXPECT_EQ(none.mean_tokens_correct, 0.0);
}

TEST(Eval, TraceSelectionPutsDisagreementsFirstPerTask) {
  // 8 examples: add 0-3, mul 4-7; two configurations, 2 samples each (sample 0 decides)
  std::vector<EvalExample> ex;
  for (int i = 0; i < 8; i++) ex.push_back({"e" + std::to_string(i), i < 4 ? "add" : "mul", "p", "a", "", ""});
  auto run = [&](const std::vector<bool>& right) {
    EvalRun r;
    for (int i = 0; i < 8; i++) {
      r.outcomes.push_back(outcome(i, 0, right[i], 5, 3));
      r.outcomes.push_back(outcome(i, 1, !right[i], 5, 3));  // sample 1 must not count
    }
    r.by_task[""].samples = 2;
    return r;
  };
  //               add: 0     1     2     3    mul: 4     5     6      7
  EvalRun a = run({true, true, false, true, true, true, true, false});
  EvalRun b = run({true, false, false, false, true, true, true, true});
  // disagreements: add 1, 3; mul 7
  EXPECT_EQ(eval_trace_selection({a, b}, ex, 2), (std::vector<int>{1, 3, 4, 7}));
  EXPECT_EQ(eval_trace_selection({a, b}, ex, 3), (std::vector<int>{0, 1, 3, 4, 5, 7}));
  EXPECT_EQ(eval_trace_selection({a, b}, ex, 0), (std::vector<int>{}));
  EXPECT_EQ(eval_trace_selection({a}, ex, 2), (std::vector<int>{0, 1, 4, 5}));  // one config: in order
  // mul first in the file: tasks keep their order of appearance
  std::vector<EvalExample> swapped(ex.begin() + 4, ex.end());
  swapped.insert(swapped.end(), ex.begin(), ex.begin() + 4);
  EvalRun c = run({true, true, true, true, true, true, true, true});
  EXPECT_EQ(eval_trace_selection({c}, swapped, 1), (std::vector<int>{0, 4}));
}

TEST(Eval, StrictAnswerRule) {
  EXPECT_EQ(eval_extract_answer("1+2+0=3,3</think>3<|endoftext|>"), "3");
  EXPECT_EQ(eval_extract_answer("x</think>  42 \n<|endoftext|>junk"), "42");
  EXPECT_EQ(eval_extract_answer("x</think>42"), "42");  // the token budget ended the answer
  EXPECT_EQ(eval_extract_answer("42<|endoftext|>"), "") << "no </think>: no answer";
  EXPECT_EQ(eval_extract_answer("a</think>b</think>c"), "b</think>c");
}

TEST(Eval, ConfigsResolveFromBuiltinsAndYaml) {
  auto cs = decode_configs_resolve({"greedy", "soft"}, "");
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].soft.mode, ThinkMode::kOff);
  EXPECT_EQ(cs[0].soft.sampler.after.temperature, 0.0f);
  EXPECT_EQ(cs[1].soft.mode, ThinkMode::kThinkTags);
  std::string d = make_temp_dir();
  write_file_atomic(d + "/c.yaml",
                    "mine:\n  base: soft\n  max_topk: 3\n  cold_stop: {tau: 0.2, steps: 4}\n"
                    "greedy:\n  mode: off\n  after_thinking: {temperature: 0, top_k: 1}\n");
  auto ys = decode_configs_resolve({"mine", "greedy"}, d + "/c.yaml");
  EXPECT_EQ(ys[0].soft.mode, ThinkMode::kThinkTags);
  EXPECT_EQ(ys[0].soft.sampler.max_topk, 3);
  EXPECT_FLOAT_EQ(ys[0].soft.cold_stop_tau, 0.2f);
  EXPECT_EQ(ys[1].soft.sampler.after.top_k, 1);
  EXPECT_THROW(decode_configs_resolve({"nope"}, ""), Error);
  write_file_atomic(d + "/bad.yaml", "x:\n  base: soft\n  max_topc: 3\n");
  EXPECT_THROW(decode_configs_resolve({"x"}, d + "/bad.yaml"), Error);
}

TEST(Eval, SweepIsTheFullGrid) {
  DecodeConfig base = decode_configs_resolve({"soft"}, "")[0];
  auto g = decode_configs_sweep(base, {"max_topk=2,5", "cold_stop.tau=0.01,0.1,0.5"});
  ASSERT_EQ(g.size(), 6u);
  EXPECT_EQ(g[0].name, "soft[max_topk=2,cold_stop.tau=0.01]");
  EXPECT_EQ(g[5].name, "soft[max_topk=5,cold_stop.tau=0.5]");
  EXPECT_EQ(g[5].soft.sampler.max_topk, 5);
  EXPECT_FLOAT_EQ(g[5].soft.cold_stop_tau, 0.5f);
  EXPECT_THROW(decode_configs_sweep(base, {"max_topk"}), Error);
  EXPECT_THROW(decode_configs_sweep(base, {"nokey=1"}), Error);
}

TEST(Eval, ReadsExternalSets) {
  std::string d = make_temp_dir();
  write_file_atomic(d + "/s.jsonl", "{\"prompt\": \"1+1=\", \"answer\": \"2\", \"id\": 9, \"task\": \"add\"}\n\n"
                                    "{\"prompt\": \"q\", \"answer\": \"a\"}\n");
  auto ex = eval_read_jsonl(d + "/s.jsonl");
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].id, "9");
  EXPECT_EQ(ex[0].task, "add");
  EXPECT_EQ(ex[1].id, "1");
  write_file_atomic(d + "/b.jsonl", "{\"prompt\": \"q\"}\n");
  try {
    eval_read_jsonl(d + "/b.jsonl");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.jsonl:1: expected"), std::string::npos);
  }
}
