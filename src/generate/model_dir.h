// A model directory as the decoding layers use it: the Hugging Face GPT-2 checkpoint and its
// tokenizer, checked against each other, and the id that ends a document.
#pragma once
#include <string>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

struct LoadedModel {
  Model model;
  Tokenizer tok;
  int eos_id;  // <|endoftext|> when the tokenizer has it, else config.json's eos_token_id (-1: none)
};

// model_load + tokenizer_load of a Hugging Face GPT-2 directory, checked against each other.
LoadedModel load_model_dir(const std::string& dir);

}  // namespace softslm
