// The generation trace (generate --trace JSONL) that `softslm viz` draws: trace_html.
#include "fuzz_util.h"
#include "report/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_ok_or_error([&] { softslm::trace_html(fuzz::text(data, size), "trace.jsonl"); });
  return 0;
}
