// Large buffers: zeroed, 2 MiB aligned and huge-page advised from 2 MiB, heap blocks below.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "base/buffer.h"

using namespace softslm;

namespace {

// The VmFlags line of the mapping that holds p (from /proc/self/smaps), "" if none.
std::string vm_flags_of(const void* p) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(f, line)) {
    uintptr_t lo, hi;
    char dash;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

}  // namespace

TEST(Buffer, LargeBuffersAreZeroedAlignedAndHugePageAdvised) {
  const size_t n = 3 * 1048576 + 5;  // 12 MB and a bit: rounded up to whole 2 MiB pages
  Buffer<float> b = buffer_zeroed<float>(n);
  ASSERT_NE(b.get(), nullptr);
  EXPECT_EQ((uintptr_t)b.get() % (2u << 20), 0u);
  for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(b[i], 0.0f) << i;
  EXPECT_EQ(b[n - 1], 0.0f);
  b[0] = 1.0f, b[n - 1] = 2.0f;  // writable to the last element
  EXPECT_EQ(b[n - 1], 2.0f);
  EXPECT_GE(b.get_deleter().mapped, n * sizeof(float));
  // the advice is only given where the kernel has transparent huge pages
  if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").good()) {
    const std::string flags = vm_flags_of(b.get());
    EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
  }
}

TEST(Buffer, SmallBuffersComeFromTheHeapZeroed) {
  for (size_t n : {0, 1, 17, 1000, 200000}) {  // the last 1.6 MB
    Buffer<double> b = buffer_zeroed<double>(n);
    ASSERT_NE(b.get(), nullptr);
    EXPECT_EQ(b.get_deleter().mapped, 0u) << n;
    for (size_t i = 0; i < n; i++) ASSERT_EQ(b[i], 0.0) << n << ":" << i;
  }
  Buffer<int> moved = buffer_zeroed<int>(5);
  Buffer<int> other = std::move(moved);  // ownership moves, freed once
  EXPECT_EQ(moved.get(), nullptr);
  EXPECT_EQ(other[4], 0);
}
