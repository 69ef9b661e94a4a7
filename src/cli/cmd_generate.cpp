// softslm generate: prompt -> text, streamed, or one JSON object with --json.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "base/error.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "generate/generate.h"

namespace softslm {

namespace {

struct GenerateArgs {
  std::string model, prompt, prompt_file;
  GenerateParams params;
  int threads = 0;
  bool json = false, no_stream = false;
};

void run_generate(const GenerateArgs& a, bool prompt_given) {
  set_threads(a.threads);
  sampler_params_validate(a.params.sampler);
  check(a.params.max_new_tokens >= 0, "--max-new-tokens must be >= 0");
  std::string prompt = text_from(a.prompt, a.prompt_file, prompt_given, "prompt");
  LoadedModel lm = load_model_dir(a.model);
  std::vector<int> ids = tokenizer_encode(lm.tok, prompt, /*allow_special=*/true);
  if (ids.empty()) ids.push_back(lm.eos_id);  // an empty prompt starts from <|endoftext|>
  GenerateParams p = a.params;
  p.eos_id = lm.eos_id;
  bool stream = !a.json && !a.no_stream;
  StepHook on_token;
  if (stream) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    on_token = [&](const StepRecord& rec, const float*) {
      int t = rec.token;
      if (t == lm.eos_id) return;
      std::string s = tokenizer_decode(lm.tok, &t, 1);
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    };
  }
  auto t0 = std::chrono::steady_clock::now();
  SeqResult r = generate(lm.model, {ids}, p, on_token)[0];
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<int> text_ids = r.tokens;
  if (!text_ids.empty() && text_ids.back() == lm.eos_id) text_ids.pop_back();
  std::string text = tokenizer_decode(lm.tok, text_ids);
  if (a.json) {
    nlohmann::json j = {{"prompt", prompt},
                        {"text", text},
                        {"tokens", r.tokens},
                        {"n_prompt_tokens", ids.size()},
                        {"n_generated", r.tokens.size()},
                        {"stop_reason", r.stop_reason},
                        {"seconds", secs},
                        {"tokens_per_s", secs > 0 ? r.tokens.size() / secs : 0.0}};
    std::cout << json_dump(j) << "\n";
  } else {
    if (!stream) std::cout << prompt << text;
    std::cout << "\n";
    std::fprintf(stderr, "[%zu tokens, %.1f tokens/s, stop: %s]\n", r.tokens.size(),
                 secs > 0 ? r.tokens.size() / secs : 0.0, r.stop_reason.c_str());
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* c = app.add_subcommand("generate", "Generate text from a prompt");
  c->add_option("-m,--model", a->model, "Model directory (Hugging Face GPT-2 format)")->required();
  auto* po = c->add_option("-p,--prompt", a->prompt,
                           "Prompt text (special tokens such as <think> are recognised)");
  c->add_option("--prompt-file", a->prompt_file, "Read the prompt from a file");
  c->add_option("-t,--temperature", a->params.sampler.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  c->add_option("--top-k", a->params.sampler.top_k, "Keep the k most probable tokens; 0 = off")
      ->capture_default_str();
  c->add_option("--top-p", a->params.sampler.top_p, "Nucleus sampling mass, in (0, 1]")
      ->capture_default_str();
  c->add_option("--min-p", a->params.sampler.min_p, "Drop tokens below min_p * max prob, in [0, 1)")
      ->capture_default_str();
  c->add_option("-n,--max-new-tokens", a->params.max_new_tokens, "Maximum tokens to generate")
      ->capture_default_str();
  c->add_option("-s,--seed", a->params.seed, "Random seed")->capture_default_str();
  c->add_option("--threads", a->threads, "Threads; 0 = all cores")->capture_default_str();
  c->add_flag("--json", a->json, "Print one JSON object instead of streaming text");
  c->add_flag("--no-stream", a->no_stream, "Print the text at the end instead of streaming");
  c->callback([a, po] { run_generate(*a, po->count() > 0); });
}

}  // namespace softslm
