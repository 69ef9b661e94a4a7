// GPT-2 model hyper-parameters (the subset of Hugging Face's config.json softslm uses).
#pragma once
#include <string>

namespace softslm {

struct ModelConfig {
  int vocab_size = 4096;
  int n_ctx = 256;    // max positions (config.json: n_positions)
  int n_embd = 256;   // C
  int n_layer = 6;    // L
  int n_head = 8;     // NH; head size = C / NH
  float layer_norm_epsilon = 1e-5f;
  int bos_token_id = 0;  // -1: none (config.json: null, or an id outside the vocabulary)
  int eos_token_id = 0;
};

// Throws Error naming the first bad field (non-positive sizes, n_embd % n_head != 0, ...).
void config_validate(const ModelConfig& cfg);

}  // namespace softslm
