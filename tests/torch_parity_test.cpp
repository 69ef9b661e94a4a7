// softslm's logits against an independent PyTorch implementation (bench/torch_reference.py),
// when PyTorch is installed (scripts/setup --with-torch); skipped, saying so, otherwise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "test_util.h"

TEST(TorchParity, ScoreMatchesPyTorchOnTheSampleModel) {
  // Debian's python3-torch lives in /usr/bin/python3's packages (another python3 may be first
  // on PATH)
  std::string py = std::system("test -x /usr/bin/python3") == 0 ? "/usr/bin/python3" : "python3";
  if (std::system((py + " -c 'import torch' > /dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << "PyTorch is not installed (scripts/setup --with-torch); parity not checked";
  std::string src = SOFTSLM_SOURCE_DIR;
  std::string cmd = "cd '" + src + "' && " + py + " bench/torch_reference.py --parity --model models/sample --softslm '" +
                    std::string(SOFTSLM_BINARY) + "' 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = pclose(f);
  EXPECT_EQ(WEXITSTATUS(st), 0) << out;
  EXPECT_NE(out.find("(ok)"), std::string::npos) << out;
}
