#include "generate/model_dir.h"

#include "base/error.h"
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

}  // namespace softslm
