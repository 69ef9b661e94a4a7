// softslm score: per-token log-probabilities of a text under a model, as JSON.
#include <cmath>
#include <iostream>

#include "base/error.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "model/transformer.h"

namespace softslm {

namespace {

struct ScoreArgs {
  std::string model, text, file;
  bool no_bos = false;
  std::string dtype = "f32";
  int threads = 0;
};

void run_score(const ScoreArgs& a, bool text_given) {
  set_threads(a.threads);
  std::string text = text_from(a.text, a.file, text_given, "text");
  LoadedModel lm = load_model_dir(a.model);
  std::vector<int> ids;
  if (!a.no_bos) ids.push_back(lm.eos_id);  // GPT-2 convention: <|endoftext|> opens a document
  for (int t : tokenizer_encode(lm.tok, text, /*allow_special=*/true)) ids.push_back(t);
  const int n = (int)ids.size(), V = lm.model.cfg.vocab_size;
  check(n >= 2, "text has no token to score (", n, " token", n == 1 ? "" : "s",
        a.no_bos ? "; with --no-bos the first token is only context)" : ")");
  check(n <= lm.model.cfg.n_ctx, "text is ", n, " tokens; the model's context is ",
        lm.model.cfg.n_ctx);
  Transformer tr =
      transformer_create(inference_weights_create(std::move(lm.model), dtype_parse(a.dtype)), 1);
  std::vector<int> seq(n, 0), pos(n);
  for (int t = 0; t < n; t++) pos[t] = t;
  std::vector<float> logits((size_t)n * V);
  transformer_forward_tokens(tr, n, seq.data(), pos.data(), ids.data(), n, nullptr, logits.data());
  nlohmann::json toks = nlohmann::json::array();
  double total = 0;
  for (int t = 1; t < n; t++) {
    const float* l = logits.data() + (size_t)(t - 1) * V;
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = std::max(mx, l[v]);
    double z = 0;
    for (int v = 0; v < V; v++) z += std::exp((double)l[v] - mx);
    double lp = (double)l[ids[t]] - mx - std::log(z);
    total += lp;
    toks.push_back({{"id", ids[t]}, {"text", tokenizer_decode(lm.tok, &ids[t], 1)}, {"logprob", lp}});
  }
  int scored = n - 1;
  check(std::isfinite(total), a.model, ": the logits became non-finite on this text (an "
        "overflow in the activations)");
  nlohmann::json j = {{"n_tokens", scored},
                      {"total_logprob", total},
                      {"mean_nll", -total / scored},
                      {"perplexity", std::exp(-total / scored)},
                      {"bos", !a.no_bos},
                      {"tokens", toks}};
  std::cout << json_dump(j) << "\n";
}

}  // namespace

void register_score(CLI::App& app) {
  auto a = std::make_shared<ScoreArgs>();
  CLI::App* c = app.add_subcommand("score", "Per-token log-probabilities of a text, as JSON");
  c->add_option("-m,--model", a->model, "Model directory")->required();
  auto* to = c->add_option("--text", a->text, "Text to score");
  c->add_option("--text-file", a->file, "Read the text from a file");
  c->add_flag("--no-bos", a->no_bos, "Do not prepend <|endoftext|>; the first token is context only");
  c->add_option("--threads", a->threads, "Threads; 0 = all cores")->capture_default_str();
  c->add_option("--dtype", a->dtype, "Weights for the matrix products: f32 or bf16")
      ->capture_default_str();
  c->callback([a, to] { run_score(*a, to->count() > 0); });
}

}  // namespace softslm
