#include "cli/cli_common.h"

#include <omp.h>

#include "base/error.h"
#include "base/io.h"
#include "model/checkpoint.h"

namespace softslm {

LoadedModel load_model_dir(const std::string& dir) {
  LoadedModel lm{model_load(dir), tokenizer_load(dir), -1};
  int tv = tokenizer_vocab_size(lm.tok);
  check(tv <= lm.model.cfg.vocab_size, dir, ": tokenizer has ", tv,
        " ids but the model's vocab_size is ", lm.model.cfg.vocab_size);
  lm.eos_id = tokenizer_special_id(lm.tok, kEndOfText);
  if (lm.eos_id < 0) lm.eos_id = lm.model.cfg.eos_token_id;
  return lm;
}

std::string json_dump(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string text_from(const std::string& inline_text, const std::string& file, bool inline_given,
                      const char* what) {
  check(inline_given != !file.empty(), "give exactly one of --", what, " and --", what, "-file");
  return inline_given ? inline_text : read_file(file);
}

void set_threads(int threads) {
  check(threads >= 0, "--threads must be >= 0 (0 = all cores; got ", threads, ")");
  if (threads > 0) omp_set_num_threads(threads);
}

}  // namespace softslm
