// JSONL readers: training documents (data_parse_documents, what data_read_documents reads for
// a .jsonl file) and evaluation examples (eval_parse_jsonl, what eval_read_jsonl reads).
#include "eval/eval.h"
#include "fuzz_util.h"
#include "train/data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace softslm;
  const std::string text = fuzz::text(data, size);
  fuzz::expect_ok_or_error([&] { data_parse_documents(text, "jsonl", "train.jsonl"); });
  fuzz::expect_ok_or_error([&] { eval_parse_jsonl(text, "eval.jsonl"); });
  return 0;
}
