// A softslm / Hugging Face GPT-2 model as a GGUF file for llama.cpp's `gpt2` architecture
// (its loader: src/models/gpt2.cpp; the reference converter: convert_hf_to_gguf.py GPT2Model).
//
// Tensors (dims fastest-first, as llama.cpp creates them; C = n_embd, V = vocab_size,
// T = n_ctx, F = 4C):
//   token_embd.weight        {C, V}    = wte [V, C]
//   position_embd.weight     {C, T}    = wpe [T, C]                 always f32
//   blk.N.attn_norm.{weight,bias}  {C}                              always f32
//   blk.N.attn_qkv.weight    {C, 3C}   = c_attn.weight [C, 3C] transposed to [3C, C]
//   blk.N.attn_qkv.bias      {3C}
//   blk.N.attn_output.weight {C, C}    = attn.c_proj.weight transposed
//   blk.N.ffn_norm.{weight,bias}   {C}
//   blk.N.ffn_up.weight      {C, F}    = mlp.c_fc.weight [C, F] transposed to [F, C]
//   blk.N.ffn_up.bias        {F}
//   blk.N.ffn_down.weight    {F, C}    = mlp.c_proj.weight [F, C] transposed to [C, F]
//   blk.N.ffn_down.bias      {C}
//   output_norm.{weight,bias}      {C}
//   output.weight            {C, V}    = wte again (the tied LM head, written as
//                                        convert_hf_to_gguf does; llama.cpp also accepts it absent)
// 1-D tensors and position_embd stay f32 in every dtype (as convert_hf_to_gguf does); the other
// 2-D weights are f32, f16 or q8_0. q8_0 needs rows of a multiple of 32 elements: a weight whose
// rows are not is written as f16 instead (as convert_hf_to_gguf falls back), and counted.
//
// Metadata: general.{architecture = "gpt2", name, file_type, quantization_version},
// gpt2.{context_length, embedding_length, feed_forward_length, block_count, vocab_size,
// attention.head_count, attention.layer_norm_epsilon}, tokenizer.ggml.{model = "gpt2",
// pre = "gpt-2", tokens, token_type, merges, bos_token_id, eos_token_id, add_bos_token = false}.
// tokens are the byte-level unicode strings of tokenizer.json (special tokens as their
// content); ids past the tokenizer's vocabulary (up to vocab_size) are "[PAD<id>]", unused.
#pragma once
#include <string>
#include <vector>

#include "export/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

enum class GgufDtype { kF32, kF16, kQ8_0 };

// "f32" | "f16" | "q8_0"; throws Error naming the value otherwise.
GgufDtype gguf_dtype_parse(const std::string& s);
const char* gguf_dtype_name(GgufDtype d);
// llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7
uint32_t gguf_file_type(GgufDtype d);

// llama_token_type values written in tokenizer.ggml.token_type
constexpr int32_t kGgufTokenNormal = 1, kGgufTokenControl = 3, kGgufTokenUnused = 5;

// The metadata above; bos and eos are config.json's ids (the tokenizer's <|endoftext|> where
// config.json names none).
std::vector<GgufKv> gguf_gpt2_metadata(const Model& m, const Tokenizer& tok,
                                       const std::string& name, GgufDtype dtype);
// The tensors above, in that order. *n_fallback (when given) counts the q8_0 weights written as
// f16 instead.
std::vector<GgufTensorData> gguf_gpt2_tensors(const Model& m, GgufDtype dtype,
                                              int* n_fallback = nullptr);

struct GgufExportSummary {
  int n_tensors = 0;
  uint64_t bytes = 0;    // the file's size
  int n_fallback = 0;    // q8_0 weights written as f16
};

// Checks the tokenizer against the model and writes the file atomically.
GgufExportSummary gguf_export_gpt2(const Model& m, const Tokenizer& tok, const std::string& name,
                                   GgufDtype dtype, const std::string& path);

}  // namespace softslm
