// The bad-input suite: every command fed damaged model directories, configs, data files,
// flags, prompts and output paths. Each case must end with exit code 1 (bad input) or 2 (bad
// usage), exactly one line on stderr, "softslm: error: ..." naming the file / key / flag at
// fault, no signal, and nothing left in the output location.
#include <sys/wait.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/io.h"
#include "test_util.h"

namespace softslm {
namespace {

namespace fs = std::filesystem;
using testing::make_temp_dir;

struct Outcome {
  int exit_code = -1;  // -1: killed by a signal
  int signal = 0;
  std::string err;     // stderr only
};

Outcome run_stderr(const std::string& args) {
  Outcome o;
  int st = testing::run_shell(std::string(SOFTSLM_BINARY) + " " + args + " 2>&1 >/dev/null", &o.err);
  if (st == -1) return o;
  if (WIFEXITED(st)) {
    o.exit_code = WEXITSTATUS(st);
    if (o.exit_code > 128) o.signal = o.exit_code - 128;  // the shell's report of a signal
  } else if (WIFSIGNALED(st)) {
    o.signal = WTERMSIG(st);
  }
  return o;
}

struct Case {
  std::string name;
  std::string args;
  std::vector<std::string> needles;  // what the one line must name
  int code = 1;
  std::string out;  // an output path that must not exist afterwards ("" = none)
};

// A copy of models/sample with `edit` applied, under dir/name.
std::string model_copy(const std::string& dir, const std::string& name) {
  const std::string d = dir + "/" + name;
  fs::create_directories(d);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    fs::copy_file(std::string(SOFTSLM_SOURCE_DIR) + "/models/sample/" + f, d + "/" + f);
  return d;
}

void edit_config(const std::string& d, const std::function<void(nlohmann::json&)>& f) {
  nlohmann::json j = nlohmann::json::parse(read_file(d + "/config.json"));
  f(j);
  write_file_atomic(d + "/config.json", j.dump());
}

// The safetensors file's header (as JSON) and data, for edits.
struct St {
  nlohmann::json header;
  std::string data;
};
St st_read(const std::string& d) {
  std::string b = read_file(d + "/model.safetensors");
  uint64_t n;
  std::memcpy(&n, b.data(), 8);
  return {nlohmann::json::parse(b.substr(8, n)), b.substr(8 + n)};
}
void st_write(const std::string& d, const St& s) {
  std::string h = s.header.dump();
  uint64_t n = h.size();
  std::string b(reinterpret_cast<const char*>(&n), 8);
  write_file_atomic(d + "/model.safetensors", b + h + s.data);
}
// Overwrites the first float of tensor `name` with x.
void st_poke(const std::string& d, const std::string& name, float x) {
  St s = st_read(d);
  size_t at = s.header[name]["data_offsets"][0].get<size_t>();
  std::memcpy(s.data.data() + at, &x, 4);
  st_write(d, s);
}

TEST(BadInput, EveryCaseIsOneLineNamingTheProblemWithExitCodeAndNothingLeft) {
  const std::string dir = make_temp_dir();
  const std::string src = SOFTSLM_SOURCE_DIR;
  const std::string good = src + "/models/sample";
  const std::string task = src + "/models/default";
  const std::string out = dir + "/out";  // no case may leave anything here
  std::vector<Case> cases;
  auto add = [&](std::string name, std::string args, std::vector<std::string> needles,
                 int code = 1, std::string o = "") {
    cases.push_back({std::move(name), std::move(args), std::move(needles), code, std::move(o)});
  };
  auto gen = [&](const std::string& model) { return "generate -m " + model + " -p hi -n 4 "; };

  // ---- damaged model directories ----
  add("model dir missing", gen(dir + "/nope"), {"nope", "does not exist"});
  write_file_atomic(dir + "/afile", "x");
  add("model dir is a file", gen(dir + "/afile"), {"afile", "not a directory"});
  {
    std::string d = model_copy(dir, "no_config");
    fs::remove(d + "/config.json");
    add("config.json missing", gen(d), {"config.json", "missing"});
  }
  {
    std::string d = model_copy(dir, "no_weights");
    fs::remove(d + "/model.safetensors");
    add("model.safetensors missing", gen(d), {"model.safetensors", "missing"});
  }
  {
    std::string d = model_copy(dir, "no_tokenizer");
    fs::remove(d + "/tokenizer.json");
    add("tokenizer.json missing", gen(d), {"tokenizer.json"});
  }
  {
    std::string d = model_copy(dir, "config_garbage");
    write_file_atomic(d + "/config.json", "{\"n_embd\": 12,,}");
    add("config.json not JSON", gen(d), {"config.json", "not valid JSON"});
  }
  {
    std::string d = model_copy(dir, "config_type");
    edit_config(d, [](nlohmann::json& j) { j["n_layer"] = "four"; });
    add("config n_layer a string", gen(d), {"config.json", "n_layer", "integer"});
  }
  {
    std::string d = model_copy(dir, "config_negative");
    edit_config(d, [](nlohmann::json& j) { j["n_embd"] = -128; });
    add("config n_embd negative", gen(d), {"config.json", "n_embd"});
  }
  {
    std::string d = model_copy(dir, "config_heads");
    edit_config(d, [](nlohmann::json& j) { j["n_head"] = 3; });
    add("config n_embd % n_head", gen(d), {"config.json", "n_head"});
  }
  {
    std::string d = model_copy(dir, "config_huge_layers");
    edit_config(d, [](nlohmann::json& j) { j["n_layer"] = 100000; });
    add("config n_layer absurd", gen(d), {"config.json", "n_layer", "memory"});
  }
  {
    std::string d = model_copy(dir, "config_huge_positions");
    edit_config(d, [](nlohmann::json& j) { j["n_positions"] = 2147483647; });
    add("config n_positions absurd", gen(d), {"config.json", "n_positions", "memory"});
  }
  {
    std::string d = model_copy(dir, "config_overflow");
    edit_config(d, [](nlohmann::json& j) { j["vocab_size"] = 1e30; });
    add("config vocab_size a float", gen(d), {"config.json", "vocab_size"});
  }
  {
    std::string d = model_copy(dir, "config_model_type");
    edit_config(d, [](nlohmann::json& j) { j["model_type"] = "llama"; });
    add("config model_type", gen(d), {"config.json", "model_type"});
  }
  {
    std::string d = model_copy(dir, "st_truncated");
    std::string b = read_file(d + "/model.safetensors");
    write_file_atomic(d + "/model.safetensors", b.substr(0, b.size() / 2));
    add("safetensors truncated", gen(d), {"model.safetensors"});
  }
  {
    std::string d = model_copy(dir, "st_short");
    write_file_atomic(d + "/model.safetensors", "abc");
    add("safetensors too short", gen(d), {"model.safetensors", "too short"});
  }
  {
    std::string d = model_copy(dir, "st_header_len");
    std::string b = read_file(d + "/model.safetensors");
    uint64_t n = ~0ull;
    std::memcpy(b.data(), &n, 8);
    write_file_atomic(d + "/model.safetensors", b);
    add("safetensors header length absurd", gen(d), {"model.safetensors", "header length"});
  }
  {
    std::string d = model_copy(dir, "st_header_json");
    std::string b = read_file(d + "/model.safetensors");
    b[8] = '[';
    b[9] = '{';
    write_file_atomic(d + "/model.safetensors", b);
    add("safetensors header not JSON", gen(d), {"model.safetensors", "JSON"});
  }
  {
    std::string d = model_copy(dir, "st_missing_tensor");
    St s = st_read(d);
    size_t a = s.header["ln_f.bias"]["data_offsets"][0], e = s.header["ln_f.bias"]["data_offsets"][1];
    s.header.erase("ln_f.bias");  // and its bytes, keeping the layout contiguous
    s.data.erase(a, e - a);
    for (auto& [k, v] : s.header.items())
      if (k != "__metadata__" && v["data_offsets"][0].get<size_t>() >= e)
        v["data_offsets"] = {v["data_offsets"][0].get<size_t>() - (e - a),
                             v["data_offsets"][1].get<size_t>() - (e - a)};
    st_write(d, s);
    add("safetensors tensor missing", gen(d), {"model.safetensors", "ln_f.bias"});
  }
  {
    std::string d = model_copy(dir, "st_shape");
    St s = st_read(d);
    s.header["ln_f.bias"]["shape"] = {64, 2};
    st_write(d, s);
    add("safetensors wrong shape", gen(d), {"model.safetensors", "ln_f.bias", "shape"});
  }
  {
    std::string d = model_copy(dir, "st_dtype");
    St s = st_read(d);
    s.header["ln_f.bias"]["dtype"] = "I32";
    st_write(d, s);
    add("safetensors integer dtype", gen(d), {"model.safetensors", "ln_f.bias", "I32"});
  }
  {
    std::string d = model_copy(dir, "st_offsets");
    St s = st_read(d);
    s.header["ln_f.bias"]["data_offsets"] = {0, 512};  // overlaps another tensor
    st_write(d, s);
    add("safetensors overlapping offsets", gen(d), {"model.safetensors"});
  }
  {
    std::string d = model_copy(dir, "st_nan");
    st_poke(d, "h.1.mlp.c_fc.weight", NAN);
    add("NaN weight (generate)", gen(d), {"model.safetensors", "h.1.mlp.c_fc.weight", "NaN"});
    add("NaN weight (soft thinking)", gen(d) + "--soft-thinking", {"h.1.mlp.c_fc.weight", "NaN"});
    add("NaN weight (score)", "score -m " + d + " --text hello", {"h.1.mlp.c_fc.weight", "NaN"});
  }
  {
    std::string d = model_copy(dir, "st_inf");
    st_poke(d, "wte.weight", -INFINITY);
    add("inf weight", gen(d), {"model.safetensors", "wte.weight", "infinity"});
  }
  {
    std::string d = model_copy(dir, "st_devzero");
    fs::remove(d + "/model.safetensors");
    fs::create_symlink("/dev/zero", d + "/model.safetensors");
    add("safetensors is /dev/zero", gen(d), {"model.safetensors", "larger than"});
  }
  {
    std::string d = model_copy(dir, "tok_garbage");
    write_file_atomic(d + "/tokenizer.json", "{\"model\": 3}");
    add("tokenizer.json damaged", gen(d), {"tokenizer.json"});
  }
  {
    std::string d = model_copy(dir, "tok_not_json");
    write_file_atomic(d + "/tokenizer.json", "not json at all");
    add("tokenizer.json not JSON", gen(d), {"tokenizer.json"});
  }

  // ---- flags ----
  add("unknown command", "frobnicate", {"unknown command", "frobnicate"}, 2);
  add("no command", "", {"no command"}, 2);
  add("unknown flag", gen(good) + "--bogus", {"--bogus"}, 2);
  add("missing --model", "generate -p hi", {"--model"}, 2);
  add("flag of the wrong type", gen(good) + "--top-k many", {"--top-k"}, 2);
  add("--threads huge (generate)", gen(good) + "--threads 100000", {"--threads", "cores"});
  add("--threads 5000 (score)", "score -m " + good + " --text hi --threads 5000",
      {"--threads", "cores"});
  add("--threads negative", gen(good) + "--threads -1", {"--threads"});
  add("--seed -1", gen(good) + "--seed -1", {"--seed", "-1"}, 2);
  add("--seed 2^64", gen(good) + "--seed 18446744073709551616", {"--seed"}, 2);
  add("--seed 1e23", gen(good) + "--seed 1e23", {"--seed", "1e23"}, 2);
  add("--dtype f64", gen(good) + "--dtype f64", {"--dtype"});
  add("--temperature negative", gen(good) + "--temperature -1", {"temperature"});
  add("--temperature nan", gen(good) + "--temperature nan", {"temperature"});
  add("--top-p 0", gen(good) + "--top-p 0", {"top_p"});
  add("--min-p 1", gen(good) + "--min-p 1", {"min_p"});
  add("-n negative", "generate -m " + good + " -p hi -n -5", {"max_new_tokens"});
  add("--prompt and --prompt-file", gen(good) + "--prompt-file " + dir + "/afile",
      {"--prompt"});
  add("--prompt-file missing", "generate -m " + good + " --prompt-file " + dir + "/nofile",
      {"nofile", "cannot open"});
  add("--prompt-file /dev/zero", "generate -m " + good + " --prompt-file /dev/zero",
      {"/dev/zero", "larger than"});
  add("--set without --soft-thinking", gen(good) + "--set cold_stop.tau=0.1",
      {"--set", "--soft-thinking"});
  add("--set unknown key", gen(good) + "--soft-thinking --set cold_stop.tua=0.1",
      {"cold_stop.tua", "did you mean"});
  add("--set bad value", gen(good) + "--soft-thinking --set max_topk=lots", {"max_topk"});
  add("--set bad mode", gen(good) + "--soft-thinking --set mode=dreaming", {"mode"});
  add("--set max_topk 0", gen(good) + "--soft-thinking --set max_topk=0", {"max_topk"});
  add("--soft-config missing", gen(good) + "--soft-thinking --soft-config " + dir + "/no.yaml",
      {"no.yaml"});
  add("score empty text", "score -m " + good + " --text ''", {"no token"});
  add("score --text-file missing", "score -m " + good + " --text-file " + dir + "/none.txt",
      {"none.txt"});
  {
    std::string longtext;
    for (int i = 0; i < 400; i++) longtext += "word ";
    write_file_atomic(dir + "/long.txt", longtext);
    add("score text past the context", "score -m " + good + " --text-file " + dir + "/long.txt",
        {"context"});
    add("generate prompt past the context", "generate -m " + good + " --prompt-file " + dir +
        "/long.txt", {"long.txt", "context"});
  }

  // ---- configs (train, soft thinking) ----
  const std::string data = dir + "/stories.txt";
  {
    std::string t;
    for (int i = 0; i < 30; i++) t += "Lily had a red ball. She went to the park.\n";
    write_file_atomic(data, t);
  }
  // small-run keys, each unless `extra` sets it itself (a repeated key is an error)
  auto base_keys = [](const std::string& extra) {
    std::string out;
    for (const char* kv : {"seq_len: 16", "batch_size: 2", "steps: 2", "threads: 1"}) {
      std::string key = std::string(kv).substr(0, std::string(kv).find(':') + 1);
      if (extra.rfind(key, 0) != 0 && extra.find("\n" + key) == std::string::npos)
        out += std::string(kv) + "\n";
    }
    return out;
  };
  auto yaml = [&](const std::string& name, const std::string& extra) {
    const std::string p = dir + "/" + name + ".yaml";
    const bool own_model = extra.rfind("model:", 0) == 0, own_data = extra.rfind("data:", 0) == 0;
    write_file_atomic(p, std::string(own_model ? "" : "model: {vocab_size: 300, n_ctx: 32, "
                                                      "n_embd: 16, n_layer: 1, n_head: 2}\n") +
                             (own_data ? "" : "data:\n  train: [\"" + data + "\"]\n") +
                             base_keys(extra) + extra);
    return p;
  };
  auto train = [&](const std::string& cfg) { return "train -q --config " + cfg + " --out " + out; };
  add("train config missing", train(dir + "/missing.yaml"), {"missing.yaml"}, 1, out);
  add("train unknown key", train(yaml("unknown", "lerning_rate: 1\n")), {"lerning_rate"}, 1, out);
  add("train bad type", train(yaml("type", "lr: fast\n")), {"'lr'", "number"}, 1, out);
  add("train duplicate key", train(yaml("dup", "lr: 1e-3\nwarmup_steps: 1\nlr: 2e-3\n")),
      {"'lr'", "twice"}, 1, out);
  add("train invalid YAML", train(yaml("invalid", "steps: [1, 2\n")), {"invalid YAML"}, 1, out);
  {
    std::string deep = "x: ";
    for (int i = 0; i < 3000; i++) deep += "[";
    add("train YAML nested too deeply", train(yaml("deep", deep + "\n")), {"deep.yaml", "nested"},
        1, out);
  }
  add("train negative lr", train(yaml("neglr", "lr: -1\n")), {"'lr'"}, 1, out);
  add("train lr inf", train(yaml("inflr", "lr: .inf\n")), {"'lr'"}, 1, out);
  add("train seq_len > n_ctx", train(yaml("seq", "seq_len: 64\n")), {"seq_len", "n_ctx"}, 1, out);
  add("train data missing", train(yaml("nodata", "data: {train: [/nonexistent.txt]}\n")),
      {"data.train", "nonexistent.txt"}, 1, out);
  add("train threads 5000", train(yaml("threads", "threads: 5000\n")), {"'threads'", "cores"}, 1,
      out);
  add("train n_layer absurd", train(yaml("layers", "model: {vocab_size: 300, n_ctx: 32, n_layer: 100000, n_embd: 256}\n")),
      {"model.n_layer", "memory"}, 1, out);
  add("train batch_size absurd", train(yaml("batch", "eval_batches: 1\nbatch_size: 1000000\n")),
      {"batch_size", "memory"}, 1, out);
  add("train completion_only_loss on text",
      train(yaml("col", "data: {train: [\"" + data + "\"], completion_only_loss: true}\n")),
      {"completion_only_loss", "stories.txt"}, 1, out);
  add("train soft_training.recipe unknown", train(yaml("sr", "soft_training: {recipe: dream}\n")),
      {"soft_training.recipe", "self_feed"}, 1, out);
  add("train soft_training.p_max > 1", train(yaml("sp", "soft_training: {p_max: 1.5}\n")),
      {"soft_training.p_max"}, 1, out);
  add("train soft_training.max_topk 0", train(yaml("sk", "soft_training: {max_topk: 0}\n")),
      {"soft_training.max_topk"}, 1, out);
  add("train soft_training.stage_steps 0", train(yaml("ss", "soft_training: {stage_steps: 0}\n")),
      {"soft_training.stage_steps"}, 1, out);
  add("train soft_training.latent_input unknown",
      train(yaml("sl", "soft_training: {latent_input: thought}\n")),
      {"soft_training.latent_input", "hidden"}, 1, out);
  add("train soft_training.thoughts_per_step 0",
      train(yaml("st", "soft_training: {thoughts_per_step: 0}\n")),
      {"soft_training.thoughts_per_step"}, 1, out);
  add("train soft_training.remove_per_stage -1",
      train(yaml("sv", "soft_training: {remove_per_stage: -1}\n")),
      {"soft_training.remove_per_stage"}, 1, out);
  add("train soft_training.min_chain -1", train(yaml("sm", "soft_training: {min_chain: -1}\n")),
      {"soft_training.min_chain"}, 1, out);
  add("train soft_training.min_chain_fraction 1.5",
      train(yaml("smf", "soft_training: {min_chain_fraction: 1.5}\n")),
      {"soft_training.min_chain_fraction", "[0, 1]"}, 1, out);
  add("train latent on a text file", train(yaml("stx", "soft_training: {recipe: latent}\n")),
      {"latent", "JSONL", "stories.txt"}, 1, out);
  add("train tokenizer.names 4", train(yaml("tn", "tokenizer: {names: 4}\n")),
      {"tokenizer.names", "0..3"}, 1, out);
  add("train tokenizer.names with a small vocab", train(yaml("tv", "tokenizer: {names: 3}\n")),
      {"model.vocab_size", "18511"}, 1, out);
  {
    const std::string nothink = dir + "/nothink.jsonl", nosteps = dir + "/nosteps.jsonl",
                      multi = dir + "/multi.jsonl";
    write_file_atomic(nothink, "{\"prompt\": \"1+1=\", \"completion\": \"2\"}\n");
    write_file_atomic(nosteps, "{\"prompt\": \"1+1=\", \"completion\": \"<think>1+1</think>2\"}\n"
                               "{\"prompt\": \"1+2=\", \"completion\": \"<think>1+2</think>3\"}\n");
    write_file_atomic(multi, "{\"prompt\": \"a?\", \"completion\": \"<think></think>b\", "
                             "\"soft_targets\": [{\"bc\": 1}]}\n");
    add("train internalize without <think>",
        train(yaml("sn", "data: {train: [\"" + nothink + "\"]}\nsoft_training: {recipe: internalize}\n")),
        {"nothink.jsonl:1", "<think>"}, 1, out);
    add("train latent without steps",
        train(yaml("sns", "data: {train: [\"" + nosteps + "\"]}\nsoft_training: {recipe: latent}\n")),
        {"nosteps.jsonl:1", "steps"}, 1, out);
    write_file_atomic(dir + "/steps.jsonl",
                      "{\"prompt\": \"1+1=\", \"completion\": \"<think>1+1=2</think>2\", "
                      "\"steps\": [\"1+1=\", \"2\"]}\n"
                      "{\"prompt\": \"1+2=\", \"completion\": \"<think>1+2=3</think>3\", "
                      "\"steps\": [\"1+2=\", \"3\"]}\n");
    add("train latent steps that outgrow seq_len",
        train(yaml("sgrow", "data: {train: [\"" + dir + "/steps.jsonl\"]}\nsoft_training: "
                            "{recipe: latent, thoughts_per_step: 20}\n")),
        {"steps.jsonl:1", "curriculum stage 1", "seq_len"}, 1, out);
    add("train soft target of two tokens",
        train(yaml("smt", "data: {train: [\"" + multi + "\"]}\nsoft_training: {recipe: soft_targets}\n")),
        {"multi.jsonl:1", "'bc'", "tokenizer.names"}, 1, out);
    write_file_atomic(dir + "/w0.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\", "
                                         "\"soft_targets\": [{\"x\": 0}]}\n");
    add("train soft_targets weight 0",
        train(yaml("sw0", "data: {train: [\"" + dir + "/w0.jsonl\"]}\n")), {"w0.jsonl:1", "weight > 0"}, 1, out);
  }
  add("train --stop-at 0", train(yaml("ok1", "")) + " --stop-at 0", {"--stop-at"}, 1,
      out);
  add("train --stop-at past steps", train(yaml("ok2", "")) + " --stop-at 9",
      {"--stop-at", "steps"}, 1, out);
  add("train --steps negative", train(yaml("ok3", "")) + " --steps -3", {"--steps"}, 1,
      out);
  add("train --resume and --overwrite", train(yaml("ok4", "")) + " --resume --overwrite",
      {"--resume", "--overwrite"}, 1, out);
  add("train --resume of nothing", "train -q --resume --out " + out, {"train_config.yaml"}, 1,
      out);
  add("train --set unknown", train(yaml("ok5", "")) + " --set model.n_layr=2", {"model.n_layr"}, 1,
      out);
  add("train --set a section", train(yaml("ok6", "")) + " --set model=3", {"model", "section"}, 1,
      out);
  {  // a directory that already holds a checkpoint is not overwritten
    std::string d = model_copy(dir, "holds_ckpt");
    add("train into a checkpoint", "train -q --config " + yaml("ok7", "") + " --out " + d,
        {"holds_ckpt", "already holds a checkpoint", "--overwrite"});
  }
  auto soft = [&](const std::string& name, const std::string& body) {
    const std::string p = dir + "/" + name + ".yaml";
    write_file_atomic(p, body);
    return gen(task) + "--soft-thinking --soft-config " + p;
  };
  add("soft config unknown key", soft("s1", "colds_stop: {tau: 1}\n"), {"s1.yaml", "colds_stop"});
  add("soft config duplicate key", soft("s2", "max_topk: 5\nmax_topk: 6\n"), {"max_topk", "twice"});
  add("soft config bad value", soft("s3", "thinking: {top_p: 7}\n"), {"top_p"});
  add("soft config not a map", soft("s4", "- a\n- b\n"), {"s4.yaml", "map"});
  add("soft config deep nesting", soft("s5", std::string(2000, '[')), {"s5.yaml"});

  // ---- data files (prompts, eval sets, traces) ----
  write_file_atomic(dir + "/p_bad.jsonl", "{\"prompt\": \"1+1=\"}\n{\"prompt\": 3}\n");
  add("--prompts row without a string prompt", gen(task).substr(0, gen(task).find(" -p ")) +
      " --prompts " + dir + "/p_bad.jsonl", {"p_bad.jsonl:2"});
  write_file_atomic(dir + "/p_json.jsonl", "{\"prompt\": \"1+1=\"}\n\n{oops\n");
  add("--prompts invalid JSON", "generate -m " + task + " --prompts " + dir + "/p_json.jsonl",
      {"p_json.jsonl:3", "JSON"});
  write_file_atomic(dir + "/p_empty.jsonl", "\n\n");
  add("--prompts empty", "generate -m " + task + " --prompts " + dir + "/p_empty.jsonl",
      {"p_empty.jsonl", "no prompts"});
  {
    std::string longp(3000, '1');
    write_file_atomic(dir + "/p_long.jsonl", "{\"prompt\": \"1+1=\", \"id\": \"a\"}\n\n"
                                             "{\"prompt\": \"" + longp + "\", \"id\": \"big\"}\n");
    add("--prompts over-long prompt", "generate -m " + task + " --prompts " + dir + "/p_long.jsonl",
        {"p_long.jsonl:3", "big", "context"});
    write_file_atomic(dir + "/e_long.jsonl", "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n"
                                             "{\"prompt\": \"" + longp +
                                             "\", \"answer\": \"1\", \"id\": \"huge\"}\n");
    add("eval over-long prompt", "eval -q -m " + task + " --data " + dir + "/e_long.jsonl --out " +
        out, {"e_long.jsonl:2", "huge", "context"}, 1, out);
  }
  write_file_atomic(dir + "/e_bad.jsonl", "{\"prompt\": \"1+1=\"}\n");
  add("eval row without an answer", "eval -q -m " + task + " --data " + dir + "/e_bad.jsonl",
      {"e_bad.jsonl:1", "answer"});
  add("eval unknown configuration", "eval -q -m " + task + " --task add -n 2 --decode nonesuch",
      {"nonesuch"});
  add("eval unknown task", "eval -q -m " + task + " --task division -n 2", {"division"});
  add("eval --decode model without soft_thinking.yaml",
      "eval -q -m " + task + " --task add -n 2 --decode model", {"--decode model",
      "soft_thinking.yaml not found"});
  add("generate --plain with --soft-thinking",
      "generate -m " + task + " -p 1+1= --plain --soft-thinking", {"--plain"});
  add("eval --threads huge", "eval -q -m " + task + " --task add -n 2 --threads 100000",
      {"--threads"});
  write_file_atomic(dir + "/t_bad.jsonl", "{\"step\": 0}\nnot json\n");
  add("viz of a damaged trace", "viz " + dir + "/t_bad.jsonl -o " + out + ".html",
      {"t_bad.jsonl"}, 1, out + ".html");
  add("report of a missing eval dir", "report --eval " + dir + "/noeval -o " + out + ".html",
      {"noeval"}, 1, out + ".html");
  {  // eval directories whose files report cannot use
    const std::string e1 = dir + "/eval_types", e2 = dir + "/eval_traces", e3 = dir + "/eval_keys",
                      e4 = dir + "/eval_run";
    for (const std::string& e : {e1, e2, e3, e4}) fs::create_directories(e);
    write_file_atomic(e4 + "/summary.json", "[]");
    write_file_atomic(e4 + "/traces.jsonl", "");
    write_file_atomic(e4 + "/run.json", "{\"model\": ");
    add("report with a damaged run.json", "report --eval " + e4 + " -o " + out + ".html",
        {"eval_run/run.json", "not valid JSON"}, 1, out + ".html");
    add("report with nothing to write", "report --eval " + e4, {"nothing to write"}, 1, "");
    const std::string e5 = dir + "/eval_ok";
    fs::create_directories(e5);
    write_file_atomic(e5 + "/summary.json", "[]");
    write_file_atomic(e5 + "/traces.jsonl", "");
    write_file_atomic(dir + "/plain.md", "# no markers\n");
    add("report --readme without the results markers",
        "report --eval " + e5 + " --readme " + dir + "/plain.md -o " + out + ".html",
        {"plain.md", "results:begin"}, 1, out + ".html");
    add("report --readme-block with a bad name",
        "report --eval " + e5 + " --readme " + dir + "/plain.md --readme-block 'a b' -o " + out + ".html",
        {"README block name", "a b"}, 1, out + ".html");
    write_file_atomic(e1 + "/summary.json",
                      "[{\"config\": \"greedy\", \"tasks\": {\"add\": {\"n_examples\": \"3\"}}}]");
    write_file_atomic(e1 + "/traces.jsonl", "");
    write_file_atomic(e2 + "/summary.json", "[]");
    write_file_atomic(e2 + "/traces.jsonl", "{\"steps\": [{\"entropy\": \"high\"}]}\n");
    write_file_atomic(e3 + "/summary.json", "[{\"tasks\": {}}]");
    write_file_atomic(e3 + "/traces.jsonl", "");
    add("report of a summary with wrong types", "report --eval " + e1 + " -o " + out + ".html",
        {"eval_types/summary.json", "n_examples"}, 1, out + ".html");
    add("report of a damaged trace", "report --eval " + e2 + " -o " + out + ".html",
        {"eval_traces/traces.jsonl:1", "entropy"}, 1, out + ".html");
    add("report of a summary without a config", "report --eval " + e3 + " -o " + out + ".html",
        {"eval_keys/summary.json: run 1", "config"}, 1, out + ".html");
  }
  add("data unknown task", "data --task division -n 3 --out " + out + ".jsonl", {"division"}, 1,
      out + ".jsonl");
  add("data --seed -1", "data --task add -n 3 --seed -1 --out " + out + ".jsonl", {"--seed"}, 2,
      out + ".jsonl");
  add("tokenizer input missing",
      "tokenizer train -i " + dir + "/none.txt -v 300 -o " + out + ".json", {"none.txt"}, 1,
      out + ".json");
  add("tokenizer vocab absurd", "tokenizer train -i " + data + " -v 1000000000 -o " + out + ".json",
      {"vocab_size", "limit"}, 1, out + ".json");
  add("eval --trace-examples negative", "eval -q -m " + task + " --task add -n 2 --trace-examples -1",
      {"--trace-examples"});
  add("eval --samples absurd", "eval -q -m " + task + " --task add -n 3 --samples 1000000000",
      {"--samples"});
  add("bench --batch absurd", "bench --batch 100000000 --repeats 1", {"--batch", "memory"});
  add("tokenizer encode damaged tokenizer",
      "tokenizer encode -t " + dir + "/tok_garbage --text hi", {"tokenizer.json"});

  // ---- output paths ----
  add("--trace into a missing directory", gen(good) + "--trace " + dir + "/no/dir/t.jsonl",
      {"t.jsonl"}, 1, dir + "/no/dir/t.jsonl");
  add("data --out under a file", "data --task add -n 3 --out " + dir + "/afile/d.jsonl",
      {"afile"}, 1, dir + "/afile/d.jsonl");
  add("tokenizer --out a directory", "tokenizer train -i " + data + " -v 300 -o " + dir, {dir});

  ASSERT_GE(cases.size(), 60u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name + ": softslm " + c.args);
    Outcome o = run_stderr(c.args);
    EXPECT_EQ(o.signal, 0) << "killed by signal " << o.signal;
    EXPECT_EQ(o.exit_code, c.code) << o.err;
    // exactly one line, in the project's style
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
    EXPECT_EQ(o.err.rfind("softslm: error: ", 0), 0u) << o.err;
    for (const std::string& n : c.needles)
      EXPECT_NE(o.err.find(n), std::string::npos) << "'" << n << "' not in: " << o.err;
    for (const char* raw : {"std::", "json.exception", "terminate", "what()", "_M_"})
      EXPECT_EQ(o.err.find(raw), std::string::npos) << "raw library text: " << o.err;
    if (!c.out.empty()) {
      EXPECT_FALSE(fs::exists(c.out)) << c.out << " was left behind";
    }
    EXPECT_FALSE(fs::exists(out)) << out << " was left behind";
    // no temporary file of an atomic write anywhere in the fixture
    for (const auto& e : fs::recursive_directory_iterator(dir))
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace softslm
