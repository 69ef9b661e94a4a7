#include "model/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/io.h"
#include "model/safetensors.h"

namespace softslm {

namespace {

using json = nlohmann::json;

// ---- config.json ---------------------------------------------------------------------------

// Integer field; absent or null -> def, or an error when there is no default.
int json_int(const json& j, const char* key, const std::string& path, std::optional<int> def) {
  if (!j.contains(key) || j[key].is_null()) {
    check(def.has_value(), path, ": missing required field \"", key, "\"");
    return *def;
  }
  const json& v = j[key];
  check(v.is_number_integer(), path, ": field \"", key, "\" must be an integer (got ", v.dump(),
        ")");
  int64_t x = v.get<int64_t>();
  check(x >= INT_MIN && x <= INT_MAX, path, ": field \"", key, "\" is out of range (got ", x, ")");
  return (int)x;
}

// Optional token-id field: 0 when absent (GPT2Config's old default), -1 when null or outside
// [0, vocab_size).
int token_id_or_none(const json& j, const char* key, const std::string& path, int vocab_size) {
  if (j.contains(key) && j[key].is_null()) return -1;
  int id = json_int(j, key, path, 0);
  return id >= 0 && id < vocab_size ? id : -1;
}

// Optional string field that must be one of `allowed`.
void json_expect_string(const json& j, const char* key, const std::string& path,
                        std::initializer_list<const char*> allowed) {
  if (!j.contains(key)) return;
  const json& v = j[key];
  bool ok = v.is_string() && std::any_of(allowed.begin(), allowed.end(),
                                         [&](const char* a) { return v.get<std::string>() == a; });
  if (ok) return;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "\"" : ", \"") + std::string(a) + "\"";
  fail(path, ": field \"", key, "\" is ", v.dump(), "; softslm supports only ", list);
}

// Optional boolean field that must equal `want` (a GPT-2 variant softslm does not implement).
void json_expect_bool(const json& j, const char* key, const std::string& path, bool want) {
  if (!j.contains(key) || j[key].is_null()) return;
  check(j[key].is_boolean(), path, ": field \"", key, "\" must be true or false (got ",
        j[key].dump(), ")");
  check(j[key].get<bool>() == want, path, ": field \"", key, "\" is ", j[key].dump(),
        "; softslm supports only ", want ? "true" : "false");
}

// The float's shortest decimal form as a double, so 1e-5f is written "1e-05", not
// "9.999999747378752e-06" (and reads back to the same float).
double float_for_json(float x) {
  char buf[64];
  char* end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  double d = x;
  std::from_chars(buf, end, d);  // locale-independent, unlike stod
  return d;
}

// ---- parameter layout ----------------------------------------------------------------------

// One Hugging Face tensor and where it lives in the model.
struct ParamSpec {
  std::string name;           // HF name without the "transformer." prefix
  float* dst;                 // internal tensor
  std::vector<size_t> shape;  // HF shape (= the internal layout; Linear weights are [in, out])
};

std::vector<ParamSpec> param_specs(const Model& m) {
  const ParamTensors& p = m.p;
  size_t V = m.cfg.vocab_size, T = m.cfg.n_ctx, C = m.cfg.n_embd;
  std::vector<ParamSpec> s = {
      {"wte.weight", p.wte, {V, C}},
      {"wpe.weight", p.wpe, {T, C}},
  };
  for (size_t l = 0; l < (size_t)m.cfg.n_layer; l++) {
    std::string h = "h." + std::to_string(l) + ".";
    s.push_back({h + "ln_1.weight", p.ln1w + l * C, {C}});
    s.push_back({h + "ln_1.bias", p.ln1b + l * C, {C}});
    s.push_back({h + "attn.c_attn.weight", p.qkvw + l * 3 * C * C, {C, 3 * C}});
    s.push_back({h + "attn.c_attn.bias", p.qkvb + l * 3 * C, {3 * C}});
    s.push_back({h + "attn.c_proj.weight", p.attprojw + l * C * C, {C, C}});
    s.push_back({h + "attn.c_proj.bias", p.attprojb + l * C, {C}});
    s.push_back({h + "ln_2.weight", p.ln2w + l * C, {C}});
    s.push_back({h + "ln_2.bias", p.ln2b + l * C, {C}});
    s.push_back({h + "mlp.c_fc.weight", p.fcw + l * 4 * C * C, {C, 4 * C}});
    s.push_back({h + "mlp.c_fc.bias", p.fcb + l * 4 * C, {4 * C}});
    s.push_back({h + "mlp.c_proj.weight", p.fcprojw + l * 4 * C * C, {4 * C, C}});
    s.push_back({h + "mlp.c_proj.bias", p.fcprojb + l * C, {C}});
  }
  s.push_back({"ln_f.weight", p.lnfw, {C}});
  s.push_back({"ln_f.bias", p.lnfb, {C}});
  return s;
}

std::string shape_str(const std::vector<size_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// "h.<digits>.attn.bias" / "h.<digits>.attn.masked_bias": HF's causal-mask buffers.
bool is_attn_buffer(std::string_view name) {
  if (!name.starts_with("h.")) return false;
  size_t i = 2;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') i++;
  if (i == 2) return false;
  std::string_view rest = name.substr(i);
  return rest == ".attn.bias" || rest == ".attn.masked_bias";
}

// Every weight must be a finite number: a NaN or inf would travel silently into every logit.
void check_finite(const float* w, const std::vector<size_t>& shape, const std::string& path,
                  const std::string& name) {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  for (size_t i = 0; i < n; i++) {
    if (std::isfinite(w[i])) continue;
    std::string at = "[";  // the element's index in the tensor's shape
    size_t rest = i, stride = n;
    for (size_t k = 0; k < shape.size(); k++) {
      stride /= shape[k];
      at += (k ? ", " : "") + std::to_string(rest / stride);
      rest %= stride;
    }
    fail(path, ": tensor '", name, "' holds ", std::isnan(w[i]) ? "NaN" : "an infinity", " at ",
         at, "] (weights must be finite)");
  }
}

std::string join(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

}  // namespace

ModelConfig config_load_json(const std::string& path) {
  return config_parse_json(read_file(path), path);
}

ModelConfig config_parse_json(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, ": not valid JSON (", library_message(e), ")");
  }
  check(j.is_object(), path, ": expected a JSON object");
  json_expect_string(j, "model_type", path, {"gpt2"});
  json_expect_string(j, "activation_function", path, {"gelu_new", "gelu_pytorch_tanh"});
  json_expect_bool(j, "tie_word_embeddings", path, true);
  json_expect_bool(j, "scale_attn_weights", path, true);
  json_expect_bool(j, "scale_attn_by_inverse_layer_idx", path, false);
  json_expect_bool(j, "add_cross_attention", path, false);

  ModelConfig cfg;
  cfg.n_embd = json_int(j, "n_embd", path, std::nullopt);
  cfg.n_layer = json_int(j, "n_layer", path, std::nullopt);
  cfg.n_head = json_int(j, "n_head", path, std::nullopt);
  cfg.vocab_size = json_int(j, "vocab_size", path, std::nullopt);
  bool has_pos = j.contains("n_positions") && !j["n_positions"].is_null();
  check(has_pos || (j.contains("n_ctx") && !j["n_ctx"].is_null()), path,
        ": missing required field \"n_positions\" (or \"n_ctx\")");
  cfg.n_ctx = json_int(j, has_pos ? "n_positions" : "n_ctx", path, std::nullopt);
  // Hugging Face's GPT2Config keeps GPT-2's 50256 for any vocabulary: an id outside this model's
  // vocabulary (or null) names no token, kept as -1 (generation then stops on the tokenizer's
  // <|endoftext|>, or never).
  cfg.bos_token_id = token_id_or_none(j, "bos_token_id", path, cfg.vocab_size);
  cfg.eos_token_id = token_id_or_none(j, "eos_token_id", path, cfg.vocab_size);
  if (j.contains("layer_norm_epsilon") && !j["layer_norm_epsilon"].is_null()) {
    const json& v = j["layer_norm_epsilon"];
    check(v.is_number(), path, ": field \"layer_norm_epsilon\" must be a number (got ", v.dump(),
          ")");
    cfg.layer_norm_epsilon = (float)v.get<double>();
  }
  if (j.contains("n_inner") && !j["n_inner"].is_null()) {
    int n_inner = json_int(j, "n_inner", path, std::nullopt);
    check(n_inner == 4 * cfg.n_embd, path, ": field \"n_inner\" is ", n_inner,
          "; softslm supports only null or 4 * n_embd (", 4 * cfg.n_embd, ")");
  }
  try {
    config_validate(cfg);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  return cfg;
}

void config_save_json(const ModelConfig& cfg, const std::string& path) {
  try {
    config_validate(cfg);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  json j = {
      {"architectures", {"GPT2LMHeadModel"}},
      {"model_type", "gpt2"},
      {"vocab_size", cfg.vocab_size},
      {"n_positions", cfg.n_ctx},
      {"n_ctx", cfg.n_ctx},
      {"n_embd", cfg.n_embd},
      {"n_layer", cfg.n_layer},
      {"n_head", cfg.n_head},
      {"n_inner", nullptr},
      {"activation_function", "gelu_new"},
      {"layer_norm_epsilon", float_for_json(cfg.layer_norm_epsilon)},
      {"resid_pdrop", 0.0},
      {"embd_pdrop", 0.0},
      {"attn_pdrop", 0.0},
      {"initializer_range", 0.02},
      {"bos_token_id", cfg.bos_token_id >= 0 ? json(cfg.bos_token_id) : json(nullptr)},
      {"eos_token_id", cfg.eos_token_id >= 0 ? json(cfg.eos_token_id) : json(nullptr)},
      {"tie_word_embeddings", true},
      {"scale_attn_weights", true},
      {"use_cache", true},
      {"torch_dtype", "float32"},
  };
  write_file_atomic(path, j.dump(2) + "\n");
}

Model model_load(const std::string& dir) {
  std::error_code ec;
  check(std::filesystem::exists(dir, ec), dir, ": model directory does not exist");
  check(std::filesystem::is_directory(dir, ec), dir,
        ": not a directory (expected a model directory with config.json and model.safetensors)");
  const std::string cfg_path = join(dir, "config.json"), st_path = join(dir, "model.safetensors");
  for (const std::string& p : {cfg_path, st_path}) {
    bool there = std::filesystem::exists(p, ec);  // false without an error: not there
    check(!ec, p, ": cannot read (", ec.message(), ")");
    check(there, p, ": missing (a model directory needs config.json and model.safetensors)");
  }

  Model m;
  try {
    m = model_create(config_load_json(cfg_path));
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.rfind(cfg_path, 0) == 0) throw;
    fail(cfg_path, ": ", what);
  }
  SafetensorsFile f = safetensors_read(st_path);
  std::vector<ParamSpec> specs = param_specs(m);
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < specs.size(); i++) index[specs[i].name] = i;

  // Match the file's tensors to the parameters.
  std::vector<const SafetensorsTensor*> found(specs.size(), nullptr);
  const SafetensorsTensor* lm_head = nullptr;
  for (const SafetensorsTensor& t : f.tensors) {
    std::string_view name = t.name;
    if (name.starts_with("transformer.")) name.remove_prefix(12);
    auto it = index.find(std::string(name));
    if (it != index.end()) {
      check(!found[it->second], st_path, ": tensor '", t.name, "' duplicates '",
            found[it->second] ? found[it->second]->name : "", "'");
      found[it->second] = &t;
    } else if (name == "lm_head.weight") {
      lm_head = &t;
    } else if (!is_attn_buffer(name)) {
      fail(st_path, ": unknown tensor '", t.name, "' (not a GPT-2 parameter)");
    }
  }
  if (!found[0] && lm_head) std::swap(found[0], lm_head);  // wte only as the tied lm_head

  // Check everything before converting anything.
  for (size_t i = 0; i < specs.size(); i++) {
    check(found[i] != nullptr, st_path, ": missing tensor '", specs[i].name, "'");
    check(found[i]->shape == specs[i].shape, st_path, ": tensor '", found[i]->name, "' has shape ",
          shape_str(found[i]->shape), ", expected ", shape_str(specs[i].shape),
          " (from config.json)");
  }
  if (lm_head)
    check(lm_head->shape == specs[0].shape, st_path, ": tensor '", lm_head->name, "' has shape ",
          shape_str(lm_head->shape), ", expected ", shape_str(specs[0].shape),
          " (tied to wte.weight)");

  for (size_t i = 0; i < specs.size(); i++) {
    safetensors_to_f32(f, *found[i], specs[i].dst);
    check_finite(specs[i].dst, specs[i].shape, st_path, found[i]->name);
  }
  if (lm_head) {  // softslm always ties the LM head to wte; refuse a genuinely untied one
    std::vector<float> tmp;
    tmp.resize(specs[0].shape[0] * specs[0].shape[1]);
    safetensors_to_f32(f, *lm_head, tmp.data());
    check(std::equal(tmp.begin(), tmp.end(), m.p.wte), st_path, ": tensor '", lm_head->name,
          "' differs from wte.weight (untied output embeddings are not supported)");
  }
  return m;
}

void model_save(const Model& m, const std::string& dir) {
  config_validate(m.cfg);
  make_dirs(dir);
  std::vector<ParamSpec> specs = param_specs(m);
  std::vector<SafetensorsEntry> entries;
  for (const ParamSpec& s : specs) entries.push_back(safetensors_f32_entry(s.name, s.shape, s.dst));
  safetensors_write(join(dir, "model.safetensors"), entries, {{"format", "pt"}});
  config_save_json(m.cfg, join(dir, "config.json"));
}

}  // namespace softslm
