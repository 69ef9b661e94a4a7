// Large numeric buffers (weights, KV caches, training activations): aligned, zeroed, and
// from 2 MiB up advised to the kernel as huge-page memory (madvise MADV_HUGEPAGE; Debian's
// transparent huge pages are in "madvise" mode, so plain allocations get 4 KiB pages). Decode
// streams every weight once per token: in 2 MiB pages the reference model's 23 MB take 12
// TLB entries instead of ~5,700, and the page walks of a strided panel sweep go away.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace softslm {

// Frees what buffer_bytes returned: `mapped` bytes of a mapping, or (0) a heap block.
struct BufferFree {
  size_t mapped = 0;
  void operator()(void* p) const;
};
template <typename T>
using Buffer = std::unique_ptr<T[], BufferFree>;

// n_bytes of zeroed memory: from the heap below 2 MiB; from 2 MiB up a mapping of its own,
// 2 MiB aligned and huge-page advised (freed back to the kernel, never left in the heap).
// Throws Error naming the size when the allocation fails.
std::unique_ptr<void, BufferFree> buffer_bytes(size_t n_bytes);

// Throws Error "<what> needs X of memory; Y available" when bytes exceed what this process
// may still use: sizes from configs are checked before anything is allocated.
void buffer_check_fits(double bytes, const std::string& what);

template <typename T>
Buffer<T> buffer_zeroed(size_t n) {
  auto raw = buffer_bytes(n * sizeof(T));
  const BufferFree del = raw.get_deleter();
  return Buffer<T>(static_cast<T*>(raw.release()), del);
}

}  // namespace softslm
