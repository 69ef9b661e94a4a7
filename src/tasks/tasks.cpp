// Task dispatch, split assignment, validation, the generation loop, the checker, JSONL.
#include "tasks/tasks.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "base/error.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names{"add", "mul", "path"};
  return names;
}

std::string trim_ascii(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(ws);
  return s.substr(a, b - a + 1);
}

uint64_t task_hash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

namespace {

void check_task(const std::string& task) {
  if (std::find(task_names().begin(), task_names().end(), task) == task_names().end())
    fail("unknown task \"", task, "\" (expected add, mul or path)");
}

// Smaller operand first: by length, then lexicographically (no leading zeros).
std::pair<std::string, std::string> ordered(std::pair<std::string, std::string> ab) {
  auto& [a, b] = ab;
  if (a.size() > b.size() || (a.size() == b.size() && a > b)) std::swap(a, b);
  return ab;
}

std::string split_of_key(const std::string& key) {
  uint64_t bucket = task_hash(key) % 100;
  return bucket < 90 ? "train" : bucket < 95 ? "val" : "test";
}

}  // namespace

std::string task_canonical_key(const std::string& task, const std::string& prompt) {
  check_task(task);
  if (task == "add" || task == "mul") {
    char op = task == "add" ? '+' : '*';
    auto [a, b] = ordered(arith_parse(prompt, op));
    return task + ":" + a + op + b;
  }
  PathPrompt p = path_parse(prompt);
  std::vector<std::string> edges;
  for (const auto& [u, v] : p.edges) edges.push_back(u + ">" + v);
  std::sort(edges.begin(), edges.end());
  std::string key = "path:";
  for (size_t i = 0; i < edges.size(); i++) key += (i ? " " : "") + edges[i];
  return key + "|" + p.start + "?" + std::min(p.c1, p.c2) + "," + std::max(p.c1, p.c2);
}

std::string task_difficulty(const std::string& task, const std::string& prompt) {
  check_task(task);
  if (task == "add" || task == "mul") {
    const char op = task == "add" ? '+' : '*';
    auto [a, b] = arith_parse(prompt, op);
    return std::to_string(a.size()) + (task == "add" ? "+" : "x") + std::to_string(b.size());
  }
  return "depth " + std::to_string(path_soft_targets(path_parse(prompt)).size());
}

std::string task_split_of(const std::string& task, const std::string& prompt) {
  return split_of_key(task_canonical_key(task, prompt));
}

std::string task_solve(const std::string& task, const std::string& prompt) {
  check_task(task);
  if (task == "add") {
    auto [a, b] = arith_parse(prompt, '+');
    return dec_add(a, b);
  }
  if (task == "mul") {
    auto [a, b] = arith_parse(prompt, '*');
    return dec_mul(a, b);
  }
  return path_solve(path_parse(prompt));
}

bool task_check(const std::string& task, const std::string& prompt,
                const std::string& answer_text) {
  return task_solve(task, prompt) == trim_ascii(answer_text);
}

std::string task_cot_answer(const std::string& completion) {
  const std::string close = kThinkClose, eot = kEndOfText;
  size_t start = 0;
  size_t c = completion.find(close);
  if (c != std::string::npos)
    start = c + close.size();
  else if (completion.find(kThinkOpen) != std::string::npos)
    return "";
  size_t end = completion.find(eot, start);
  return trim_ascii(completion.substr(start, end == std::string::npos ? std::string::npos : end - start));
}

std::string task_cot(const std::string& task, const std::string& prompt,
                     const std::string& path_cot_mode) {
  check_task(task);
  if (task == "add") {
    auto [a, b] = arith_parse(prompt, '+');
    return add_cot(a, b);
  }
  if (task == "mul") {
    auto [a, b] = arith_parse(prompt, '*');
    return mul_cot(a, b);
  }
  return path_cot(path_parse(prompt), path_cot_mode);
}

// ---- Validation ----

namespace {

constexpr int kMaxDigits = 20, kMaxNodes = 200, kMaxEdges = 2000;

void check_range(int lo, int hi, const char* lo_flag, const char* hi_flag, int min_allowed,
                 int max_allowed) {
  check(lo >= min_allowed, lo_flag, " must be >= ", min_allowed, " (got ", lo, ")");
  check(hi <= max_allowed, hi_flag, " must be <= ", max_allowed, " (got ", hi, ")");
  check(lo <= hi, lo_flag, " (", lo, ") must not exceed ", hi_flag, " (", hi, ")");
}

void validate_task_params(const std::string& task, const TaskParams& p) {
  if (task == "add") {
    check_range(p.add_min_digits, p.add_max_digits, "--min-digits", "--max-digits", 1, kMaxDigits);
  } else if (task == "mul") {
    check_range(p.mul_a_min_digits, p.mul_a_max_digits, "--a-min-digits", "--a-max-digits", 1,
                kMaxDigits);
    check_range(p.mul_b_min_digits, p.mul_b_max_digits, "--b-min-digits", "--b-max-digits", 1,
                kMaxDigits);
  } else {
    check_range(p.path_min_depth, p.path_max_depth, "--min-depth", "--max-depth", 1, 50);
    check_range(p.path_min_nodes, p.path_max_nodes, "--min-nodes", "--max-nodes", 1, kMaxNodes);
    check_range(p.path_min_edges, p.path_max_edges, "--min-edges", "--max-edges", 1, kMaxEdges);
    check(p.path_cot == "back" || p.path_cot == "bfs" || p.path_cot == "path",
          "--path-cot must be back, bfs or path (got \"",
          p.path_cot, "\")");
    check(path_nodes_needed(p.path_min_depth) <= p.path_max_nodes, "--max-nodes ",
          p.path_max_nodes, " is too few for depth ", p.path_min_depth, " (depth D needs max(D + 5, 2D + 2) nodes: ",
          path_nodes_needed(p.path_min_depth), ")");
    int need_nodes = std::max(p.path_min_nodes, path_nodes_needed(p.path_min_depth));
    check(need_nodes - 2 <= p.path_max_edges, "--max-edges ", p.path_max_edges,
          " is too few for ", need_nodes, " nodes (a path instance on N nodes needs N - 2 edges)");
    check(p.path_min_edges <= p.path_max_nodes * (p.path_max_nodes - 1) / 2, "--min-edges ",
          p.path_min_edges, " is too many for at most ", p.path_max_nodes, " nodes");
  }
}

}  // namespace

void data_spec_validate(const DataSpec& spec) {
  if (spec.task != "mix") check_task(spec.task);
  check(spec.split == "train" || spec.split == "val" || spec.split == "test",
        "unknown split \"", spec.split, "\" (expected train, val or test)");
  check(spec.n >= 1, "--n must be >= 1 (got ", spec.n, ")");
  check(spec.n <= 100000000, "--n must be <= 100000000 (got ", spec.n, ")");
  for (const auto& t : task_names())
    if (spec.task == "mix" || spec.task == t) validate_task_params(t, spec.params);
}

// ---- Generation ----

namespace {

// Draws from one task's stream, keeping instances of the split that are new to the file.
struct Generator {
  std::string task, split;
  bool repeats;
  const TaskParams* params;
  Rng rng;
  std::unordered_set<std::string> seen;

  Generator(const std::string& t, const DataSpec& spec)
      : task(t), split(spec.split), repeats(spec.repeats), params(&spec.params),
        rng(rng_init(task_hash("softslm-data|" + t + "|" + spec.split + "|" +
                               std::to_string(spec.seed)))) {}

  std::string next_prompt() {
    constexpr int kMaxMisses = 200000, kMaxFailedDraws = 5000;
    int misses = 0, failed = 0;
    while (true) {
      TaskDraw d = task == "add"   ? add_draw(rng, *params)
                   : task == "mul" ? mul_draw(rng, *params)
                                   : path_draw(rng, *params);
      if (!d.ok) {
        check(++failed < kMaxFailedDraws, "could not build ", task,
              " graphs with these flags (too many edges for the nodes?); adjust --min-edges/"
              "--max-edges or --min-nodes/--max-nodes");
        continue;
      }
      failed = 0;
      std::string key = task_canonical_key(task, d.prompt);
      if (split_of_key(key) == split && (repeats || seen.insert(key).second)) return d.prompt;
      check(++misses < kMaxMisses, "only ", seen.size(), " distinct ", task,
            " instances found for split ", split, " after ", kMaxMisses,
            " draws; widen the difficulty flags or lower --n");
    }
  }
};

}  // namespace

std::vector<std::string> task_cot_steps(const std::string& task, const std::string& cot,
                                        const std::string& path_cot) {
  // the characters that end a step
  std::string ends = " ";
  if (task == "path" && path_cot == "back") ends = " <";
  if (task == "path" && path_cot == "path") ends = ">";
  std::vector<std::string> steps;
  std::string cur;
  for (char ch : cot) {
    cur += ch;
    if (ends.find(ch) != std::string::npos) steps.push_back(std::move(cur)), cur.clear();
  }
  if (!cur.empty()) steps.push_back(std::move(cur));
  return steps;
}

std::vector<TaskInstance> data_generate(const DataSpec& spec) {
  data_spec_validate(spec);
  std::vector<Generator> gens;
  if (spec.task == "mix")
    for (const auto& t : task_names()) gens.emplace_back(t, spec);
  else
    gens.emplace_back(spec.task, spec);
  std::vector<TaskInstance> out;
  out.reserve(spec.n);
  const std::string think_open = kThinkOpen, think_close = kThinkClose, eot = kEndOfText;
  for (int i = 0; i < spec.n; i++) {
    Generator& g = gens[i % gens.size()];
    TaskInstance inst;
    inst.id = spec.task + "-" + spec.split + "-" + std::to_string(i);
    inst.task = g.task;
    inst.prompt = g.next_prompt();
    inst.answer = task_solve(g.task, inst.prompt);
    std::string cot = spec.params.cot ? task_cot(g.task, inst.prompt, spec.params.path_cot) : "";
    inst.completion = think_open + cot + think_close + inst.answer + eot;
    inst.steps = task_cot_steps(g.task, cot, spec.params.path_cot);
    if (g.task == "path") inst.soft_targets = path_soft_targets(path_parse(inst.prompt));
    out.push_back(std::move(inst));
  }
  return out;
}

std::string data_to_jsonl(const std::vector<TaskInstance>& instances) {
  std::string out;
  for (const auto& x : instances) {
    nlohmann::ordered_json j;
    j["id"] = x.id;
    j["task"] = x.task;
    j["prompt"] = x.prompt;
    j["answer"] = x.answer;
    j["completion"] = x.completion;
    j["steps"] = x.steps;
    if (!x.soft_targets.empty()) {
      nlohmann::ordered_json st = nlohmann::ordered_json::array();
      for (const auto& hop : x.soft_targets) {
        nlohmann::ordered_json h = nlohmann::ordered_json::object();
        for (const auto& [node, w] : hop) h[node] = w;
        st.push_back(std::move(h));
      }
      j["soft_targets"] = std::move(st);
    }
    out += j.dump() + "\n";
  }
  return out;
}

}  // namespace softslm
