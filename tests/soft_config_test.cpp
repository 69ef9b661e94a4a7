// configs/soft-thinking.yaml: defaults, overrides, refusals.
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/io.h"
#include "generate/soft_config.h"

using namespace softslm;

TEST(SoftConfig, ShippedFileStatesTheBuiltInDefaultsForEveryKey) {
  std::string text = read_file(std::string(SOFTSLM_SOURCE_DIR) + "/configs/soft-thinking.yaml");
  SoftThinkingParams file;
  soft_config_parse(file, text, "configs/soft-thinking.yaml");
  SoftThinkingParams defaults;
  defaults.mode = ThinkMode::kThinkTags;  // the file turns soft thinking on
  EXPECT_EQ(soft_config_to_yaml(file), soft_config_to_yaml(defaults));
  for (const std::string& key : soft_config_keys()) {
    std::string leaf = key.substr(key.find('.') + 1);
    EXPECT_NE(text.find(leaf + ":"), std::string::npos) << key << " is not documented";
  }
  // the paper's recommended setting
  EXPECT_EQ(file.sampler.max_topk, 10);
  EXPECT_FLOAT_EQ(file.sampler.thinking.temperature, 0.6f);
  EXPECT_EQ(file.sampler.thinking.top_k, 30);
  EXPECT_FLOAT_EQ(file.sampler.thinking.top_p, 0.95f);
  EXPECT_FLOAT_EQ(file.sampler.thinking.min_p, 0.001f);
  EXPECT_FLOAT_EQ(file.cold_stop_tau, 0.01f);
  EXPECT_EQ(file.cold_stop_steps, 256);
}

TEST(SoftConfig, OverridesAndEnums) {
  SoftThinkingParams p;
  soft_config_set(p, "mode=entropy_gate");
  soft_config_set(p, "cold_stop.tau=0.05");
  soft_config_set(p, "mixing=moi");
  soft_config_set(p, "gumbel.enabled=true");
  soft_config_set(p, "after_thinking.top_k=7");
  EXPECT_EQ(p.mode, ThinkMode::kEntropyGate);
  EXPECT_FLOAT_EQ(p.cold_stop_tau, 0.05f);
  EXPECT_EQ(p.sampler.mixing, Mixing::kMoI);
  EXPECT_TRUE(p.sampler.gumbel);
  EXPECT_EQ(p.sampler.after.top_k, 7);
  EXPECT_STREQ(think_mode_name(p.mode), "entropy_gate");
  SoftThinkingParams q;
  soft_config_parse(q, soft_config_to_yaml(p), "dump");
  EXPECT_EQ(soft_config_to_yaml(q), soft_config_to_yaml(p));
}

TEST(SoftConfig, BadKeysAndValuesNameTheKey) {
  auto bad = [](const std::string& assignment, const std::string& needle) {
    SoftThinkingParams p;
    try {
      soft_config_set(p, assignment);
      ADD_FAILURE() << assignment << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  bad("max_topc=3", "max_topk");  // did you mean
  bad("mode=soft", "think_tags | entropy_gate");
  bad("cold_stop.steps=abc", "cold_stop.steps");
  bad("gumbel.enabled=maybe", "true or false");
  bad("thinking=1", "section");
  SoftThinkingParams p;
  EXPECT_THROW(soft_config_parse(p, "cold_stop: {tau: [1, 2]}", "f.yaml"), Error);
}
