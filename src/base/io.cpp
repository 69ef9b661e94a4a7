#include "base/io.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "base/error.h"

namespace softslm {

std::string read_file(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(st)) fail(path, ": is a directory, expected a file");
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, ": cannot open (", std::strerror(errno), ")");
  auto too_large = [&] {
    std::fclose(f);
    fail(path, ": larger than ", bytes_str((double)max_bytes), ", the limit for this input",
         std::filesystem::is_regular_file(st) ? "" : " (an endless stream?)");
  };
  std::string data;
  if (!std::filesystem::is_regular_file(st)) max_bytes = std::min(max_bytes, kReadLimitDefault);
  if (std::filesystem::is_regular_file(st)) {
    size_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > max_bytes) too_large();
    if (!ec) data.reserve(size);
  }
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (data.size() + n > max_bytes) too_large();
    data.append(buf, n);
  }
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) fail(path, ": read error (", std::strerror(errno), ")");
  return data;
}

size_t memory_available_bytes() {
  if (FILE* f = std::fopen("/proc/meminfo", "r")) {
    char line[256];
    unsigned long long kb = 0;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    std::fclose(f);
    if (kb > 0) return (size_t)kb * 1024;
  }
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : SIZE_MAX;
}

std::string bytes_str(double b) {
  char buf[64];
  if (b >= 1e12)
    std::snprintf(buf, sizeof buf, "%.1f TB", b / 1e12);
  else if (b >= 1e9)
    std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else if (b >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f bytes", b);
  return buf;
}

void io_fault_point() {
  static const long kill_at = [] {
    const char* e = std::getenv("SOFTSLM_TEST_KILL_AT");
    return e ? std::strtol(e, nullptr, 10) : 0L;
  }();
  static long count = 0;
  if (kill_at > 0 && ++count == kill_at) raise(SIGKILL);
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(path, ": cannot write (", std::strerror(errno), ")");
  io_fault_point();
  size_t half = bytes.size() / 2;
  size_t n = std::fwrite(bytes.data(), 1, half, f);
  if (n == half) {
    std::fflush(f);
    io_fault_point();
    n += std::fwrite(bytes.data() + half, 1, bytes.size() - half, f);
  }
  bool ok = n == bytes.size() && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (ok) io_fault_point();
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    fail(path, ": write failed (", std::strerror(err), ")");
  }
  io_fault_point();
}

int remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  int removed = 0;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    size_t at = name.rfind(".tmp.");
    if (at == std::string::npos || at + 5 == name.size()) continue;
    const std::string pid = name.substr(at + 5);
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const long p = std::strtol(pid.c_str(), nullptr, 10);
    if (p == getpid() || (p > 0 && kill((pid_t)p, 0) == 0)) continue;  // a live writer's
    std::error_code rc;
    if (std::filesystem::remove(it->path(), rc)) removed++;
  }
  return removed;
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail(path, ": cannot create directory (", ec.message(), ")");
}

}  // namespace softslm
