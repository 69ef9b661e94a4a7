// config.json of a Hugging Face GPT-2 directory: config_parse_json (what config_load_json reads).
#include "fuzz_util.h"
#include "model/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_ok_or_error(
      [&] { softslm::config_parse_json(fuzz::text(data, size), "config.json"); });
  return 0;
}
