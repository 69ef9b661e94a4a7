// Hugging Face GPT-2 model directories: config.json + model.safetensors (+ tokenizer.json,
// written by the tokenizer code). Loads F32/F16/BF16, optional "transformer." prefix, tied
// lm_head.weight; ignores attn.bias / attn.masked_bias buffers.
#pragma once
#include <string>

#include "model/model.h"

namespace softslm {

// Reads <dir>/config.json. Throws Error naming the file and the problem.
ModelConfig config_load_json(const std::string& path);
// Parses config.json text in memory; `where` names the source in messages.
ModelConfig config_parse_json(const std::string& text, const std::string& where);
// Writes config.json for GPT2LMHeadModel (model_type "gpt2", activation "gelu_new", ...). Atomic.
void config_save_json(const ModelConfig& cfg, const std::string& path);

// Loads <dir>/config.json and <dir>/model.safetensors, validating everything.
Model model_load(const std::string& dir);
// Writes <dir>/config.json and <dir>/model.safetensors (Conv1D layouts, F32), atomically;
// creates dir if needed.
void model_save(const Model& m, const std::string& dir);

}  // namespace softslm
