// Regression tests for what the fuzzers (fuzz/) and the sanitizer build (make test-asan)
// found; each failed before its fix (under make test-asan where the finding was UB).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "model/safetensors.h"
#include "report/report.h"
#include "tokenizer/tokenizer.h"
#include "train/train_config.h"

namespace softslm {
namespace {

void expect_error_with(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown; expected one containing: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// fuzz_safetensors: an empty F32 tensor converted into an empty buffer (out == nullptr) passed
// null to memcpy (UBSan: "null pointer passed as argument 1").
TEST(FuzzFindings, SafetensorsEmptyTensorToF32WithNullOut) {
  SafetensorsFile f = safetensors_parse(
      safetensors_serialize({safetensors_f32_entry("e", {0, 3}, nullptr)}), "empty");
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(safetensors_numel(f.tensors[0]), 0u);
  safetensors_to_f32(f, f.tensors[0], nullptr);  // nothing to write
}

// fuzz_yaml_config: a text value that is not UTF-8 was accepted, and writing the resolved
// config (train_config_to_yaml, out_dir/train_config.yaml) then threw nlohmann's type_error.
TEST(FuzzFindings, ConfigTextValuesMustBeUtf8) {
  TrainConfig cfg;
  expect_error_with([&] { train_config_parse(cfg, "out_dir: runs/\x8c\n", "t.yaml"); },
                    "t.yaml: config key 'out_dir': expected UTF-8 text");
  expect_error_with([&] { train_config_parse(cfg, "data:\n  train: [a\xff.txt]\n", "t.yaml"); },
                    "t.yaml: config key 'data.train': expected UTF-8 text");
  expect_error_with([&] { train_config_set(cfg, "tokenizer.path=x\xc3"); },
                    "config key 'tokenizer.path': expected UTF-8 text");
  train_config_parse(cfg, "out_dir: runs/\xc3\xa9t\xc3\xa9\n", "t.yaml");  // UTF-8 is fine
  EXPECT_EQ(cfg.out_dir, "runs/\xc3\xa9t\xc3\xa9");
  TrainConfig back;
  train_config_parse(back, train_config_to_yaml(cfg), "dump");
  EXPECT_EQ(back.out_dir, cfg.out_dir);
}

// fuzz_yaml_config: a float key given a finite double beyond float range (1e39) became inf,
// which the resolved config wrote as "inf", which does not read back.
TEST(FuzzFindings, FloatConfigKeysStayWithinFloatRange) {
  TrainConfig cfg;
  expect_error_with(
      [&] { train_config_parse(cfg, "model:\n  layer_norm_epsilon: 1e39\n", "t.yaml"); },
      "t.yaml: config key 'model.layer_norm_epsilon': expected a number within float range");
  expect_error_with([&] { train_config_set(cfg, "model.layer_norm_epsilon=-4e38"); },
                    "config key 'model.layer_norm_epsilon': expected a number within float range");
  train_config_parse(cfg, "model:\n  layer_norm_epsilon: 3.0e38\n", "t.yaml");
  TrainConfig back;
  train_config_parse(back, train_config_to_yaml(cfg), "dump");
  EXPECT_EQ(back.model.layer_norm_epsilon, cfg.model.layer_norm_epsilon);
}

// fuzz_trace: trace records missing "switch" / "concept" reached nlohmann's const operator[]
// (an assertion, undefined behaviour under NDEBUG); wrong field types escaped as
// nlohmann::json::type_error; a concept with fewer weights than ids read past the array.
TEST(FuzzFindings, TraceHtmlChecksItsRecords) {
  // a minimal record (no switch, no concept) is a valid trace
  std::string html = trace_html("{\"step\": 0, \"entropy\": 0.5, \"text\": \"a\"}\n", "t");
  EXPECT_NE(html.find("sequence 0 (1 steps)"), std::string::npos);
  expect_error_with([] { trace_html("\n{\"step\": 0, \"entropy\": \"x\"}\n", "t.jsonl"); },
                    "t.jsonl:2: \"entropy\" must be a number");
  expect_error_with([] { trace_html("{\"step\": 0, \"entropy\": 0, \"seq\": \"a\"}", "t.jsonl"); },
                    "t.jsonl:1: \"seq\" must be an integer");
  expect_error_with([] { trace_html("{\"step\": 0, \"entropy\": null}", "t.jsonl"); },
                    "t.jsonl:1: \"entropy\" must be a number");
  expect_error_with([] { trace_html("{\"step\": 0, \"entropy\": 1, \"phase\": null}", "t.jsonl"); },
                    "t.jsonl:1: \"phase\" must be a string");
  trace_html("{\"step\": 0, \"entropy\": 1, \"switch\": null, \"concept\": null}", "t");
  expect_error_with([] { trace_html("{\"step\": 0, \"entropy\": 0, \"switch\": 3}", "t.jsonl"); },
                    "t.jsonl:1: \"switch\" must be a string or null");
  expect_error_with(
      [] {
        trace_html("{\"step\": 0, \"entropy\": 0, \"concept\": {\"ids\": [1, 2], "
                   "\"weights\": [1.0]}}", "t.jsonl");
      },
      "t.jsonl:1: concept \"weights\" must be 2 numbers (one per id)");
  expect_error_with(
      [] {
        trace_html("{\"step\": 0, \"entropy\": 0, \"concept\": {\"ids\": [1], "
                   "\"weights\": [1.0], \"texts\": [7]}}", "t.jsonl");
      },
      "t.jsonl:1: concept \"texts\" must be 1 strings (one per id)");
}

// fuzz_tokenizer_json: an id up to the 100,000,000 cap in a small file grew the id table to
// that size first (4 GB for one added token) before finding the ids not contiguous.
TEST(FuzzFindings, TokenizerHugeIdInASmallFileIsAnError) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; b++) vocab[byte_level_encode(std::string(1, (char)b))] = b;
  nlohmann::json j = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
      {"added_tokens", {{{"id", 99999999}, {"content", "<|endoftext|>"}}}}};
  expect_error_with([&] { tokenizer_parse_json(j.dump(), "tok.json"); },
                    "tok.json: token ids are not contiguous: token '<|endoftext|>' has id 99999999 "
                    "but the file lists only 257 tokens");
  j["added_tokens"][0]["id"] = 256;  // the same file with a contiguous id loads
  EXPECT_EQ(tokenizer_vocab_size(tokenizer_parse_json(j.dump(), "tok.json")), 257);
}

}  // namespace
}  // namespace softslm
