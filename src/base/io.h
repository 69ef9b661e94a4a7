// File helpers: whole-file reads and atomic writes (temporary file, then rename).
#pragma once
#include <string>
#include <string_view>

namespace softslm {

// Every read is bounded: a file (or an endless stream such as /dev/zero) larger than
// max_bytes is refused with an Error naming the path and the limit, before it is read when
// its size is known. Small inputs (configs, prompts, JSON) use the default; streams (pipes,
// devices) are never read past the default.
constexpr size_t kReadLimitDefault = size_t(256) << 20;  // 256 MiB
std::string read_file(const std::string& path, size_t max_bytes = kReadLimitDefault);
// Bytes of memory this process may still use (MemAvailable, else physical memory).
size_t memory_available_bytes();
// "1.5 GB"-style size for messages.
std::string bytes_str(double bytes);
// Writes to "<path>.tmp.<pid>" then renames over path; on failure nothing is left behind.
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
// Removes the "<name>.tmp.<pid>" files that write_file_atomic leaves when a process is killed
// mid-write (of processes no longer running); returns how many were removed.
int remove_stale_temp_files(const std::string& dir);

// Test seam for killed runs: with SOFTSLM_TEST_KILL_AT=N in the environment, the process
// kills itself with SIGKILL at the Nth point of file writing (four per write_file_atomic:
// opened, half written, synced and closed, renamed). Unset: a no-op.
void io_fault_point();
void make_dirs(const std::string& path);

}  // namespace softslm
