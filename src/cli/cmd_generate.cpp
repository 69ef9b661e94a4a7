// softslm generate: prompt -> text, streamed, or JSON; optionally with Soft Thinking, a
// per-step trace, and many prompts decoded as one batch.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "base/error.h"
#include "base/io.h"
#include "base/jsonl.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "generate/soft_config.h"
#include "generate/trace.h"

namespace softslm {

namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_file, prompts_jsonl, soft_config, trace;
  bool plain = false;
  std::vector<std::string> sets;
  GenerateParams params;
  int threads = 0;
  std::string dtype = "f32";
  bool json = false, no_stream = false, soft = false;
};

struct Prompt {
  std::string id, text, where;  // where: "file:line" (for messages), "--prompt" for one prompt
};

// Decoded as batches of at most this many prompts (a KV cache each): memory stays bounded
// for a file of any length; seeds stay those of one batch (prompt i: seed + i).
constexpr size_t kMaxBatch = 64;

std::vector<Prompt> read_prompts_jsonl(const std::string& path) {
  std::vector<Prompt> out;
  std::vector<int> lines;
  std::vector<nlohmann::json> rows = jsonl_parse(read_file(path), path, &lines);
  for (size_t i = 0; i < rows.size(); i++) {
    const nlohmann::json& j = rows[i];
    const std::string where = path + ":" + std::to_string(lines[i]);
    check(j.is_object() && j.contains("prompt") && j["prompt"].is_string(), where,
          ": expected an object with a string \"prompt\"");
    std::string id = j.contains("id") ? (j["id"].is_string() ? j["id"].get<std::string>()
                                                             : j["id"].dump())
                                      : std::to_string(i);
    out.push_back({id, j["prompt"].get<std::string>(), where});
  }
  check(!out.empty(), path, ": no prompts");
  return out;
}

void run_generate(GenerateArgs& a, bool prompt_given) {
  set_threads(a.threads);
  GenerateParams& p = a.params;
  p.dtype = dtype_parse(a.dtype);
  SoftThinkingParams& s = p.soft;
  // a model trained with a soft_training recipe decodes as trained unless told otherwise
  const std::string trained = a.model + "/" + kSoftThinkingFile;
  const bool as_trained = !a.plain && !a.soft && a.soft_config.empty() && file_exists(trained);
  check(!a.plain || (!a.soft && a.soft_config.empty() && a.sets.empty()),
        "--plain decodes without soft thinking: drop --soft-thinking, --soft-config and --set");
  if (as_trained) {
    soft_config_load(s, trained);
    if (!a.json && a.prompts_jsonl.empty())
      std::fprintf(stderr, "decoding as trained: %s (mode %s; --plain for plain decoding)\n",
                   trained.c_str(), think_mode_name(s.mode));
  }
  if (!a.soft_config.empty()) soft_config_load(s, a.soft_config);
  for (const auto& kv : a.sets) soft_config_set(s, kv);
  if (a.soft && s.mode == ThinkMode::kOff) s.mode = ThinkMode::kThinkTags;
  const bool soft = s.mode != ThinkMode::kOff;
  check(soft || as_trained || (a.sets.empty() && a.soft_config.empty()),
        a.sets.empty() ? "--soft-config" : "--set",
        " sets soft-thinking keys, which plain decoding does not use: add --soft-thinking "
        "(or set mode: think_tags / entropy_gate)");
  std::vector<Prompt> prompts;
  if (!a.prompts_jsonl.empty()) {
    check(!prompt_given && a.prompt_file.empty(), "give --prompts or a single prompt, not both");
    prompts = read_prompts_jsonl(a.prompts_jsonl);
  } else {
    prompts.push_back({"0", text_from(a.prompt, a.prompt_file, prompt_given, "prompt"),
                       prompt_given ? "--prompt" : a.prompt_file});
  }
  LoadedModel lm = load_model_dir(a.model);
  p.eos_id = lm.eos_id;
  p.think_open_id = tokenizer_special_id(lm.tok, kThinkOpen);
  p.think_close_id = tokenizer_special_id(lm.tok, kThinkClose);
  p.vocab_limit = tokenizer_vocab_size(lm.tok);  // rows past the tokenizer are never sampled
  generate_params_validate(p, p.vocab_limit);
  const int n_ctx = lm.model.cfg.n_ctx;
  std::vector<std::vector<int>> ids;
  for (const auto& pr : prompts) {
    ids.push_back(tokenizer_encode(lm.tok, pr.text, /*allow_special=*/true));
    if (ids.back().empty()) ids.back().push_back(lm.eos_id);  // empty prompt: start a document
    const std::vector<int>& t = ids.back();
    const int n = generate_prompt_positions(p, t);
    check(n < n_ctx, pr.where, pr.where == "--prompt" ? "" : " (id " + pr.id + ")",
          ": the prompt is ", n, " tokens; the model's context is ", n_ctx, " (at most ",
          n_ctx - 1, " leave room to generate)");
  }
  const bool batch = prompts.size() > 1 || !a.prompts_jsonl.empty();
  const bool stream = !a.json && !a.no_stream && !batch;
  const bool tty = isatty(fileno(stdout));
  const char* dim = tty ? "\x1b[2m" : "";
  const char* reset = tty ? "\x1b[0m" : "";
  std::string trace;
  bool in_thinking = false;
  auto put = [](const std::string& t) {
    std::fwrite(t.data(), 1, t.size(), stdout);
    std::fflush(stdout);
  };
  bool echoed = false;  // the prompt is echoed at the first step, once generate accepted it
  StepHook hook = [&](const StepRecord& r, const float*) {
    if (!a.trace.empty()) trace += json_dump(trace_record_json(r, lm.tok), -1) + "\n";
    if (!stream) return;
    if (!echoed) {
      put(prompts[0].text + (r.thinking && s.mode == ThinkMode::kThinkTags ? "\n" : ""));
      echoed = true;
    }
    if (r.token == lm.eos_id) return;
    if (r.thinking && !in_thinking) {
      put(std::string(dim) + "[thinking] ");
      in_thinking = true;
    }
    if (r.switch_reason && in_thinking) {
      put(std::string(" [/thinking: ") + r.switch_reason + "]" + reset + "\n");
      in_thinking = false;
      return;
    }
    put(tokenizer_decode(lm.tok, &r.token, 1));
  };
  auto t0 = std::chrono::steady_clock::now();
  // the model is handed over: its matrices are packed in place (no second copy)
  std::shared_ptr<const InferenceWeights> weights =
      inference_weights_create(std::move(lm.model), p.dtype);
  std::vector<SeqResult> res;
  for (size_t start = 0; start < ids.size(); start += kMaxBatch) {
    std::vector<std::vector<int>> part(ids.begin() + start,
                                       ids.begin() + std::min(ids.size(), start + kMaxBatch));
    GenerateParams bp = p;
    bp.seed = p.seed + start;  // prompt i of the file draws from seed + i, as in one batch
    StepHook part_hook = [&](const StepRecord& r, float* x) {
      StepRecord g = r;
      g.seq = (int)(r.seq + start);
      hook(g, x);
    };
    for (SeqResult& r : generate(weights, part, bp, part_hook)) res.push_back(std::move(r));
  }
  for (size_t i = 0; i < res.size(); i++)
    check(res[i].error.empty(), prompts[i].where,
          prompts[i].where == "--prompt" ? "" : " (id " + prompts[i].id + ")", ": ",
          res[i].error);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.trace.empty()) write_file_atomic(a.trace, trace);
  size_t total = 0;
  for (const auto& r : res) total += r.tokens.size();
  double tps = secs > 0 ? total / secs : 0.0;
  if (a.json || batch) {
    for (size_t i = 0; i < res.size(); i++) {
      nlohmann::json j = seq_result_json(res[i], lm.tok, lm.eos_id, p.think_close_id);
      j["id"] = prompts[i].id;
      j["prompt"] = prompts[i].text;
      j["mode"] = think_mode_name(s.mode);
      if (!batch) j["seconds"] = secs, j["tokens_per_s"] = tps;
      std::cout << json_dump(j, batch ? -1 : 2) << "\n";
    }
    if (batch)
      std::fprintf(stderr, "[%zu prompts, %zu tokens, %.1f tokens/s]\n", res.size(), total, tps);
    return;
  }
  const SeqResult& r = res[0];
  SeqText t = seq_text(r, lm.tok, lm.eos_id, p.think_close_id);
  if (in_thinking) put(std::string(" [/thinking: unfinished]") + reset + "\n");
  if (!stream || !echoed) {
    std::cout << prompts[0].text;
    if (soft && !t.thinking.empty())
      std::cout << "\n" << dim << "[thinking] " << t.thinking << " [/thinking: "
                << (r.think_end.empty() ? "unfinished" : r.think_end) << "]" << reset << "\n";
    std::cout << t.answer;
  }
  std::cout << "\n";
  if (soft)
    std::printf("[soft thinking (%s): %d soft steps, ended by %s; answer %zu tokens; mean "
                "thinking entropy %.3f nats; stop: %s; %.1f tokens/s]\n",
                think_mode_name(s.mode), r.thinking_steps,
                r.think_end.empty() ? "nothing (still thinking)" : r.think_end.c_str(),
                r.tokens.size() - r.thinking_steps - (r.think_end.empty() ? 0 : 1),
                t.mean_entropy, r.stop_reason.c_str(), tps);
  else
    std::fprintf(stderr, "[%zu tokens, %.1f tokens/s, stop: %s]\n", r.tokens.size(), tps,
                 r.stop_reason.c_str());
}

}  // namespace

void register_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* c = app.add_subcommand("generate", "Generate text from a prompt (optionally with Soft Thinking)");
  c->add_option("-m,--model", a->model, "Model directory (Hugging Face GPT-2 format)")->required();
  auto* po = c->add_option("-p,--prompt", a->prompt,
                           "Prompt text (special tokens such as <think> are recognised)");
  c->add_option("--prompt-file", a->prompt_file, "Read the prompt from a file");
  c->add_option("--prompts", a->prompts_jsonl,
                "JSONL of {\"prompt\": ..., \"id\": ...}: decode all as one batch, print JSONL");
  c->add_option("-t,--temperature", a->params.sampler.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  c->add_option("--top-k", a->params.sampler.top_k, "Keep the k most probable tokens; 0 = off")
      ->capture_default_str();
  c->add_option("--top-p", a->params.sampler.top_p, "Nucleus sampling mass, in (0, 1]")
      ->capture_default_str();
  c->add_option("--min-p", a->params.sampler.min_p, "Drop tokens below min_p * max prob, in [0, 1)")
      ->capture_default_str();
  c->add_option("-n,--max-new-tokens", a->params.max_new_tokens,
                "Maximum tokens to generate (thinking included)")
      ->capture_default_str();
  c->add_option("-s,--seed", a->params.seed, "Random seed (prompt i of a batch uses seed + i)")
      ->check(seed_check())
      ->capture_default_str();
  c->add_option("--threads", a->threads, "Threads; 0 = all cores")->capture_default_str();
  c->add_option("--dtype", a->dtype, "Weights for the matrix products: f32, or bf16 (faster, logits ~1e-3 off)")
      ->capture_default_str();
  c->add_flag("--json", a->json, "Print one JSON object instead of streaming text");
  c->add_flag("--no-stream", a->no_stream, "Print the text at the end instead of streaming");
  c->add_flag("--soft-thinking", a->soft,
              "Soft Thinking (mode think_tags unless the config says entropy_gate); the plain "
              "sampling flags above are then unused: see configs/soft-thinking.yaml");
  c->add_option("--soft-config", a->soft_config,
                "Soft-thinking YAML (configs/soft-thinking.yaml documents every key); its mode "
                "turns soft thinking on");
  c->add_option("--set", a->sets, "Override a soft-thinking key, e.g. --set cold_stop.tau=0.05");
  c->add_option("--trace", a->trace, "Write the per-step trace (JSONL) to this file");
  c->add_flag("--plain", a->plain,
              "Plain decoding even for a model whose soft_thinking.yaml (written by training "
              "with a soft_training recipe) says how it thinks; without --plain, "
              "--soft-thinking or --soft-config, generate decodes as that file says");
  c->callback([a, po] { run_generate(*a, po->count() > 0); });
}

}  // namespace softslm
