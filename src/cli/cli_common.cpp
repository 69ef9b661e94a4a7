#include "cli/cli_common.h"

#include <omp.h>

#include <charconv>
#include <cstdint>

#include "base/error.h"
#include "base/io.h"
#include "base/threads.h"

namespace softslm {

std::string json_dump(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string text_from(const std::string& inline_text, const std::string& file, bool inline_given,
                      const char* what) {
  check(inline_given != !file.empty(), "give exactly one of --", what, " and --", what, "-file");
  return inline_given ? inline_text : read_file(file);
}

CLI::Validator seed_check() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        uint64_t x;
        auto r = std::from_chars(v.data(), v.data() + v.size(), x);
        if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size())
          return "expected an integer in [0, 18446744073709551615], got '" + v + "'";
        return "";
      },
      "SEED");
}

void set_threads(int threads) {
  int n = threads_resolve(threads, "--threads");
  if (threads > 0) omp_set_num_threads(n);  // 0: OpenMP's default (OMP_NUM_THREADS or all)
}

}  // namespace softslm
