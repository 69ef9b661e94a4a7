// tokenizer.json: tokenizer_parse_json (what tokenizer_load reads); an accepted tokenizer must
// then encode and decode a short string losslessly, with and without special tokens.
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace softslm;
  fuzz::expect_ok_or_error([&] {
    Tokenizer tok = tokenizer_parse_json(fuzz::text(data, size), "tokenizer.json");
    const std::string_view s = "Once upon a time, 12+34=46 <think>\xc3\xa9t\xc3\xa9</think>\xff<|endoftext|>";
    for (bool special : {false, true}) {
      std::vector<int> ids = tokenizer_encode(tok, s, special);
      fuzz::require(tokenizer_decode(tok, ids) == s, "decode(encode(s)) == s");
    }
  });
  return 0;
}
