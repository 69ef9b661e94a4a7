// The kernels are built for the host's vectors: 16-float registers with AVX-512, 8-float ones
// with AVX2 (src/ops/vec.h, tile_block in src/ops/matmul.cpp). Every value is the same chain
// of operations either way, so the two builds must give the same bits. On an AVX-512 host the
// build adds softslm_avx2 (-march=x86-64-v3, CMake option SOFTSLM_AVX2_TWIN) and this test
// runs both on the shipped model; on an AVX2 host the native build is the AVX2 one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "test_util.h"

using namespace softslm::testing;
using nlohmann::json;

namespace {

#ifdef SOFTSLM_BINARY_AVX2
// The command's JSON output, less its timings.
json output_of(const std::string& args, const char* binary) {
  RunResult r = run_cli(args, binary);
  EXPECT_EQ(r.exit_code, 0) << binary << " " << args << "\n" << r.out;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.out;
  if (j.is_object())
    for (const char* k : {"seconds", "tokens_per_s"}) j.erase(k);
  return j;
}
#endif

TEST(Isa, Avx2BuildGivesTheNativeBuildsBits) {
#ifndef SOFTSLM_BINARY_AVX2
  GTEST_SKIP() << "the host has no AVX-512: the native build is the AVX2 build, nothing to "
                  "compare (SOFTSLM_AVX2_TWIN is off)";
#else
  const std::string model = std::string(SOFTSLM_SOURCE_DIR) + "/models/default";
  const std::string gen = "generate --model " + model + " --prompt 4528+734= --json ";
  for (const std::string& args :
       {"score --model " + model + " --text '4528+734=8+4+0=12,2 2+3+1=6,62'",
        gen + "--soft-thinking --max-new-tokens 80 --seed 1",         // concept tokens
        gen + "--max-new-tokens 80 --temperature 0.8 --seed 3",       // sampled
        gen + "--max-new-tokens 40 --temperature 0 --dtype bf16"}) {  // bf16 panels
    json native = output_of(args, SOFTSLM_BINARY), avx2 = output_of(args, SOFTSLM_BINARY_AVX2);
    EXPECT_EQ(native.dump(), avx2.dump()) << args;
  }
#endif
}

}  // namespace
