// GPT-2 -> GGUF for llama.cpp (see gguf_gpt2.h for the names, layouts and keys).
#include "export/gguf_gpt2.h"

#include "base/error.h"
#include "base/io.h"

namespace softslm {

namespace {

// How a parameter tensor becomes a GGUF tensor.
enum class Kind {
  kVector,     // 1-D (biases, LayerNorm): f32 in every dtype
  kPositions,  // wpe [T, C] as is: f32 in every dtype (as convert_hf_to_gguf keeps it)
  kEmbedding,  // wte [V, C] as is: the file's dtype
  kConv1D,     // Hugging Face Conv1D [in, out], transposed to [out, in]: the file's dtype
};

struct Source {
  std::string name;
  const float* x;     // [rows, cols] row-major; a vector: rows = 1
  size_t rows, cols;
  Kind kind;
};

GgufTensorData encode(const Source& s, GgufDtype dtype, int* n_fallback) {
  GgufTensorData d;
  d.name = s.name;
  std::vector<float> t;  // the transposed copy: [cols, rows]
  const float* x = s.x;
  size_t row_len = s.cols, n_rows = s.rows;
  if (s.kind == Kind::kConv1D) {
    t.resize(s.rows * s.cols);
    for (size_t r = 0; r < s.rows; r++)
      for (size_t c = 0; c < s.cols; c++) t[c * s.rows + r] = s.x[r * s.cols + c];
    x = t.data();
    std::swap(row_len, n_rows);
  }
  d.dims = s.kind == Kind::kVector ? std::vector<uint64_t>{row_len}
                                   : std::vector<uint64_t>{row_len, n_rows};
  d.type = GgmlType::kF32;
  if (s.kind == Kind::kEmbedding || s.kind == Kind::kConv1D) {
    if (dtype == GgufDtype::kF16) d.type = GgmlType::kF16;
    if (dtype == GgufDtype::kQ8_0) {
      d.type = row_len % kQ8_0Block == 0 ? GgmlType::kQ8_0 : GgmlType::kF16;
      if (d.type == GgmlType::kF16 && n_fallback) ++*n_fallback;
    }
  }
  d.data = ggml_encode(d.type, x, row_len * n_rows);
  return d;
}

// tokenizer.ggml.tokens and token_type, padded to vocab_size
void token_lists(const Tokenizer& tok, int vocab_size, std::vector<std::string>* tokens,
                 std::vector<int32_t>* types) {
  const int n = tokenizer_vocab_size(tok);
  for (int id = 0; id < vocab_size; id++) {
    if (id >= n) {
      tokens->push_back("[PAD" + std::to_string(id) + "]");
      types->push_back(kGgufTokenUnused);
    } else if (tok.is_special[id]) {
      tokens->push_back(tok.id_to_bytes[id]);
      types->push_back(kGgufTokenControl);
    } else {
      tokens->push_back(byte_level_encode(tok.id_to_bytes[id]));
      types->push_back(kGgufTokenNormal);
    }
  }
}

}  // namespace

GgufDtype gguf_dtype_parse(const std::string& s) {
  if (s == "f32") return GgufDtype::kF32;
  if (s == "f16") return GgufDtype::kF16;
  if (s == "q8_0") return GgufDtype::kQ8_0;
  fail("--dtype: '", s, "' is not one of f32, f16, q8_0");
}

const char* gguf_dtype_name(GgufDtype d) {
  switch (d) {
    case GgufDtype::kF32: return "f32";
    case GgufDtype::kF16: return "f16";
    case GgufDtype::kQ8_0: return "q8_0";
  }
  return "?";
}

uint32_t gguf_file_type(GgufDtype d) {
  switch (d) {
    case GgufDtype::kF32: return 0;
    case GgufDtype::kF16: return 1;
    case GgufDtype::kQ8_0: return 7;
  }
  return 0;
}

// config.json's id, or the tokenizer's <|endoftext|> where config.json names none (-1).
static int id_or_end_of_text(int id, const Tokenizer& tok) {
  return id >= 0 ? id : tokenizer_special_id(tok, kEndOfText);
}

std::vector<GgufKv> gguf_gpt2_metadata(const Model& m, const Tokenizer& tok,
                                       const std::string& name, GgufDtype dtype) {
  const ModelConfig& c = m.cfg;
  std::vector<std::string> tokens, merges;
  std::vector<int32_t> types;
  token_lists(tok, c.vocab_size, &tokens, &types);
  for (const auto& [left, right] : tok.merges)
    merges.push_back(byte_level_encode(left) + " " + byte_level_encode(right));
  return {
      {"general.architecture", gguf_string("gpt2")},
      {"general.name", gguf_string(name)},
      {"general.file_type", gguf_uint32(gguf_file_type(dtype))},
      {"general.quantization_version", gguf_uint32(2)},  // GGML_QNT_VERSION
      {"gpt2.context_length", gguf_uint32(c.n_ctx)},
      {"gpt2.embedding_length", gguf_uint32(c.n_embd)},
      {"gpt2.feed_forward_length", gguf_uint32(4 * c.n_embd)},
      {"gpt2.block_count", gguf_uint32(c.n_layer)},
      {"gpt2.vocab_size", gguf_uint32(c.vocab_size)},
      {"gpt2.attention.head_count", gguf_uint32(c.n_head)},
      {"gpt2.attention.layer_norm_epsilon", gguf_float32(c.layer_norm_epsilon)},
      {"tokenizer.ggml.model", gguf_string("gpt2")},
      {"tokenizer.ggml.pre", gguf_string("gpt-2")},
      {"tokenizer.ggml.tokens", gguf_string_array(std::move(tokens))},
      {"tokenizer.ggml.token_type", gguf_int32_array(types)},
      {"tokenizer.ggml.merges", gguf_string_array(std::move(merges))},
      {"tokenizer.ggml.bos_token_id", gguf_uint32(id_or_end_of_text(c.bos_token_id, tok))},
      {"tokenizer.ggml.eos_token_id", gguf_uint32(id_or_end_of_text(c.eos_token_id, tok))},
      {"tokenizer.ggml.add_bos_token", gguf_bool(false)},
  };
}

std::vector<GgufTensorData> gguf_gpt2_tensors(const Model& m, GgufDtype dtype, int* n_fallback) {
  const ModelConfig& cfg = m.cfg;
  const ParamTensors& p = m.p;
  const size_t V = cfg.vocab_size, T = cfg.n_ctx, C = cfg.n_embd, F = 4 * C;
  std::vector<Source> src;
  auto vec = [&](std::string name, const float* x, size_t n) {
    src.push_back({std::move(name), x, 1, n, Kind::kVector});
  };
  auto conv1d = [&](std::string name, const float* x, size_t in, size_t out) {
    src.push_back({std::move(name), x, in, out, Kind::kConv1D});
  };
  src.push_back({"token_embd.weight", p.wte, V, C, Kind::kEmbedding});
  src.push_back({"position_embd.weight", p.wpe, T, C, Kind::kPositions});
  for (int l = 0; l < cfg.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    vec(b + "attn_norm.weight", p.ln1w + l * C, C);
    vec(b + "attn_norm.bias", p.ln1b + l * C, C);
    conv1d(b + "attn_qkv.weight", p.qkvw + l * C * 3 * C, C, 3 * C);
    vec(b + "attn_qkv.bias", p.qkvb + l * 3 * C, 3 * C);
    conv1d(b + "attn_output.weight", p.attprojw + l * C * C, C, C);
    vec(b + "attn_output.bias", p.attprojb + l * C, C);
    vec(b + "ffn_norm.weight", p.ln2w + l * C, C);
    vec(b + "ffn_norm.bias", p.ln2b + l * C, C);
    conv1d(b + "ffn_up.weight", p.fcw + l * C * F, C, F);
    vec(b + "ffn_up.bias", p.fcb + l * F, F);
    conv1d(b + "ffn_down.weight", p.fcprojw + l * F * C, F, C);
    vec(b + "ffn_down.bias", p.fcprojb + l * C, C);
  }
  vec("output_norm.weight", p.lnfw, C);
  vec("output_norm.bias", p.lnfb, C);
  src.push_back({"output.weight", p.wte, V, C, Kind::kEmbedding});  // the tied LM head

  if (n_fallback) *n_fallback = 0;
  std::vector<GgufTensorData> out;
  out.reserve(src.size());
  for (const Source& s : src) out.push_back(encode(s, dtype, n_fallback));
  return out;
}

GgufExportSummary gguf_export_gpt2(const Model& m, const Tokenizer& tok, const std::string& name,
                                   GgufDtype dtype, const std::string& path) {
  const ModelConfig& c = m.cfg;
  const int n_tok = tokenizer_vocab_size(tok);
  check(n_tok <= c.vocab_size, path, ": the tokenizer has ", n_tok,
        " ids but the model's vocab_size is ", c.vocab_size);
  const int bos = id_or_end_of_text(c.bos_token_id, tok), eos = id_or_end_of_text(c.eos_token_id, tok);
  check(bos >= 0 && bos < c.vocab_size && eos >= 0 && eos < c.vocab_size, path, ": bos_token_id ",
        bos, " / eos_token_id ", eos, " outside the vocabulary (", c.vocab_size,
        "), and the tokenizer has no ", kEndOfText, " to use instead");
  GgufExportSummary s;
  std::vector<GgufTensorData> tensors = gguf_gpt2_tensors(m, dtype, &s.n_fallback);
  std::string bytes = gguf_serialize(gguf_gpt2_metadata(m, tok, name, dtype), tensors);
  s.n_tensors = (int)tensors.size();
  s.bytes = bytes.size();
  tensors.clear();
  write_file_atomic(path, bytes);
  return s;
}

}  // namespace softslm
