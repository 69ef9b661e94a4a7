// GGUF: the format (every value type, alignment, damaged files), the GPT-2 export of the shipped
// models in each dtype read back with our reader, and the export command's bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "base/io.h"
#include "export/gguf.h"
#include "export/gguf_gpt2.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace softslm;
using namespace softslm::testing;
namespace fs = std::filesystem;

namespace {

uint64_t pad32(uint64_t x) { return (x + 31) / 32 * 32; }

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

GgufValue scalar(GgufType t, uint64_t u, int64_t i, double f) {
  GgufValue v;
  v.type = t;
  v.u = u;
  v.i = i;
  v.f = f;
  return v;
}

GgufValue array_of(GgufType elem, std::vector<GgufValue> xs) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.elem_type = elem;
  v.array = std::move(xs);
  return v;
}

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case GgufType::kString: return a.s == b.s;
    case GgufType::kFloat32: case GgufType::kFloat64: return a.f == b.f;
    case GgufType::kInt8: case GgufType::kInt16: case GgufType::kInt32: case GgufType::kInt64:
      return a.i == b.i;
    case GgufType::kArray:
      if (a.elem_type != b.elem_type || a.array.size() != b.array.size()) return false;
      for (size_t k = 0; k < a.array.size(); k++)
        if (!same_value(a.array[k], b.array[k])) return false;
      return true;
    default: return a.u == b.u;
  }
}

// One key of each scalar type, a string, and an array of each.
std::vector<GgufKv> every_type_kvs() {
  std::vector<GgufKv> kvs = {
      {"t.u8", scalar(GgufType::kUint8, 200, 0, 0)},
      {"t.i8", scalar(GgufType::kInt8, 0, -100, 0)},
      {"t.u16", scalar(GgufType::kUint16, 60000, 0, 0)},
      {"t.i16", scalar(GgufType::kInt16, 0, -30000, 0)},
      {"t.u32", gguf_uint32(4000000000u)},
      {"t.i32", scalar(GgufType::kInt32, 0, -2000000000, 0)},
      {"t.f32", gguf_float32(0.125f)},
      {"t.bool", gguf_bool(true)},
      {"t.string", gguf_string("h\xc3\xa9llo")},
      {"t.u64", scalar(GgufType::kUint64, UINT64_MAX, 0, 0)},
      {"t.i64", scalar(GgufType::kInt64, 0, INT64_MIN, 0)},
      {"t.f64", scalar(GgufType::kFloat64, 0, 0, -1e300)},
      {"t.strings", gguf_string_array({"a b", "", "\xc4\xa0x"})},
      {"t.i32s", gguf_int32_array({1, -2, 3})},
      {"t.empty", gguf_string_array({})},
  };
  for (size_t k = 0; k < 12; k++) {
    if (k == (size_t)GgufType::kArray || k == (size_t)GgufType::kString) continue;
    GgufValue e = kvs[k].value;
    kvs.push_back({"a." + kvs[k].key, array_of(e.type, {e, e})});
  }
  return kvs;
}

std::string sample_dir() { return std::string(SOFTSLM_SOURCE_DIR) + "/models/sample"; }

}  // namespace

// ---- the format ----

TEST(GgufFormat, F16RoundTripsEveryHalfAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 65536; h++) {
    float x = f16_to_f32((uint16_t)h);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(x)))) << h;
    } else {
      ASSERT_EQ(f32_to_f16(x), h) << "half " << h << " = " << x;
    }
  }
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), f32_to_f16(1.0f));  // tie -> even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);        // tie -> even (up)
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);                                // max half
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                                // -> inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0);                        // tie -> 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 1);                        // smallest subnormal
  // random floats: the result is a nearest half
  std::vector<float> xs = random_vec(20000, 7, 3.0f);
  for (float x : xs) {
    uint16_t h = f32_to_f16(x);
    double err = std::fabs((double)f16_to_f32(h) - x);
    EXPECT_LE(err, std::fabs((double)f16_to_f32(h + 1) - x)) << x;
    if ((h & 0x7fff) != 0) {
      EXPECT_LE(err, std::fabs((double)f16_to_f32(h - 1) - x)) << x;
    }
  }
}

TEST(GgufFormat, Q8_0MatchesTheReferenceQuantization) {
  std::vector<float> x = random_vec(64, 3, 0.1f);
  x[5] = 0.5f;  // block 0's max
  std::fill(x.begin() + 32, x.end(), 0.0f);  // an all-zero block: d = 0
  std::string b = ggml_encode(GgmlType::kQ8_0, x.data(), x.size());
  ASSERT_EQ(b.size(), 2u * kQ8_0BlockBytes);
  uint16_t d0;
  std::memcpy(&d0, b.data(), 2);
  EXPECT_EQ(d0, f32_to_f16(0.5f / 127));
  EXPECT_EQ((int8_t)b[2 + 5], 127);
  for (int k = 0; k < 32; k++)
    EXPECT_EQ((int8_t)b[2 + k], (int)std::round(x[k] / (0.5f / 127))) << k;
  uint16_t d1;
  std::memcpy(&d1, b.data() + kQ8_0BlockBytes, 2);
  EXPECT_EQ(d1, 0);
  std::vector<float> y(64);
  ggml_decode(GgmlType::kQ8_0, b.data(), 64, y.data());
  for (int k = 32; k < 64; k++) EXPECT_EQ(y[k], 0.0f);
  EXPECT_NE(error_of([&] { ggml_encode(GgmlType::kQ8_0, x.data(), 33); }), "");
}

TEST(GgufFormat, EveryValueTypeAndAlignmentRoundTrip) {
  std::vector<GgufKv> kvs = every_type_kvs();
  std::vector<float> w = random_vec(64 * 3, 1);
  std::vector<GgufTensorData> ts = {
      {"w.f32", {64, 3}, GgmlType::kF32, ggml_encode(GgmlType::kF32, w.data(), 64 * 3)},
      {"w.f16", {5}, GgmlType::kF16, ggml_encode(GgmlType::kF16, w.data(), 5)},
      {"w.q8", {32, 2, 3}, GgmlType::kQ8_0, ggml_encode(GgmlType::kQ8_0, w.data(), 192)},
  };
  for (uint32_t alignment : {32u, 64u}) {
    GgufFile f = gguf_parse(gguf_serialize(kvs, ts, alignment), "mem");
    EXPECT_EQ(f.version, 3u);
    EXPECT_EQ(f.alignment, alignment);
    // general.alignment is written only when it is not the default
    ASSERT_EQ(f.kvs.size(), kvs.size() + (alignment != 32));
    for (size_t k = 0; k < kvs.size(); k++) {
      EXPECT_EQ(f.kvs[k].key, kvs[k].key);
      EXPECT_TRUE(same_value(f.kvs[k].value, kvs[k].value)) << kvs[k].key;
    }
    if (alignment != 32) {
      EXPECT_EQ(f.kvs.back().key, "general.alignment");
      EXPECT_EQ(f.kvs.back().value.type, GgufType::kUint32);
    }
    ASSERT_EQ(f.tensors.size(), 3u);
    EXPECT_EQ(f.data_start % alignment, 0u);
    uint64_t next = 0;
    for (size_t k = 0; k < ts.size(); k++) {
      const GgufTensorInfo& t = f.tensors[k];
      EXPECT_EQ(t.name, ts[k].name);
      EXPECT_EQ(t.dims, ts[k].dims);
      EXPECT_EQ(t.type, ts[k].type);
      EXPECT_EQ(t.offset, next) << t.name;  // in order, each padded (what ggml requires)
      EXPECT_EQ(std::string(gguf_tensor_data(f, t), t.nbytes), ts[k].data);
      next += (t.nbytes + alignment - 1) / alignment * alignment;
    }
    EXPECT_EQ(f.bytes.size(), f.data_start + next);
  }
  EXPECT_NE(error_of([&] { gguf_serialize(kvs, ts, 48); }).find("power of two"), std::string::npos);
  ts[1].data.pop_back();
  EXPECT_NE(error_of([&] { gguf_serialize(kvs, ts); }).find("w.f16"), std::string::npos);
}

TEST(GgufFormat, DamagedFilesAreRefusedByName) {
  std::vector<float> w(64, 1.0f);
  std::vector<GgufTensorData> ts = {
      {"a", {32}, GgmlType::kF32, ggml_encode(GgmlType::kF32, w.data(), 32)},
      {"b", {32}, GgmlType::kF32, ggml_encode(GgmlType::kF32, w.data(), 32)}};
  const std::string good = gguf_serialize({{"k", gguf_string("v")}}, ts);
  ASSERT_NO_THROW(gguf_parse(good, "x.gguf"));
  auto parse_error = [&](std::string bytes) {
    return error_of([&] { gguf_parse(std::move(bytes), "x.gguf"); });
  };
  // the layout: magic 4 | version 4 | counts 16 | "k": 8 + 1 | type 4 | "v": 8 + 1 |
  // tensor "a": name 8 + 1 | n_dims 4 | dim 8 | type 4 | offset 8 | tensor "b" ...
  const size_t kv_type = 24 + 9, a_dims = 24 + 9 + 4 + 9 + 9, a_offset = a_dims + 4 + 8 + 4;
  std::string s = good;
  s[0] = 'X';
  EXPECT_NE(parse_error(s).find("not a GGUF file"), std::string::npos);
  s = good;
  s[4] = 2;
  EXPECT_NE(parse_error(s).find("version 2"), std::string::npos);
  EXPECT_NE(parse_error(good.substr(0, good.size() - 1)).find("'b'"), std::string::npos);
  EXPECT_NE(parse_error(good.substr(0, 30)).find("does not fit in the file"), std::string::npos);
  const std::string kv_only = gguf_serialize({{"k", gguf_string("value")}}, {});
  EXPECT_NE(parse_error(kv_only.substr(0, 24 + 8 + 1 + 4 + 8 + 3))
                .find("x.gguf: file ends inside value of 'k'"),
            std::string::npos);
  s = good;
  s[kv_type] = 13;
  EXPECT_NE(parse_error(s).find("unknown value type 13"), std::string::npos);
  s = good;
  s[a_dims] = 5;
  EXPECT_NE(parse_error(s).find("5 dims"), std::string::npos);
  s = good;
  s[a_offset] = 16;
  EXPECT_NE(parse_error(s).find("not a multiple of the alignment"), std::string::npos);
  s = good;
  s[a_offset] = 32 * 5;  // past the end
  EXPECT_NE(parse_error(s).find("runs past the end"), std::string::npos);
  s = good;
  s[a_offset + 8 + 9 + 4 + 8 + 4] = 0;  // b's offset 128 -> 0: on top of a
  EXPECT_NE(parse_error(s).find("overlap"), std::string::npos);
  EXPECT_NE(error_of([] { gguf_read("/nonexistent/x.gguf"); }).find("/nonexistent/x.gguf"),
            std::string::npos);
}

// ---- the GPT-2 export of the shipped models ----

struct ExportCase {
  const char* model;
  GgufDtype dtype;
};

class GgufExport : public ::testing::TestWithParam<ExportCase> {};

// the element of a tensor in GGUF's layout: row r (of dims[1]), column c (of dims[0])
struct Expected {
  const float* x;  // the model's tensor
  size_t ld;       // its row length
  bool transposed;  // GGUF (r, c) = x[c][r] (a Conv1D weight) instead of x[r][c]
  float at(size_t r, size_t c) const { return transposed ? x[c * ld + r] : x[r * ld + c]; }
};

TEST_P(GgufExport, ReadsBackAsLlamaCppsGpt2) {
  const ExportCase& tc = GetParam();
  const std::string dir = std::string(SOFTSLM_SOURCE_DIR) + "/models/" + tc.model;
  Model m = model_load(dir);
  Tokenizer tok = tokenizer_load(dir);
  const ModelConfig& cfg = m.cfg;
  const size_t V = cfg.vocab_size, T = cfg.n_ctx, C = cfg.n_embd, F = 4 * C, L = cfg.n_layer;
  const std::string path = make_temp_dir() + "/m.gguf";
  GgufExportSummary sum = gguf_export_gpt2(m, tok, tc.model, tc.dtype, path);
  GgufFile f = gguf_read(path);

  // header
  EXPECT_EQ(f.bytes.substr(0, 4), "GGUF");
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.alignment, 32u);
  EXPECT_EQ(sum.bytes, f.bytes.size());

  // metadata: exactly these keys, with these types and values
  const std::map<std::string, GgufType> want_types = {
      {"general.architecture", GgufType::kString},
      {"general.name", GgufType::kString},
      {"general.file_type", GgufType::kUint32},
      {"general.quantization_version", GgufType::kUint32},
      {"gpt2.context_length", GgufType::kUint32},
      {"gpt2.embedding_length", GgufType::kUint32},
      {"gpt2.feed_forward_length", GgufType::kUint32},
      {"gpt2.block_count", GgufType::kUint32},
      {"gpt2.vocab_size", GgufType::kUint32},
      {"gpt2.attention.head_count", GgufType::kUint32},
      {"gpt2.attention.layer_norm_epsilon", GgufType::kFloat32},
      {"tokenizer.ggml.model", GgufType::kString},
      {"tokenizer.ggml.pre", GgufType::kString},
      {"tokenizer.ggml.tokens", GgufType::kArray},
      {"tokenizer.ggml.token_type", GgufType::kArray},
      {"tokenizer.ggml.merges", GgufType::kArray},
      {"tokenizer.ggml.bos_token_id", GgufType::kUint32},
      {"tokenizer.ggml.eos_token_id", GgufType::kUint32},
      {"tokenizer.ggml.add_bos_token", GgufType::kBool},
  };
  std::map<std::string, const GgufValue*> kv;
  for (const auto& x : f.kvs) kv[x.key] = &x.value;
  ASSERT_EQ(kv.size(), want_types.size());
  for (const auto& [key, type] : want_types) {
    ASSERT_TRUE(kv.count(key)) << key;
    EXPECT_EQ(kv[key]->type, type) << key;
  }
  EXPECT_EQ(kv["general.architecture"]->s, "gpt2");
  EXPECT_EQ(kv["general.name"]->s, tc.model);
  const uint64_t ftype[] = {0, 1, 7};
  EXPECT_EQ(kv["general.file_type"]->u, ftype[(int)tc.dtype]);
  EXPECT_EQ(kv["general.quantization_version"]->u, 2u);
  EXPECT_EQ(kv["gpt2.context_length"]->u, T);
  EXPECT_EQ(kv["gpt2.embedding_length"]->u, C);
  EXPECT_EQ(kv["gpt2.feed_forward_length"]->u, F);
  EXPECT_EQ(kv["gpt2.block_count"]->u, L);
  EXPECT_EQ(kv["gpt2.vocab_size"]->u, V);
  EXPECT_EQ(kv["gpt2.attention.head_count"]->u, (uint64_t)cfg.n_head);
  EXPECT_EQ((float)kv["gpt2.attention.layer_norm_epsilon"]->f, cfg.layer_norm_epsilon);
  EXPECT_EQ(kv["tokenizer.ggml.model"]->s, "gpt2");
  EXPECT_EQ(kv["tokenizer.ggml.pre"]->s, "gpt-2");
  EXPECT_EQ(kv["tokenizer.ggml.bos_token_id"]->u, (uint64_t)cfg.bos_token_id);
  EXPECT_EQ(kv["tokenizer.ggml.eos_token_id"]->u, (uint64_t)cfg.eos_token_id);
  EXPECT_EQ(kv["tokenizer.ggml.add_bos_token"]->u, 0u);

  // the token list is the tokenizer's vocabulary (byte-level strings), padded to vocab_size
  const GgufValue& tokens = *kv["tokenizer.ggml.tokens"];
  const GgufValue& types = *kv["tokenizer.ggml.token_type"];
  ASSERT_EQ(tokens.elem_type, GgufType::kString);
  ASSERT_EQ(types.elem_type, GgufType::kInt32);
  ASSERT_EQ(tokens.array.size(), V);
  ASSERT_EQ(types.array.size(), V);
  const int n_tok = tokenizer_vocab_size(tok);
  int n_control = 0;
  for (int id = 0; id < (int)V; id++) {
    const std::string& s = tokens.array[id].s;
    if (id >= n_tok) {
      EXPECT_EQ(s, "[PAD" + std::to_string(id) + "]");
      EXPECT_EQ(types.array[id].i, 5);
    } else if (tok.is_special[id]) {
      EXPECT_EQ(s, tok.id_to_bytes[id]);
      EXPECT_EQ(types.array[id].i, 3) << s;
      n_control++;
    } else {
      std::string raw;
      ASSERT_TRUE(byte_level_decode(s, &raw)) << id;
      EXPECT_EQ(raw, tok.id_to_bytes[id]) << id;
      EXPECT_EQ(types.array[id].i, 1);
    }
  }
  EXPECT_EQ(n_control, (int)tok.specials.size());
  EXPECT_GE(n_control, 1);
  EXPECT_EQ(tokens.array[tokenizer_special_id(tok, kEndOfText)].s, "<|endoftext|>");
  const GgufValue& merges = *kv["tokenizer.ggml.merges"];
  ASSERT_EQ(merges.elem_type, GgufType::kString);
  ASSERT_EQ(merges.array.size(), tok.merges.size());
  for (size_t k = 0; k < tok.merges.size(); k++) {
    const std::string& s = merges.array[k].s;
    size_t sp = s.find(' ');
    ASSERT_NE(sp, std::string::npos) << s;
    std::string left, right;
    ASSERT_TRUE(byte_level_decode(s.substr(0, sp), &left)) << s;
    ASSERT_TRUE(byte_level_decode(s.substr(sp + 1), &right)) << s;
    EXPECT_EQ(left, tok.merges[k].first);
    EXPECT_EQ(right, tok.merges[k].second);
  }

  // tensors: names, dims (fastest-first), types, offsets, sizes
  struct Want {
    std::string name;
    std::vector<uint64_t> dims;
    bool weight;  // a 2-D weight in the file's dtype (else f32)
    Expected src;
  };
  const ParamTensors& p = m.p;
  std::vector<Want> want = {{"token_embd.weight", {C, V}, true, {p.wte, C, false}},
                            {"position_embd.weight", {C, T}, false, {p.wpe, C, false}}};
  for (size_t l = 0; l < L; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    want.push_back({b + "attn_norm.weight", {C}, false, {p.ln1w + l * C, C, false}});
    want.push_back({b + "attn_norm.bias", {C}, false, {p.ln1b + l * C, C, false}});
    want.push_back({b + "attn_qkv.weight", {C, 3 * C}, true, {p.qkvw + l * C * 3 * C, 3 * C, true}});
    want.push_back({b + "attn_qkv.bias", {3 * C}, false, {p.qkvb + l * 3 * C, 3 * C, false}});
    want.push_back({b + "attn_output.weight", {C, C}, true, {p.attprojw + l * C * C, C, true}});
    want.push_back({b + "attn_output.bias", {C}, false, {p.attprojb + l * C, C, false}});
    want.push_back({b + "ffn_norm.weight", {C}, false, {p.ln2w + l * C, C, false}});
    want.push_back({b + "ffn_norm.bias", {C}, false, {p.ln2b + l * C, C, false}});
    want.push_back({b + "ffn_up.weight", {C, F}, true, {p.fcw + l * C * F, F, true}});
    want.push_back({b + "ffn_up.bias", {F}, false, {p.fcb + l * F, F, false}});
    want.push_back({b + "ffn_down.weight", {F, C}, true, {p.fcprojw + l * F * C, C, true}});
    want.push_back({b + "ffn_down.bias", {C}, false, {p.fcprojb + l * C, C, false}});
  }
  want.push_back({"output_norm.weight", {C}, false, {p.lnfw, C, false}});
  want.push_back({"output_norm.bias", {C}, false, {p.lnfb, C, false}});
  want.push_back({"output.weight", {C, V}, true, {p.wte, C, false}});
  ASSERT_EQ(f.tensors.size(), want.size());
  EXPECT_EQ(sum.n_tensors, (int)want.size());
  EXPECT_EQ(sum.n_fallback, 0);  // both models' rows are multiples of 32

  EXPECT_EQ(f.data_start % 32, 0u);
  uint64_t next = 0;  // ggml's rule: tensors in order, each padded to 32
  for (size_t k = 0; k < want.size(); k++) {
    const GgufTensorInfo& t = f.tensors[k];
    const Want& w = want[k];
    ASSERT_EQ(t.name, w.name);
    ASSERT_EQ(t.dims, w.dims) << t.name;
    GgmlType type = GgmlType::kF32;
    if (w.weight && tc.dtype == GgufDtype::kF16) type = GgmlType::kF16;
    if (w.weight && tc.dtype == GgufDtype::kQ8_0) type = GgmlType::kQ8_0;
    EXPECT_EQ(t.type, type) << t.name;
    EXPECT_EQ(t.offset % 32, 0u) << t.name;
    EXPECT_EQ(t.offset, next) << t.name;
    next = t.offset + pad32(t.nbytes);

    const size_t cols = w.dims[0], rows = w.dims.size() > 1 ? w.dims[1] : 1;
    std::vector<float> y(rows * cols);
    gguf_tensor_to_f32(f, t, y.data());
    const char* raw = gguf_tensor_data(f, t);
    int bad = 0;
    for (size_t r = 0; r < rows; r++)
      for (size_t c = 0; c < cols; c++) {
        const float x = w.src.at(r, c), got = y[r * cols + c];
        bool ok;
        if (t.type == GgmlType::kF32) {
          ok = std::memcmp(&x, &got, 4) == 0;  // bit for bit
        } else if (t.type == GgmlType::kF16) {
          ok = std::fabs(got - x) <= std::ldexp(std::fabs(x), -11) + std::ldexp(1.0f, -25);
        } else {  // q8_0: within half a step of the block's scale (and the scale's f16 rounding)
          size_t i = r * cols + c, blk = i / kQ8_0Block;
          float amax = 0;
          for (size_t j = blk * kQ8_0Block; j < (blk + 1) * kQ8_0Block; j++)
            amax = std::max(amax, std::fabs(w.src.at(j / cols, j % cols)));
          uint16_t dh;
          std::memcpy(&dh, raw + blk * kQ8_0BlockBytes, 2);
          const float d = amax / 127, d16 = f16_to_f32(dh);
          ok = dh == f32_to_f16(d) &&
               std::fabs(got - x) <= d / 2 + 127 * std::fabs(d - d16) + 1e-6f * amax;
        }
        if (!ok && bad++ < 3)
          ADD_FAILURE() << t.name << " (" << r << ", " << c << "): " << got << " vs " << x;
      }
    EXPECT_EQ(bad, 0) << t.name;
  }
  EXPECT_EQ(f.bytes.size(), f.data_start + next);  // the last tensor padded too
  EXPECT_EQ(fs::file_size(path), f.bytes.size());
  fs::remove_all(fs::path(path).parent_path());
}

INSTANTIATE_TEST_SUITE_P(
    Gguf, GgufExport,
    ::testing::Values(ExportCase{"sample", GgufDtype::kF32}, ExportCase{"sample", GgufDtype::kF16},
                      ExportCase{"sample", GgufDtype::kQ8_0}, ExportCase{"cot", GgufDtype::kF32},
                      ExportCase{"cot", GgufDtype::kF16}, ExportCase{"cot", GgufDtype::kQ8_0}),
    [](const auto& info) {
      return std::string(info.param.model) + "_" + gguf_dtype_name(info.param.dtype);
    });

TEST(GgufExportFallback, Q8_0RowsNotAMultipleOf32AreWrittenAsF16) {
  ModelConfig c;
  c.vocab_size = 260;
  c.n_ctx = 8;
  c.n_embd = 24;  // rows of 24: no q8_0 block fits
  c.n_layer = 1;
  c.n_head = 2;
  Model m = model_create(c);
  model_init_random(m, 1);
  Tokenizer tok = tokenizer_train({"abc abc"}, 259, {kEndOfText});
  int fallback = 0;
  std::vector<GgufTensorData> ts = gguf_gpt2_tensors(m, GgufDtype::kQ8_0, &fallback);
  EXPECT_EQ(fallback, 5);  // token_embd, attn_qkv, attn_output, ffn_up, output: rows of C
  for (const auto& t : ts)  // ffn_down's rows are 4C = 96 long: q8_0 fits there
    EXPECT_EQ(t.type == GgmlType::kQ8_0, t.name == "blk.0.ffn_down.weight") << t.name;
  const std::string path = make_temp_dir() + "/m.gguf";
  GgufExportSummary s = gguf_export_gpt2(m, tok, "tiny", GgufDtype::kQ8_0, path);
  EXPECT_EQ(s.n_fallback, 5);
  GgufFile f = gguf_read(path);
  EXPECT_EQ(gguf_find_tensor(f, "blk.0.ffn_down.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(gguf_find_tensor(f, "blk.0.ffn_up.weight")->type, GgmlType::kF16);
  // the tokenizer's 259 ids padded to the model's 260
  EXPECT_EQ(gguf_find_kv(f, "tokenizer.ggml.tokens")->value.array.back().s, "[PAD259]");
  fs::remove_all(fs::path(path).parent_path());
}

TEST(GgufExportFallback, ConfigNamingNoEosUsesTheTokenizersEndOfText) {
  ModelConfig c;
  c.vocab_size = 260;
  c.n_ctx = 8;
  c.n_embd = 32;
  c.n_layer = 1;
  c.n_head = 2;
  c.bos_token_id = c.eos_token_id = -1;  // e.g. GPT2Config's 50256 on a small vocabulary
  Model m = model_create(c);
  model_init_random(m, 1);
  Tokenizer tok = tokenizer_train({"abc abc"}, 259, {kEndOfText});
  const int eot = tokenizer_special_id(tok, kEndOfText);
  ASSERT_GE(eot, 0);
  const std::string d = make_temp_dir(), path = d + "/m.gguf";
  gguf_export_gpt2(m, tok, "tiny", GgufDtype::kF32, path);
  GgufFile f = gguf_read(path);
  EXPECT_EQ(gguf_find_kv(f, "tokenizer.ggml.bos_token_id")->value.u, (uint64_t)eot);
  EXPECT_EQ(gguf_find_kv(f, "tokenizer.ggml.eos_token_id")->value.u, (uint64_t)eot);
  // no <|endoftext|> either: refused by name, nothing written
  Tokenizer plain = tokenizer_train({"abc abc"}, 259, {});
  const std::string path2 = d + "/n.gguf";
  try {
    gguf_export_gpt2(m, plain, "tiny", GgufDtype::kF32, path2);
    ADD_FAILURE() << "exported without bos/eos";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eos_token_id"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path2));
  fs::remove_all(d);
}

// ---- the command ----

TEST(GgufCli, ExportWritesTheFileAndASummary) {
  const std::string d = make_temp_dir(), out = d + "/sample.gguf";
  RunResult r = run_cli("export --format gguf --model " + sample_dir() + " -o " + out +
                        " --dtype q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("tensors"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("q8_0"), std::string::npos) << r.out;
  GgufFile f = gguf_read(out);
  EXPECT_NE(r.out.find(std::to_string(f.bytes.size()) + " bytes"), std::string::npos) << r.out;
  EXPECT_EQ(gguf_find_kv(f, "general.name")->value.s, "sample");
  EXPECT_EQ(run_cli("export --help").exit_code, 0);
  fs::remove_all(d);
}

TEST(GgufCli, BadInputIsOneLineAndLeavesNothing) {
  const std::string d = make_temp_dir();
  auto expect_error = [](const RunResult& r, int code, const std::string& needle) {
    EXPECT_EQ(r.exit_code, code) << r.out;
    EXPECT_EQ(r.out.rfind("softslm: error: ", 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find(needle), std::string::npos) << "missing '" << needle << "' in " << r.out;
  };
  expect_error(run_cli("export --model " + d + "/none -o " + d + "/x.gguf"), 1,
               d + "/none: no such model directory");
  expect_error(run_cli("export --model " + sample_dir() + " -o " + d + "/no/x.gguf"), 1,
               "the output directory '" + d + "/no' does not exist");
  expect_error(run_cli("export --model " + sample_dir() + " -o " + d), 1, "is a directory");
  expect_error(run_cli("export --model " + sample_dir() + " -o /proc/x.gguf"), 1, "/proc/x.gguf");
  expect_error(run_cli("export --format onnx --model " + sample_dir() + " -o " + d + "/x.gguf"),
               2, "--format");
  expect_error(run_cli("export --model " + sample_dir() + " -o " + d + "/x.gguf --dtype q4_0"),
               2, "--dtype");
  // a model directory without a tokenizer
  fs::create_directories(d + "/m");
  for (const char* f : {"config.json", "model.safetensors"})
    fs::copy_file(sample_dir() + "/" + f, d + "/m/" + f);
  expect_error(run_cli("export --model " + d + "/m -o " + d + "/x.gguf"), 1, "tokenizer");
  // killed half-way through the write: no x.gguf (only a temporary file may remain)
  RunResult killed = run_cli("export --model " + sample_dir() + " -o " + d + "/x.gguf",
                             ("SOFTSLM_TEST_KILL_AT=2 " + std::string(SOFTSLM_BINARY)).c_str());
  EXPECT_NE(killed.exit_code, 0);
  EXPECT_FALSE(fs::exists(d + "/x.gguf"));
  fs::remove_all(d);
}
