// The YAML config loaders: the training config (train_config_parse + train_config_validate) and
// the soft-thinking config (soft_config_parse), both on the same text. An accepted config's
// canonical dump must parse back.
#include "fuzz_util.h"
#include "generate/soft_config.h"
#include "train/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace softslm;
  const std::string yaml = fuzz::text(data, size);
  fuzz::expect_ok_or_error([&] {
    TrainConfig cfg;
    train_config_parse(cfg, yaml, "train.yaml");
    TrainConfig back;
    fuzz::require(fuzz::expect_ok_or_error(
                      [&] { train_config_parse(back, train_config_to_yaml(cfg), "dump"); }),
                  "train_config_to_yaml parses back");
    train_config_validate(cfg);
  });
  fuzz::expect_ok_or_error([&] {
    SoftThinkingParams p;
    soft_config_parse(p, yaml, "soft.yaml");
    SoftThinkingParams back;
    fuzz::require(fuzz::expect_ok_or_error(
                      [&] { soft_config_parse(back, soft_config_to_yaml(p), "dump"); }),
                  "soft_config_to_yaml parses back");
  });
  return 0;
}
