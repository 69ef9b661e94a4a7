#include "base/buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

#include "base/error.h"
#include "base/io.h"

namespace softslm {

namespace {
constexpr size_t kHuge = 2u << 20;
}

void BufferFree::operator()(void* p) const {
  if (mapped)
    munmap(p, mapped);
  else
    std::free(p);
}

void buffer_check_fits(double bytes, const std::string& what) {
  const double avail = (double)memory_available_bytes();
  check(bytes <= avail, what, " needs ", bytes_str(bytes), " of memory; ", bytes_str(avail),
        " available");
}

std::unique_ptr<void, BufferFree> buffer_bytes(size_t n_bytes) {
  if (n_bytes < kHuge) {
    void* p = std::calloc(n_bytes ? n_bytes : 1, 1);
    check(p != nullptr, "out of memory: could not allocate ", n_bytes, " bytes");
    return std::unique_ptr<void, BufferFree>(p, BufferFree{0});
  }
  const size_t size = (n_bytes + kHuge - 1) / kHuge * kHuge;
  // map one huge page more than needed, then unmap the ends so the buffer starts on 2 MiB
  void* m = mmap(nullptr, size + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  check(m != MAP_FAILED, "out of memory: could not map ", size / 1048576, " MB");
  const uintptr_t at = (uintptr_t)m, start = (at + kHuge - 1) / kHuge * kHuge;
  if (start > at) munmap(m, start - at);
  if (at + kHuge > start) munmap((void*)(start + size), at + kHuge - start);
  // advice only: where the kernel has no huge pages the buffer keeps small ones. Anonymous
  // pages read as zero; they are faulted in (as huge pages) on first touch.
  madvise((void*)start, size, MADV_HUGEPAGE);
  return std::unique_ptr<void, BufferFree>((void*)start, BufferFree{size});
}

}  // namespace softslm
