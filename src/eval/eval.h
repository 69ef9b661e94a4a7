// The evaluation harness: run named decoding configurations over a set of prompts with known
// answers, with one strict answer rule and the same prompts and seeds for every configuration,
// and summarise accuracy, pass@k and token use.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "generate/generate.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

struct EvalExample {
  std::string id, task, prompt, answer;  // task may be "" for external sets
  std::string where;  // "file:line" of a read example ("" when generated): for messages
  std::string difficulty;  // a JSONL row's "difficulty"; "" = task_difficulty for known tasks
};

// A named decoding configuration. Plain decoding (mode off) samples every token with the
// after-thinking filters; soft modes use both phases. One parameter struct for all.
struct DecodeConfig {
  std::string name;
  SoftThinkingParams soft;
};

// The built-in configurations: greedy, sampled (the paper's T 0.6, top-k 30, top-p 0.95,
// min-p 0.001), soft (the paper's soft thinking), soft-greedy (argmax concepts... K = 10 with
// greedy answer), soft-gumbel (tau_g 0.5), soft-dirichlet (alpha 1), soft-moi, entropy-gate.
std::vector<DecodeConfig> decode_configs_builtin();
// Resolves names against a YAML file of named configurations (name: {soft-thinking keys},
// optional "base: NAME"), falling back to the built-ins; throws Error on an unknown name.
// "model" is the decoding the model in model_dir was trained for (its soft_thinking.yaml,
// kSoftThinkingFile), "model-gumbel" / "model-dirichlet" the same with Gumbel (tau_g 0.5) or
// Dirichlet (alpha 1) noise, "model-discrete" the same model decoded discretely (a latent
// model's steps fed their emitted tokens: the same thinking budget; any other in mode off);
// an error when the directory has none. A configs file may take any of them as its base.
std::vector<DecodeConfig> decode_configs_resolve(const std::vector<std::string>& names,
                                                 const std::string& yaml_file,
                                                 const std::string& model_dir = "");
// Expands "key=v1,v2,..." sweeps into the grid of configurations derived from `base`, named
// "base[key=v,...]".
std::vector<DecodeConfig> decode_configs_sweep(const DecodeConfig& base,
                                               const std::vector<std::string>& sweeps);

// Throws Error naming the configuration and the bad parameter.
void decode_config_validate(const DecodeConfig& c, int vocab_size);

// The generated examples of `tasks` (each: n of its `split`, from data_seed), in task order.
std::vector<EvalExample> eval_task_examples(const std::vector<std::string>& tasks,
                                            const std::string& split, uint64_t data_seed, int n);

// Reads {"prompt","answer"} JSONL (optional "id", "task"); throws Error naming file:line.
std::vector<EvalExample> eval_read_jsonl(const std::string& path);
// The same on JSONL text in memory; `where` names the source in messages.
std::vector<EvalExample> eval_parse_jsonl(const std::string& text, const std::string& where);

// The strict answer rule for every configuration: the generated text after the first
// </think> up to <|endoftext|>, trimmed of ASCII white space; "" when </think> never comes.
std::string eval_extract_answer(const std::string& generated_text);

struct SampleOutcome {
  int example = 0, sample = 0;
  bool correct = false;
  int n_tokens = 0;         // generated tokens, eos included
  int thinking_tokens = 0;  // tokens before the first </think> (all, when it never comes)
  std::string think_end;    // end_tag | cold_stop | budget | entropy_gate | ""
  std::string stop_reason;
  std::string output;       // generated text (special tokens spelled out)
  std::string extracted;    // the answer by the strict rule
  std::string difficulty;   // the example's difficulty class ("" when it has none)
};

struct Metrics {
  int n_examples = 0, samples = 1;
  double pass1 = 0;               // mean over examples of (correct samples / k)
  double passk = 0;               // fraction of examples with at least one correct sample
  double mean_tokens = 0;         // over all samples
  double mean_tokens_correct = 0; // over correct samples (0 when none)
  double mean_thinking = 0;       // thinking tokens, over all samples
  double cold_stop_rate = 0, budget_rate = 0;
};
// outcomes: every (example, sample) of one configuration; examples gives the task grouping.
Metrics eval_metrics(const std::vector<SampleOutcome>& outcomes, int samples);

struct EvalOptions {
  int samples = 1;            // k samples per prompt (seeds differ)
  uint64_t seed = 0;          // sample j of example i uses seed + i * samples + j
  int max_new_tokens = 1000;  // the context end usually stops first
  int batch = 32;             // sequences decoded together
  int trace_examples = 3;     // per task, examples whose step traces (sample 0) are written:
                              // where configurations disagree first (eval_trace_selection)
  bool append_think = true;   // prompts end with <think> for every configuration
  Dtype dtype = Dtype::kF32;  // inference weights (bf16: faster, logits ~1e-3 off)
};

struct EvalRun {
  DecodeConfig config;
  std::vector<SampleOutcome> outcomes;  // example-major, then sample
  std::map<std::string, Metrics> by_task;  // "" = all examples
  // per task and difficulty class (task_difficulty), for examples of a known task
  std::map<std::pair<std::string, std::string>, Metrics> by_difficulty;
  double seconds = 0, tokens_per_s = 0;
  std::vector<std::vector<StepRecord>> traces;  // [examples] steps of sample 0 (none kept when
                                                // trace_examples is 0)
};

// Runs one configuration over the examples with the model's packed weights (their dtype must
// be opt.dtype). progress(done, total) after each batch.
EvalRun eval_run(std::shared_ptr<const InferenceWeights> weights, const Tokenizer& tok, const std::vector<EvalExample>& examples,
                 const DecodeConfig& cfg, const EvalOptions& opt,
                 const std::function<void(int, int)>& progress = nullptr);

// Markdown table of every run (one row per configuration and task).
std::string eval_markdown(const std::vector<EvalRun>& runs);
// Markdown table of accuracy per task and difficulty class: one row per (task, difficulty),
// per configuration its pass@1 and mean thinking tokens.
std::string eval_markdown_difficulty(const std::vector<EvalRun>& runs);
// Summary JSON (configs, metrics per task) and per-example JSONL rows.
nlohmann::json eval_summary_json(const std::vector<EvalRun>& runs);
std::string eval_results_jsonl(const std::vector<EvalRun>& runs,
                               const std::vector<EvalExample>& examples);
// The examples whose traces are worth showing: per task (tasks in order of first appearance),
// up to per_task of them, first those where the configurations disagree (sample 0 right under
// one, wrong under another), then the others, each group in example order. Sorted by task
// order, then example index.
std::vector<int> eval_trace_selection(const std::vector<EvalRun>& runs,
                                      const std::vector<EvalExample>& examples, int per_task);
// Traces of eval_trace_selection(runs, examples, per_task) as JSONL rows, example-major then
// configuration: {"config","example","id","task","prompt","answer","correct","disagree",
// "steps":[trace records]}.
std::string eval_traces_jsonl(const std::vector<EvalRun>& runs,
                              const std::vector<EvalExample>& examples, const Tokenizer& tok,
                              int per_task);

}  // namespace softslm
