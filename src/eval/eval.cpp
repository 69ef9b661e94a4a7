#include "eval/eval.h"

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "base/config_schema.h"
#include "base/error.h"
#include "base/io.h"
#include "base/jsonl.h"
#include "base/natural_order.h"
#include "generate/soft_config.h"
#include "generate/trace.h"
#include "tasks/tasks.h"

namespace softslm {

std::vector<DecodeConfig> decode_configs_builtin() {
  auto make = [](const char* name, std::vector<std::string> sets) {
    DecodeConfig c{name, {}};
    for (const auto& s : sets) soft_config_set(c.soft, s);
    return c;
  };
  return {make("greedy", {"mode=off", "after_thinking.temperature=0"}),
          make("sampled", {"mode=off"}),
          make("soft", {"mode=think_tags"}),
          make("soft-gumbel", {"mode=think_tags", "gumbel.enabled=true", "gumbel.tau=0.5"}),
          make("soft-dirichlet", {"mode=think_tags", "dirichlet.enabled=true", "dirichlet.alpha=1"}),
          make("soft-moi", {"mode=think_tags", "mixing=moi", "moi_beta=1"}),
          make("entropy-gate", {"mode=entropy_gate"})};
}

std::vector<DecodeConfig> decode_configs_resolve(const std::vector<std::string>& names,
                                                 const std::string& yaml_file,
                                                 const std::string& model_dir) {
  std::vector<DecodeConfig> known = decode_configs_builtin();
  const std::string path = model_dir + "/" + kSoftThinkingFile;
  const bool has_decoding = !model_dir.empty() && file_exists(path);
  for (const std::string m : {"model", "model-gumbel", "model-dirichlet", "model-discrete"})
    check(has_decoding || std::find(names.begin(), names.end(), m) == names.end(), "--decode ",
          m, ": ", model_dir.empty() ? std::string("no model directory") : path + " not found",
          " (a model trained with a soft_training recipe records its decoding there)");
  if (has_decoding) {  // the model's own decoding, plain and with either noise (base: model too)
    DecodeConfig base{"model", {}};
    soft_config_load(base.soft, path);
    known.push_back(base);
    DecodeConfig c = base;
    c.name = "model-gumbel";
    c.soft.sampler.gumbel = true;
    c.soft.sampler.gumbel_tau = 0.5f;
    known.push_back(c);
    c = base;
    c.name = "model-dirichlet";
    c.soft.sampler.gumbel = false;
    c.soft.sampler.dirichlet = true;
    c.soft.sampler.dirichlet_alpha = 1.0f;
    known.push_back(c);
    // the same model decoded discretely: a latent model's steps fed their emitted tokens (the
    // same thinking budget), any other plainly with the answers' filters
    c = base;
    c.name = "model-discrete";
    if (c.soft.mode == ThinkMode::kLatent)
      c.soft.latent_input = LatentKind::kToken;
    else
      c.soft.mode = ThinkMode::kOff;
    known.push_back(c);
  }
  if (!yaml_file.empty()) {
    YAML::Node root;
    try {
      root = YAML::Load(read_file(yaml_file));
    } catch (const YAML::Exception& e) {
      fail(yaml_file, ": invalid YAML at line ", e.mark.line + 1, ": ", yaml_message(e.msg));
    }
    check(root.IsMap(), yaml_file, ": expected a map of configuration names");
    std::vector<std::string> seen;
    for (const auto& kv : root) {
      check(kv.first.IsScalar(), yaml_file, ": line ", kv.first.Mark().line + 1,
            ": a configuration name must be a plain name");
      std::string name = kv.first.Scalar();
      check(std::find(seen.begin(), seen.end(), name) == seen.end(), yaml_file,
            ": configuration '", name, "' is given twice");
      seen.push_back(name);
      YAML::Node body = YAML::Clone(kv.second);
      check(body.IsMap() || body.IsNull(), yaml_file, ": configuration '", name,
            "' must be a map of soft-thinking keys");
      DecodeConfig c{name, {}};
      if (body.IsMap() && body["base"]) {
        std::string base = body["base"].as<std::string>();
        bool found = false;
        for (const auto& k : known)
          if (k.name == base) c.soft = k.soft, found = true;
        check(found, yaml_file, ": configuration '", name, "': unknown base '", base, "'");
        body.remove("base");
      }
      if (body.IsMap()) {
        YAML::Emitter out;
        out << body;
        soft_config_parse(c.soft, out.c_str(), yaml_file + " (" + name + ")");
      }
      for (auto& k : known)
        if (k.name == name) k = c, name.clear();
      if (!name.empty()) known.push_back(c);
    }
  }
  std::vector<DecodeConfig> out;
  for (const auto& n : names) {
    bool found = false;
    for (const auto& k : known)
      if (k.name == n) out.push_back(k), found = true;
    if (!found) {
      std::string all;
      for (const auto& k : known) all += (all.empty() ? "" : ", ") + k.name;
      fail("unknown decoding configuration '", n, "' (known: ", all, ")");
    }
  }
  return out;
}

std::vector<DecodeConfig> decode_configs_sweep(const DecodeConfig& base,
                                               const std::vector<std::string>& sweeps) {
  std::vector<DecodeConfig> grid = {base};
  std::vector<std::string> labels = {""};
  for (const auto& sw : sweeps) {
    size_t eq = sw.find('=');
    check(eq != std::string::npos && eq > 0 && eq + 1 < sw.size(),
          "--sweep expects key=v1,v2,..., got '", sw, "'");
    std::string key = sw.substr(0, eq);
    std::vector<std::string> values;
    std::stringstream ss(sw.substr(eq + 1));
    for (std::string v; std::getline(ss, v, ',');)
      if (!v.empty()) values.push_back(v);
    check(!values.empty(), "--sweep ", key, ": no values");
    std::vector<DecodeConfig> next;
    std::vector<std::string> next_labels;
    for (size_t g = 0; g < grid.size(); g++)
      for (const auto& v : values) {
        DecodeConfig c = grid[g];
        soft_config_set(c.soft, key + "=" + v);
        next.push_back(c);
        next_labels.push_back(labels[g] + (labels[g].empty() ? "" : ",") + key + "=" + v);
      }
    grid = next;
    labels = next_labels;
  }
  for (size_t g = 0; g < grid.size(); g++) grid[g].name = base.name + "[" + labels[g] + "]";
  return grid;
}

void decode_config_validate(const DecodeConfig& c, int vocab_size) {
  GenerateParams p;
  p.soft = c.soft;
  p.sampler = c.soft.sampler.after;
  p.think_open_id = p.think_close_id = 0;  // the tags themselves are checked against the model
  try {
    generate_params_validate(p, vocab_size);
  } catch (const Error& e) {
    fail("configuration '", c.name, "': ", e.what());
  }
}

std::vector<EvalExample> eval_task_examples(const std::vector<std::string>& tasks,
                                            const std::string& split, uint64_t data_seed, int n) {
  std::vector<EvalExample> out;
  for (const std::string& t : tasks) {
    DataSpec spec;
    spec.task = t;
    spec.split = split;
    spec.seed = data_seed;
    spec.n = n;
    for (const TaskInstance& in : data_generate(spec))
      out.push_back({in.id, in.task, in.prompt, in.answer, "", ""});
  }
  return out;
}

std::vector<EvalExample> eval_read_jsonl(const std::string& path) {
  return eval_parse_jsonl(read_file(path), path);
}

std::vector<EvalExample> eval_parse_jsonl(const std::string& text, const std::string& path) {
  std::vector<EvalExample> out;
  std::vector<int> lines;
  std::vector<nlohmann::json> rows = jsonl_parse(text, path, &lines);
  for (size_t i = 0; i < rows.size(); i++) {
    const nlohmann::json& j = rows[i];
    const std::string where = path + ":" + std::to_string(lines[i]);
    check(j.is_object() && j.contains("prompt") && j["prompt"].is_string() &&
              j.contains("answer") && j["answer"].is_string(),
          where, ": expected {\"prompt\": string, \"answer\": string}");
    EvalExample e;
    e.where = where;
    e.prompt = j["prompt"];
    e.answer = j["answer"];
    e.id = j.contains("id") ? (j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump())
                            : std::to_string(i);
    e.task = j.contains("task") && j["task"].is_string() ? j["task"].get<std::string>() : "";
    if (j.contains("difficulty") && !j["difficulty"].is_null()) {
      check(j["difficulty"].is_string(), where, ": \"difficulty\" must be a string");
      e.difficulty = j["difficulty"];
    }
    out.push_back(e);
  }
  check(!out.empty(), path, ": no examples");
  return out;
}

static std::string trim_ws(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n\f\v"), b = s.find_last_not_of(" \t\r\n\f\v");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

std::string eval_extract_answer(const std::string& text) {
  size_t close = text.find(kThinkClose);
  if (close == std::string::npos) return "";
  std::string rest = text.substr(close + std::string(kThinkClose).size());
  size_t eot = rest.find(kEndOfText);
  return trim_ws(eot == std::string::npos ? rest : rest.substr(0, eot));
}

Metrics eval_metrics(const std::vector<SampleOutcome>& outcomes, int samples) {
  Metrics m;
  m.samples = samples;
  std::map<int, int> correct_of;  // example -> correct samples
  int n_correct = 0;
  double tok = 0, tok_ok = 0, think = 0;
  int cold = 0, budget = 0;
  for (const auto& o : outcomes) {
    correct_of[o.example] += o.correct;
    n_correct += o.correct;
    tok += o.n_tokens;
    if (o.correct) tok_ok += o.n_tokens;
    think += o.thinking_tokens;
    cold += o.think_end == "cold_stop";
    budget += o.think_end == "budget";
  }
  m.n_examples = (int)correct_of.size();
  if (outcomes.empty()) return m;
  for (const auto& [ex, c] : correct_of) {
    m.pass1 += (double)c / samples;
    m.passk += c > 0;
  }
  m.pass1 /= m.n_examples;
  m.passk /= m.n_examples;
  m.mean_tokens = tok / outcomes.size();
  m.mean_tokens_correct = n_correct ? tok_ok / n_correct : 0.0;
  m.mean_thinking = think / outcomes.size();
  m.cold_stop_rate = (double)cold / outcomes.size();
  m.budget_rate = (double)budget / outcomes.size();
  return m;
}

EvalRun eval_run(std::shared_ptr<const InferenceWeights> weights, const Tokenizer& tok, const std::vector<EvalExample>& examples,
                 const DecodeConfig& cfg, const EvalOptions& opt,
                 const std::function<void(int, int)>& progress) {
  check(weights && weights->dtype == opt.dtype, "eval: weights packed for another dtype");
  const Model& m = *weights->model;
  check(opt.samples >= 1, "--samples must be >= 1 (got ", opt.samples, ")");
  check(opt.batch >= 1, "--batch must be >= 1 (got ", opt.batch, ")");
  check(opt.trace_examples >= 0, "--trace-examples must be >= 0 (got ", opt.trace_examples, ")");
  check((double)examples.size() * opt.samples <= 1e8, "--samples ", opt.samples, " x ",
        examples.size(), " examples is more than 10^8 generations");
  GenerateParams p;
  p.soft = cfg.soft;
  p.sampler = cfg.soft.sampler.after;  // plain decoding samples with the after-thinking filters
  p.max_new_tokens = opt.max_new_tokens;
  p.dtype = opt.dtype;
  p.eos_id = tokenizer_special_id(tok, kEndOfText);
  p.think_open_id = tokenizer_special_id(tok, kThinkOpen);
  p.think_close_id = tokenizer_special_id(tok, kThinkClose);
  check(p.eos_id >= 0, "the model's tokenizer has no ", kEndOfText);
  p.vocab_limit = tokenizer_vocab_size(tok);
  generate_params_validate(p, std::min(p.vocab_limit, m.cfg.vocab_size));
  EvalRun run;
  run.config = cfg;
  const int k = opt.samples, total = (int)examples.size() * k;
  std::vector<std::vector<int>> prompts(examples.size());
  for (size_t i = 0; i < examples.size(); i++) {
    prompts[i] = tokenizer_encode(tok, examples[i].prompt, true);
    if (opt.append_think) {
      check(p.think_open_id >= 0, "the model's tokenizer has no ", kThinkOpen);
      if (prompts[i].empty() || prompts[i].back() != p.think_open_id)
        prompts[i].push_back(p.think_open_id);
    }
    const EvalExample& ex = examples[i];
    const std::string where = (ex.where.empty() ? "example" : ex.where) + " (id " + ex.id + ")";
    check(!prompts[i].empty(), where, ": the prompt is empty");
    const int n = generate_prompt_positions(p, prompts[i]);
    check(n < m.cfg.n_ctx, where, ": the prompt is ", n, " tokens; the model's context is ",
          m.cfg.n_ctx, " (at most ", m.cfg.n_ctx - 1, " leave room to generate)");
  }
  const int n_trace = opt.trace_examples > 0 ? (int)examples.size() : 0;
  run.traces.resize(n_trace);
  auto t0 = std::chrono::steady_clock::now();
  long generated = 0;
  for (int start = 0; start < total; start += opt.batch) {
    int n = std::min(opt.batch, total - start);
    std::vector<std::vector<int>> batch;
    for (int g = start; g < start + n; g++) batch.push_back(prompts[g / k]);
    GenerateParams bp = p;
    bp.seed = opt.seed + start;  // sequence s of the batch: seed + global index
    StepHook hook = [&](const StepRecord& r, const float*) {
      int g = start + r.seq;
      if (g % k == 0 && g / k < n_trace) run.traces[g / k].push_back(r);
    };
    std::vector<SeqResult> res = generate(weights, batch, bp, hook);
    for (int s = 0; s < n; s++) {
      int g = start + s;
      const SeqResult& r = res[s];
      SampleOutcome o;
      o.example = g / k;
      o.sample = g % k;
      o.n_tokens = (int)r.tokens.size();
      generated += o.n_tokens;
      o.thinking_tokens = o.n_tokens;
      for (int t = 0; t < o.n_tokens; t++)
        if (r.tokens[t] == p.think_close_id) {
          o.thinking_tokens = t;
          break;
        }
      const EvalExample& ex = examples[o.example];
      check(r.error.empty(), ex.where.empty() ? "example" : ex.where, " (id ", ex.id, "): ",
            r.error);
      o.think_end = r.think_end;
      o.stop_reason = r.stop_reason;
      o.output = tokenizer_decode(tok, r.tokens);
      o.extracted = eval_extract_answer(o.output);
      o.correct = o.extracted == trim_ws(examples[o.example].answer);
      run.outcomes.push_back(o);
    }
    if (progress) progress(start + n, total);
  }
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.tokens_per_s = run.seconds > 0 ? generated / run.seconds : 0;
  std::map<std::string, std::vector<SampleOutcome>> groups;
  std::map<std::pair<std::string, std::string>, std::vector<SampleOutcome>> classes;
  std::vector<std::string> difficulty(examples.size());
  for (size_t i = 0; i < examples.size(); i++) {
    const EvalExample& e = examples[i];
    difficulty[i] = e.difficulty;
    const auto& names = task_names();
    if (difficulty[i].empty() && std::find(names.begin(), names.end(), e.task) != names.end()) {
      try {
        difficulty[i] = task_difficulty(e.task, e.prompt);
      } catch (const Error&) {  // a prompt of another format: no class
      }
    }
  }
  for (auto& o : run.outcomes) {
    const EvalExample& e = examples[o.example];
    o.difficulty = difficulty[o.example];
    groups[""].push_back(o);
    if (!e.task.empty()) groups[e.task].push_back(o);
    if (!difficulty[o.example].empty()) classes[{e.task, difficulty[o.example]}].push_back(o);
  }
  for (const auto& [task, os] : groups) run.by_task[task] = eval_metrics(os, k);
  for (const auto& [key, os] : classes) run.by_difficulty[key] = eval_metrics(os, k);
  return run;
}

std::string eval_markdown(const std::vector<EvalRun>& runs) {
  std::string s =
      "| config | task | n | pass@1 | pass@k | mean tokens | tokens (correct) | thinking tokens "
      "| cold stop | budget | tokens/s |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  char buf[512];
  for (const auto& r : runs)
    for (const auto& [task, m] : r.by_task) {
      if (task.empty() && r.by_task.size() == 2) continue;  // one task: its row says it all
      std::snprintf(buf, sizeof buf,
                    "| %s | %s | %d | %.1f %% | %.1f %% (k=%d) | %.1f | %.1f | %.1f | %.1f %% | "
                    "%.1f %% | %.0f |\n",
                    r.config.name.c_str(), task.empty() ? "all" : task.c_str(), m.n_examples,
                    100 * m.pass1, 100 * m.passk, m.samples, m.mean_tokens, m.mean_tokens_correct,
                    m.mean_thinking, 100 * m.cold_stop_rate, 100 * m.budget_rate, r.tokens_per_s);
      s += buf;
    }
  return s;
}

std::string eval_markdown_difficulty(const std::vector<EvalRun>& runs) {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& r : runs)
    for (const auto& [key, m] : r.by_difficulty)
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    return natural_less(a.second, b.second);
  });
  std::string s = "| task | difficulty | n |";
  std::string rule = "|---|---|---|";
  for (const auto& r : runs) {
    s += " " + r.config.name + " pass@1 | thinking |";
    rule += "---|---|";
  }
  s += "\n" + rule + "\n";
  char buf[128];
  for (const auto& key : keys) {
    int n = 0;
    std::string cells;
    for (const auto& r : runs) {
      auto it = r.by_difficulty.find(key);
      if (it == r.by_difficulty.end()) {
        cells += " - | - |";
        continue;
      }
      n = it->second.n_examples;
      std::snprintf(buf, sizeof buf, " %.1f %% | %.1f |", 100 * it->second.pass1,
                    it->second.mean_thinking);
      cells += buf;
    }
    s += "| " + key.first + " | " + key.second + " | " + std::to_string(n) + " |" + cells + "\n";
  }
  return s;
}

nlohmann::json eval_summary_json(const std::vector<EvalRun>& runs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : runs) {
    nlohmann::json tasks = nlohmann::json::object();
    for (const auto& [task, m] : r.by_task)
      tasks[task.empty() ? "all" : task] = {{"n_examples", m.n_examples},
                                            {"samples", m.samples},
                                            {"pass1", m.pass1},
                                            {"passk", m.passk},
                                            {"mean_tokens", m.mean_tokens},
                                            {"mean_tokens_correct", m.mean_tokens_correct},
                                            {"mean_thinking_tokens", m.mean_thinking},
                                            {"cold_stop_rate", m.cold_stop_rate},
                                            {"budget_rate", m.budget_rate}};
    nlohmann::json classes = nlohmann::json::object();
    for (const auto& [key, m] : r.by_difficulty)
      classes[key.first][key.second] = {{"n_examples", m.n_examples},
                                        {"pass1", m.pass1},
                                        {"passk", m.passk},
                                        {"mean_tokens", m.mean_tokens},
                                        {"mean_thinking_tokens", m.mean_thinking}};
    out.push_back({{"config", r.config.name},
                   {"params_yaml", soft_config_to_yaml(r.config.soft)},
                   {"seconds", r.seconds},
                   {"tokens_per_s", r.tokens_per_s},
                   {"tasks", tasks},
                   {"difficulties", classes}});
  }
  return out;
}

std::string eval_results_jsonl(const std::vector<EvalRun>& runs,
                               const std::vector<EvalExample>& examples) {
  std::string s;
  for (const auto& r : runs)
    for (const auto& o : r.outcomes) {
      const EvalExample& e = examples[o.example];
      nlohmann::json j = {{"config", r.config.name}, {"id", e.id},        {"task", e.task},
                          {"sample", o.sample},      {"prompt", e.prompt}, {"answer", e.answer},
                          {"output", o.output},      {"extracted", o.extracted},
                          {"correct", o.correct},    {"n_tokens", o.n_tokens},
                          {"thinking_tokens", o.thinking_tokens},
                          {"think_end", o.think_end}, {"stop_reason", o.stop_reason},
                          {"difficulty", o.difficulty}};
      s += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
  return s;
}

namespace {

// Per example: does sample 0 disagree across the runs (right under one, wrong under another)?
std::vector<bool> disagreements(const std::vector<EvalRun>& runs, size_t n_examples) {
  std::vector<bool> out(n_examples, false);
  for (size_t i = 0; i < n_examples; i++) {
    bool right = false, wrong = false;
    for (const auto& r : runs) {
      const size_t at = i * (size_t)r.by_task.at("").samples;
      if (at >= r.outcomes.size()) continue;
      (r.outcomes[at].correct ? right : wrong) = true;
    }
    out[i] = right && wrong;
  }
  return out;
}

// eval_trace_selection on the examples' disagreements (disagreements()).
std::vector<int> trace_selection(const std::vector<EvalExample>& examples,
                                 const std::vector<bool>& dis, int per_task) {
  std::vector<std::string> order;  // tasks in order of first appearance
  std::map<std::string, std::vector<int>> first, rest;
  for (size_t i = 0; i < examples.size(); i++) {
    const std::string& t = examples[i].task;
    if (!first.count(t) && !rest.count(t)) order.push_back(t);
    (dis[i] ? first[t] : rest[t]).push_back((int)i);
  }
  std::vector<int> out;
  for (const auto& t : order) {
    std::vector<int> pick = first[t];
    pick.insert(pick.end(), rest[t].begin(), rest[t].end());
    if ((int)pick.size() > per_task) pick.resize(std::max(0, per_task));
    std::sort(pick.begin(), pick.end());
    out.insert(out.end(), pick.begin(), pick.end());
  }
  return out;
}

}  // namespace

std::vector<int> eval_trace_selection(const std::vector<EvalRun>& runs,
                                      const std::vector<EvalExample>& examples, int per_task) {
  return trace_selection(examples, disagreements(runs, examples.size()), per_task);
}

std::string eval_traces_jsonl(const std::vector<EvalRun>& runs,
                              const std::vector<EvalExample>& examples, const Tokenizer& tok,
                              int per_task) {
  std::string s;
  const std::vector<bool> dis = disagreements(runs, examples.size());
  for (int i : trace_selection(examples, dis, per_task))
    for (const auto& r : runs) {
      if ((size_t)i >= r.traces.size()) continue;
      nlohmann::json steps = nlohmann::json::array();
      for (const auto& rec : r.traces[i]) steps.push_back(trace_record_json(rec, tok));
      const SampleOutcome& o = r.outcomes[(size_t)i * r.by_task.at("").samples];
      nlohmann::json j = {{"config", r.config.name}, {"example", i},
                          {"id", examples[i].id},     {"task", examples[i].task},
                          {"prompt", examples[i].prompt}, {"answer", examples[i].answer},
                          {"correct", o.correct},     {"disagree", (bool)dis[i]},
                          {"steps", steps}};
      s += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
  return s;
}

}  // namespace softslm
