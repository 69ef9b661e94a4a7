// Checkpoint (config.json + model.safetensors) and safetensors reader/writer tests.
#include "model/checkpoint.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "base/io.h"
#include "model/safetensors.h"

using namespace softslm;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "softslm_ckpt_XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 50;
  c.n_ctx = 16;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.bos_token_id = 1;
  c.eos_token_id = 2;
  return c;
}

Model random_model(const ModelConfig& cfg, uint64_t seed = 42) {
  Model m = model_create(cfg);
  model_init_random(m, seed);
  for (size_t i = 0; i < m.num_params; i += 7)
    m.memory[i] += 0.001f * (float)(i % 13);  // biases too
  return m;
}

void expect_same_model(const Model& a, const Model& b) {
  EXPECT_EQ(a.cfg.vocab_size, b.cfg.vocab_size);
  EXPECT_EQ(a.cfg.n_ctx, b.cfg.n_ctx);
  EXPECT_EQ(a.cfg.n_embd, b.cfg.n_embd);
  EXPECT_EQ(a.cfg.n_layer, b.cfg.n_layer);
  EXPECT_EQ(a.cfg.n_head, b.cfg.n_head);
  EXPECT_EQ(a.cfg.layer_norm_epsilon, b.cfg.layer_norm_epsilon);
  EXPECT_EQ(a.cfg.bos_token_id, b.cfg.bos_token_id);
  EXPECT_EQ(a.cfg.eos_token_id, b.cfg.eos_token_id);
  ASSERT_EQ(a.num_params, b.num_params);
  EXPECT_EQ(std::memcmp(a.memory.get(), b.memory.get(), a.num_params * sizeof(float)), 0);
}

// Runs f, expecting a one-line softslm::Error whose message contains every part.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const Error& e) {
    std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nlacks: " << p;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return;
  }
  ADD_FAILURE() << "no softslm::Error thrown";
}

// A safetensors file from a header text and a data buffer.
std::string raw_file(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

// Independent header parse (no softslm code involved).
json read_header(const std::string& path, uint64_t* header_len = nullptr) {
  std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  if (header_len) *header_len = n;
  return json::parse(bytes.substr(8, n));
}

// Editable copy of a safetensors file's tensors.
struct RawTensor {
  std::string name, dtype;
  std::vector<size_t> shape;
  std::string bytes;
};

std::vector<RawTensor> read_raw(const std::string& path) {
  SafetensorsFile f = safetensors_read(path);
  std::vector<RawTensor> out;
  for (const auto& t : f.tensors)
    out.push_back({t.name, t.dtype, t.shape, std::string(safetensors_data(f, t), t.end - t.begin)});
  return out;
}

void write_raw(const std::string& path, const std::vector<RawTensor>& tensors) {
  std::vector<SafetensorsEntry> entries;
  for (const auto& t : tensors) entries.push_back({t.name, t.dtype, t.shape, t.bytes});
  safetensors_write(path, entries, {{"format", "pt"}});
}

RawTensor f32_tensor(const std::string& name, std::vector<size_t> shape, float fill) {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  std::vector<float> v(n, fill);
  return {name, "F32", shape, std::string(reinterpret_cast<const char*>(v.data()), n * 4)};
}

// float -> IEEE half bits, for values exactly representable as halves (asserted).
uint16_t f32_to_f16_exact(float x) {
  uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  double a = std::fabs((double)x);
  if (a == 0) return sign;
  if (a < std::ldexp(1.0, -14)) {  // subnormal: a = mant * 2^-24
    double mant = std::ldexp(a, 24);
    if (mant != std::floor(mant)) throw std::runtime_error("not a half subnormal");
    return sign | (uint16_t)mant;
  }
  int e = (int)std::floor(std::log2(a));
  double mant = (std::ldexp(a, -e) - 1.0) * 1024.0;
  if (mant != std::floor(mant) || e > 15) throw std::runtime_error("not a half");
  return sign | (uint16_t)((e + 15) << 10) | (uint16_t)mant;
}

// Rewrites every F32 tensor of a file as F16 or BF16 (values must be representable).
void convert_file(const std::string& path, const std::string& dtype) {
  std::vector<RawTensor> ts = read_raw(path);
  for (RawTensor& t : ts) {
    std::string out;
    for (size_t i = 0; i < t.bytes.size(); i += 4) {
      float x;
      std::memcpy(&x, t.bytes.data() + i, 4);
      uint32_t bits = std::bit_cast<uint32_t>(x);
      if (dtype == "BF16" && (bits & 0xffff)) throw std::runtime_error("not a bfloat16");
      uint16_t h = dtype == "F16" ? f32_to_f16_exact(x) : (uint16_t)(bits >> 16);
      out.append(reinterpret_cast<const char*>(&h), 2);
    }
    t.dtype = dtype;
    t.bytes = out;
  }
  write_raw(path, ts);
}

// Edits model.safetensors of a saved model directory.
void edit_tensors(const std::string& dir, const std::function<void(std::vector<RawTensor>&)>& fn) {
  std::vector<RawTensor> ts = read_raw(dir + "/model.safetensors");
  fn(ts);
  write_raw(dir + "/model.safetensors", ts);
}

void erase_tensor(std::vector<RawTensor>& ts, const std::string& name) {
  std::erase_if(ts, [&](const RawTensor& t) { return t.name == name; });
}

}  // namespace

TEST(CheckpointTest, SaveLoadRoundTripIsBitExact) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  model_save(m, tmp / "model");
  Model back = model_load(tmp / "model");
  expect_same_model(m, back);
  // Saving again gives identical bytes (deterministic writer).
  std::string first = read_file(tmp / "model/model.safetensors");
  model_save(back, tmp / "model");
  EXPECT_EQ(read_file(tmp / "model/model.safetensors"), first);
}

TEST(CheckpointTest, FileUsesHuggingFaceNamesAndConv1DLayout) {
  TempDir tmp;
  ModelConfig cfg = tiny_config();
  Model m = random_model(cfg);
  model_save(m, tmp.path);
  uint64_t header_len = 0;
  json h = read_header(tmp / "model.safetensors", &header_len);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(h["__metadata__"], json({{"format", "pt"}}));

  size_t V = 50, T = 16, C = 8;
  std::map<std::string, std::vector<size_t>> want = {
      {"wte.weight", {V, C}}, {"wpe.weight", {T, C}}, {"ln_f.weight", {C}}, {"ln_f.bias", {C}}};
  for (int l = 0; l < 2; l++) {
    std::string p = "h." + std::to_string(l) + ".";
    want[p + "ln_1.weight"] = want[p + "ln_1.bias"] = {C};
    want[p + "ln_2.weight"] = want[p + "ln_2.bias"] = {C};
    want[p + "attn.c_attn.weight"] = {C, 3 * C};
    want[p + "attn.c_attn.bias"] = {3 * C};
    want[p + "attn.c_proj.weight"] = {C, C};
    want[p + "attn.c_proj.bias"] = {C};
    want[p + "mlp.c_fc.weight"] = {C, 4 * C};
    want[p + "mlp.c_fc.bias"] = {4 * C};
    want[p + "mlp.c_proj.weight"] = {4 * C, C};
    want[p + "mlp.c_proj.bias"] = {C};
  }
  std::map<std::string, std::vector<size_t>> got;
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(v["dtype"], "F32") << name;
    got[name] = v["shape"].get<std::vector<size_t>>();
  }
  EXPECT_EQ(got, want);

  // HF element [i][j] (in, out) == internal [i][j]: both use the Conv1D layout.
  std::string bytes = read_file(tmp / "model.safetensors");
  auto element = [&](const std::string& name, size_t i, size_t j) {
    size_t cols = h[name]["shape"][1].get<size_t>();
    size_t off = 8 + header_len + h[name]["data_offsets"][0].get<size_t>() + 4 * (i * cols + j);
    float x;
    std::memcpy(&x, bytes.data() + off, 4);
    return x;
  };
  for (size_t l = 0; l < 2; l++) {
    std::string p = "h." + std::to_string(l) + ".";
    for (size_t i = 0; i < C; i++)
      for (size_t j = 0; j < 3 * C; j++)
        ASSERT_EQ(element(p + "attn.c_attn.weight", i, j), m.p.qkvw[l * 3 * C * C + i * 3 * C + j]);
    for (size_t i = 0; i < 4 * C; i++)
      for (size_t j = 0; j < C; j++)
        ASSERT_EQ(element(p + "mlp.c_proj.weight", i, j),
                  m.p.fcprojw[l * 4 * C * C + i * C + j]);
  }
  EXPECT_EQ(element("wte.weight", 3, 5), m.p.wte[3 * C + 5]);
}

TEST(CheckpointTest, ConfigJsonIsGpt2) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  model_save(m, tmp.path);
  json c = json::parse(read_file(tmp / "config.json"));
  EXPECT_EQ(c["architectures"], json({"GPT2LMHeadModel"}));
  EXPECT_EQ(c["model_type"], "gpt2");
  EXPECT_EQ(c["vocab_size"], 50);
  EXPECT_EQ(c["n_positions"], 16);
  EXPECT_EQ(c["n_ctx"], 16);
  EXPECT_EQ(c["n_embd"], 8);
  EXPECT_EQ(c["n_layer"], 2);
  EXPECT_EQ(c["n_head"], 2);
  EXPECT_TRUE(c["n_inner"].is_null());
  EXPECT_EQ(c["activation_function"], "gelu_new");
  EXPECT_EQ(c["layer_norm_epsilon"].get<double>(), 1e-5);
  EXPECT_EQ(c["bos_token_id"], 1);
  EXPECT_EQ(c["eos_token_id"], 2);
  EXPECT_EQ(c["tie_word_embeddings"], true);
  EXPECT_EQ(c["torch_dtype"], "float32");
  for (const char* k : {"resid_pdrop", "embd_pdrop", "attn_pdrop", "initializer_range",
                        "scale_attn_weights", "use_cache"})
    EXPECT_TRUE(c.contains(k)) << k;
}

TEST(CheckpointTest, ConfigDefaultsAndNctxFallback) {
  TempDir tmp;
  write_file_atomic(tmp / "config.json", R"({"n_embd": 8, "n_layer": 1, "n_head": 2,
      "vocab_size": 10, "n_ctx": 12, "n_inner": 32, "activation_function": "gelu_pytorch_tanh"})");
  ModelConfig c = config_load_json(tmp / "config.json");
  EXPECT_EQ(c.n_ctx, 12);
  EXPECT_EQ(c.layer_norm_epsilon, 1e-5f);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_id, 0);
  config_save_json(c, tmp / "again.json");
  ModelConfig d = config_load_json(tmp / "again.json");
  EXPECT_EQ(d.n_ctx, 12);
}

// Hugging Face's GPT2Config keeps GPT-2's ids (50256) on any vocabulary, and allows null: such
// ids name no token (-1), load, and are written back as null.
TEST(CheckpointTest, ConfigTokenIdsOutsideTheVocabularyMeanNone) {
  TempDir tmp;
  write_file_atomic(tmp / "config.json", R"({"n_embd": 8, "n_layer": 1, "n_head": 2,
      "vocab_size": 10, "n_positions": 12, "bos_token_id": 50256, "eos_token_id": null})");
  ModelConfig c = config_load_json(tmp / "config.json");
  EXPECT_EQ(c.bos_token_id, -1);
  EXPECT_EQ(c.eos_token_id, -1);
  config_save_json(c, tmp / "again.json");
  json j = json::parse(read_file(tmp / "again.json"));
  EXPECT_TRUE(j["bos_token_id"].is_null());
  EXPECT_TRUE(j["eos_token_id"].is_null());
  ModelConfig d = config_load_json(tmp / "again.json");
  EXPECT_EQ(d.bos_token_id, -1);
  c.eos_token_id = -2;
  EXPECT_THROW(config_validate(c), Error);
  EXPECT_EQ(d.vocab_size, 10);
}

TEST(SafetensorsTest, HalfAndBfloat16Conversion) {
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));      // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));      // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x83FF), -std::ldexp(1023.0f, -24));  // largest subnormal, negative
  EXPECT_EQ(std::bit_cast<uint32_t>(f16_to_f32(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(f16_to_f32(0x7C00), INFINITY);
  EXPECT_EQ(f16_to_f32(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7C01)));
  for (uint32_t h = 0; h < 0x10000; h++) {  // agrees with the test's own encoder
    float x = f16_to_f32((uint16_t)h);
    if (!std::isfinite(x)) continue;
    ASSERT_EQ(f32_to_f16_exact(x), h) << h;
  }
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC0A0), -5.0f);
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // subnormal
  EXPECT_EQ(bf16_to_f32(0xFF80), -INFINITY);
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC0)));
}

TEST(CheckpointTest, LoadsF16Checkpoint) {
  TempDir tmp;
  Model m = model_create(tiny_config());
  for (size_t i = 0; i < m.num_params; i++)  // multiples of 2^-10: exact halves
    m.memory[i] = (float)((int)((i * 7919) % 2001) - 1000) / 1024.0f;
  m.p.wte[3] = std::ldexp(1.0f, -24);   // smallest subnormal
  m.p.wte[5] = -std::ldexp(3.0f, -20);  // negative subnormal
  m.p.wte[7] = -65504.0f;
  m.p.qkvw[1] = -std::ldexp(5.0f, -24);  // subnormal inside a Conv1D tensor
  model_save(m, tmp.path);
  convert_file(tmp / "model.safetensors", "F16");
  EXPECT_EQ(read_header(tmp / "model.safetensors")["wte.weight"]["dtype"], "F16");
  expect_same_model(m, model_load(tmp.path));
}

TEST(CheckpointTest, LoadsBF16Checkpoint) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  for (size_t i = 0; i < m.num_params; i++)  // keep what bfloat16 can hold
    m.memory[i] = std::bit_cast<float>(std::bit_cast<uint32_t>(m.memory[i]) & 0xffff0000u);
  m.p.wte[3] = std::bit_cast<float>(0x00010000u);  // subnormal
  m.p.wte[4] = std::bit_cast<float>(0x80010000u);  // negative subnormal
  m.p.fcw[2] = -3.5f;
  model_save(m, tmp.path);
  convert_file(tmp / "model.safetensors", "BF16");
  expect_same_model(m, model_load(tmp.path));
}

TEST(CheckpointTest, AcceptsTransformerPrefixLmHeadAndAttnBuffers) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  model_save(m, tmp.path);
  edit_tensors(tmp.path, [&](std::vector<RawTensor>& ts) {
    std::string wte;
    for (RawTensor& t : ts) {
      if (t.name == "wte.weight") wte = t.bytes;
      t.name = "transformer." + t.name;
    }
    ts.push_back({"lm_head.weight", "F32", {50, 8}, wte});
    ts.push_back(f32_tensor("transformer.h.0.attn.bias", {1, 1, 16, 16}, 1.0f));
    ts.push_back(f32_tensor("transformer.h.1.attn.bias", {1, 1, 16, 16}, 1.0f));
    ts.push_back(f32_tensor("transformer.h.0.attn.masked_bias", {}, -1e4f));
  });
  expect_same_model(m, model_load(tmp.path));
}

TEST(CheckpointTest, LmHeadStandsInForMissingWte) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  model_save(m, tmp.path);
  edit_tensors(tmp.path, [](std::vector<RawTensor>& ts) {
    for (RawTensor& t : ts)
      if (t.name == "wte.weight") t.name = "lm_head.weight";
  });
  expect_same_model(m, model_load(tmp.path));
}

TEST(CheckpointTest, RejectsUntiedLmHead) {
  TempDir tmp;
  model_save(random_model(tiny_config()), tmp.path);
  edit_tensors(tmp.path, [](std::vector<RawTensor>& ts) {
    ts.push_back(f32_tensor("lm_head.weight", {50, 8}, 0.5f));
  });
  expect_error([&] { model_load(tmp.path); },
               {tmp / "model.safetensors", "lm_head.weight", "untied"});
}

TEST(SafetensorsTest, RejectsMalformedFiles) {
  TempDir tmp;
  const std::string four(4, '\0'), eight(8, '\0'), twelve(12, '\0');
  auto entry = [](const std::string& name, const std::string& body) {
    return "\"" + name + "\":{" + body + "}";
  };
  auto one = [&](const std::string& body, const std::string& data) {  // tensor 'a' only
    return raw_file("{" + entry("a", body) + "}", data);
  };
  auto two = [&](const std::string& a, const std::string& b, const std::string& data) {
    return raw_file("{" + entry("a", a) + "," + entry("b", b) + "}", data);
  };
  uint64_t big = 1000, absurd = 1ull << 40;
  std::vector<std::pair<std::string, std::string>> cases = {
      // bytes, expected
      {"", "too short"},
      {"abc", "too short"},
      {std::string(reinterpret_cast<const char*>(&big), 8) + "{}", "runs past the end"},
      {std::string(reinterpret_cast<const char*>(&absurd), 8) + "{}", "absurd"},
      {raw_file("{not json", ""), "not valid JSON"},
      {raw_file("[1, 2]", ""), "not a JSON object"},
      {one(R"("shape":[1],"data_offsets":[0,4])", four),
       "tensor 'a': header entry lacks \"dtype\""},
      {one(R"("dtype":"F32","data_offsets":[0,4])", four), "lacks \"shape\""},
      {one(R"("dtype":"F32","shape":[1])", four), "lacks \"data_offsets\""},
      {raw_file(R"({"a":3})", ""), "tensor 'a': header entry is not a JSON object"},
      {one(R"("dtype":7,"shape":[1],"data_offsets":[0,4])", four), "\"dtype\" is not a string"},
      {one(R"("dtype":"F32","shape":"x","data_offsets":[0,4])", four), "\"shape\" is not an array"},
      {one(R"("dtype":"F32","shape":[-1],"data_offsets":[0,4])", four),
       "\"shape\" is not an array of non-negative integers"},
      {one(R"("dtype":"F32","shape":[1],"data_offsets":[-4,4])", four), "\"data_offsets\" is not"},
      {one(R"("dtype":"F32","shape":[1],"data_offsets":[0])", four), "\"data_offsets\" is not"},
      {one(R"("dtype":"F99","shape":[1],"data_offsets":[0,4])", four), "unsupported dtype 'F99'"},
      {one(R"("dtype":"F32","shape":[2],"data_offsets":[0,4])", four), "needs 8 bytes"},
      {one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])", four), "out of bounds"},
      {two(R"("dtype":"F32","shape":[2],"data_offsets":[0,8])",
           R"("dtype":"F32","shape":[2],"data_offsets":[4,12])", twelve),
       "overlaps"},
      {two(R"("dtype":"F32","shape":[1],"data_offsets":[0,4])",
           R"("dtype":"F32","shape":[1],"data_offsets":[8,12])", twelve),
       "bytes [4, 8) belong to no tensor"},
      {one(R"("dtype":"F32","shape":[1],"data_offsets":[0,4])", eight), "trailing bytes"},
      {raw_file(R"({"__metadata__":{"format":1}})", ""),
       "__metadata__[\"format\"] is not a string"},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    std::string path = tmp / ("bad" + std::to_string(i) + ".safetensors");
    write_file_atomic(path, cases[i].first);
    SCOPED_TRACE("case " + std::to_string(i) + ": " + cases[i].second);
    expect_error([&] { safetensors_read(path); }, {path + ": ", cases[i].second});
  }
  // Sanity: a well-formed file (a scalar and an empty tensor) is accepted.
  std::string ok = two(R"("dtype":"I32","shape":[],"data_offsets":[0,4])",
                       R"("dtype":"F16","shape":[0,3],"data_offsets":[4,4])", four);
  SafetensorsFile f = safetensors_parse(ok, "ok");
  ASSERT_EQ(f.tensors.size(), 2u);
  const SafetensorsTensor* a = safetensors_find(f, "a");
  ASSERT_TRUE(a && a->shape.empty() && safetensors_find(f, "b") && !safetensors_find(f, "c"));
  float out[1];
  expect_error([&] { safetensors_to_f32(f, *a, out); }, {"ok: ", "'a'", "I32"});
}

TEST(SafetensorsTest, WriterIsDeterministicAlignedAndValidated) {
  float a[3] = {1, 2, 3}, b[2] = {-1, 0.5f};
  auto ea = safetensors_f32_entry("alpha", {3}, a), eb = safetensors_f32_entry("beta", {1, 2}, b);
  std::string x = safetensors_serialize({ea, eb}, {{"format", "pt"}});
  std::string y = safetensors_serialize({eb, ea}, {{"format", "pt"}});
  EXPECT_EQ(x, y);
  uint64_t n;
  std::memcpy(&n, x.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  SafetensorsFile f = safetensors_parse(x, "mem");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.tensors[0].begin, 0u);  // name order: alpha first
  float out[2];
  safetensors_to_f32(f, *safetensors_find(f, "beta"), out);
  EXPECT_EQ(out[0], -1.0f);
  EXPECT_EQ(out[1], 0.5f);
  expect_error([&] { safetensors_serialize({ea, ea}); }, {"duplicate tensor name 'alpha'"});
  SafetensorsEntry bad = ea;
  bad.shape = {4};
  expect_error([&] { safetensors_serialize({bad}); }, {"'alpha'", "12 bytes"});
}

TEST(CheckpointTest, RejectsBadTensors) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  const std::string st = tmp / "model.safetensors";
  auto expect_load_error = [&](const std::function<void(std::vector<RawTensor>&)>& edit,
                               std::initializer_list<std::string> parts) {
    model_save(m, tmp.path);
    edit_tensors(tmp.path, edit);
    expect_error([&] { model_load(tmp.path); }, parts);
  };
  expect_load_error(
      [](auto& ts) {
        erase_tensor(ts, "h.1.attn.c_attn.weight");
        ts.push_back(f32_tensor("h.1.attn.c_attn.weight", {8, 16}, 0.0f));
      },
      {st, "'h.1.attn.c_attn.weight'", "shape [8, 16]", "expected [8, 24]"});
  expect_load_error(
      [](auto& ts) {
        erase_tensor(ts, "wpe.weight");
        ts.push_back(f32_tensor("wpe.weight", {32, 8}, 0.0f));
      },
      {st, "'wpe.weight'", "[32, 8]", "expected [16, 8]"});
  expect_load_error([](auto& ts) { erase_tensor(ts, "h.0.mlp.c_fc.bias"); },
                    {st, "missing tensor 'h.0.mlp.c_fc.bias'"});
  expect_load_error([](auto& ts) { ts.push_back(f32_tensor("h.2.ln_1.weight", {8}, 1.0f)); },
                    {st, "unknown tensor 'h.2.ln_1.weight'"});
  expect_load_error([](auto& ts) { ts.push_back(f32_tensor("h.0.attn.bias.extra", {8}, 1.0f)); },
                    {st, "unknown tensor 'h.0.attn.bias.extra'"});
  expect_load_error([](auto& ts) { ts.push_back(f32_tensor("transformer.ln_f.bias", {8}, 1.0f)); },
                    {st, "'transformer.ln_f.bias'", "duplicates 'ln_f.bias'"});
  expect_load_error(
      [](auto& ts) {
        for (RawTensor& t : ts)
          if (t.name == "ln_f.bias") t.dtype = "I32";
      },
      {st, "'ln_f.bias'", "dtype I32"});
  // A corrupt file is reported by the safetensors reader, naming the file.
  model_save(m, tmp.path);
  std::string bytes = read_file(st);
  write_file_atomic(st, bytes.substr(0, bytes.size() - 4));
  expect_error([&] { model_load(tmp.path); }, {st, "out of bounds"});
}

TEST(CheckpointTest, RejectsBadConfig) {
  TempDir tmp;
  model_save(random_model(tiny_config()), tmp.path);
  const std::string path = tmp / "config.json";
  const json good = json::parse(read_file(path));
  auto expect_config_error = [&](const std::function<void(json&)>& edit,
                                 std::initializer_list<std::string> parts) {
    json c = good;
    edit(c);
    write_file_atomic(path, c.dump());
    expect_error([&] { model_load(tmp.path); }, parts);
  };
  expect_config_error([](json& c) { c["n_embd"] = "abc"; }, {path, "\"n_embd\"", "integer", "abc"});
  expect_config_error([](json& c) { c["n_layer"] = 2.5; }, {path, "\"n_layer\"", "integer"});
  expect_config_error([](json& c) { c.erase("n_head"); }, {path, "missing", "\"n_head\""});
  expect_config_error(
      [](json& c) {
        c.erase("n_positions");
        c.erase("n_ctx");
      },
      {path, "n_positions"});
  expect_config_error([](json& c) { c["model_type"] = "llama"; },
                      {path, "\"model_type\"", "llama"});
  expect_config_error([](json& c) { c["activation_function"] = "relu"; },
                      {path, "\"activation_function\"", "relu", "gelu_new"});
  expect_config_error([](json& c) { c["n_inner"] = 7; }, {path, "\"n_inner\"", "7"});
  expect_config_error([](json& c) { c["n_head"] = 3; },
                      {path, "n_embd (8) must be divisible by n_head (3)"});
  expect_config_error([](json& c) { c["n_embd"] = 0; }, {path, "n_embd must be > 0"});
  expect_config_error([](json& c) { c["eos_token_id"] = "50"; }, {path, "\"eos_token_id\""});
  expect_config_error([](json& c) { c["layer_norm_epsilon"] = "small"; },
                      {path, "\"layer_norm_epsilon\""});
  expect_config_error([](json& c) { c["tie_word_embeddings"] = false; },
                      {path, "\"tie_word_embeddings\""});
  expect_config_error([](json& c) { c = json::array({1}); }, {path, "JSON object"});
  write_file_atomic(path, "{\"n_embd\": ");
  expect_error([&] { model_load(tmp.path); }, {path, "not valid JSON"});
  // A config that disagrees with the tensors: the tensor is named.
  expect_config_error([](json& c) { c["vocab_size"] = 60; },
                      {tmp / "model.safetensors", "'wte.weight'", "[50, 8]", "expected [60, 8]"});
}

TEST(CheckpointTest, MissingDirectoryOrFiles) {
  TempDir tmp;
  expect_error([&] { model_load(tmp / "nope"); }, {tmp / "nope", "does not exist"});
  write_file_atomic(tmp / "file", "x");
  expect_error([&] { model_load(tmp / "file"); }, {tmp / "file", "not a directory"});
  expect_error([&] { model_load(tmp.path); }, {"config.json", "missing"});
  model_save(random_model(tiny_config()), tmp.path);
  fs::remove(tmp / "model.safetensors");
  expect_error([&] { model_load(tmp.path); }, {"model.safetensors", "missing"});
}

TEST(CheckpointTest, FailedSaveLeavesNoPartialFile) {
  TempDir tmp;
  Model m = random_model(tiny_config());
  auto listing = [](const std::string& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir)) names.insert(e.path().string());
    return names;
  };
  // The target "directory" is a file.
  write_file_atomic(tmp / "blocker", "x");
  auto before = listing(tmp.path);
  EXPECT_THROW(model_save(m, tmp / "blocker"), Error);
  EXPECT_THROW(model_save(m, tmp / "blocker/sub"), Error);
  EXPECT_EQ(listing(tmp.path), before);
  EXPECT_EQ(read_file(tmp / "blocker"), "x");
  // model.safetensors cannot be replaced (it is a non-empty directory): no temp files remain.
  fs::create_directories(tmp / "out/model.safetensors/keep");
  before = listing(tmp.path);
  expect_error([&] { model_save(m, tmp / "out"); }, {"model.safetensors"});
  EXPECT_EQ(listing(tmp.path), before);
}

TEST(CheckpointTest, LoadsReferenceSizedModel) {
  TempDir tmp;
  ModelConfig cfg;
  cfg.vocab_size = 4096;
  cfg.n_ctx = 256;
  cfg.n_embd = 256;
  cfg.n_layer = 6;
  cfg.n_head = 8;
  Model m = random_model(cfg, 7);
  model_save(m, tmp.path);
  Model back = model_load(tmp.path);
  expect_same_model(m, back);
}

TEST(CheckpointTest, UnreadableDirectoryIsReportedAsUnreadableNotMissing) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every directory";
  TempDir tmp;
  Model m = random_model(tiny_config());
  model_save(m, tmp / "model");
  fs::permissions(tmp / "model", fs::perms::owner_write);  // no read, no search
  try {
    model_load(tmp / "model");
    ADD_FAILURE() << "loaded an unreadable directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  fs::permissions(tmp / "model", fs::perms::owner_all);
}
