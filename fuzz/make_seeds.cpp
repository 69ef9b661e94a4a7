// Writes generated seeds for the harnesses (make fuzz runs it into build-fuzz/seeds/):
//   <out>/safetensors/small.safetensors  every convertible dtype, a scalar, an empty tensor,
//                                        an I64 tensor and metadata (a few hundred bytes)
//   <out>/tokenizer_json/trained.json    a small byte-level BPE trained here (tokenizer_save)
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  using namespace softslm;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  try {
    std::filesystem::create_directories(out + "/safetensors");
    std::filesystem::create_directories(out + "/tokenizer_json");
    float f32[6] = {1.0f, -2.5f, 0.0f, 3.25f, 1e-30f, -0.0f};
    uint16_t f16[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};   // 1, -2, smallest subnormal, inf
    uint16_t bf16[3] = {0x3f80, 0xbf80, 0x7fc0};          // 1, -1, NaN
    double f64[2] = {0.5, -1e300};
    int64_t i64[2] = {7, -7};
    float scalar = 42.0f;
    auto raw = [](const void* p, size_t n) {
      return std::string_view(static_cast<const char*>(p), n);
    };
    std::vector<SafetensorsEntry> entries = {
        safetensors_f32_entry("a.weight", {2, 3}, f32),
        {"b.f16", "F16", {4}, raw(f16, sizeof f16)},
        {"c.bf16", "BF16", {1, 3}, raw(bf16, sizeof bf16)},
        {"d.f64", "F64", {2}, raw(f64, sizeof f64)},
        {"e.i64", "I64", {2, 1}, raw(i64, sizeof i64)},
        safetensors_f32_entry("f.scalar", {}, &scalar),
        {"g.empty", "F32", {0, 5}, std::string_view()},
    };
    safetensors_write(out + "/safetensors/small.safetensors", entries, {{"format", "pt"}});

    std::vector<std::string> texts = {
        "Once upon a time there was a cat. The cat sat by the river.",
        "12+34=46 <think>2+4=6,6 1+3=4,46</think>46<|endoftext|>"};
    Tokenizer tok = tokenizer_train(texts, 256 + 3 + 12, {kEndOfText, kThinkOpen, kThinkClose});
    tokenizer_save(tok, out + "/tokenizer_json/trained.json");
  } catch (const Error& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
