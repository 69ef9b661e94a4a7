// softslm serve: the OpenAI-compatible HTTP server (server/server.h) for one model directory.
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/io.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "generate/soft_config.h"
#include "server/server.h"

namespace softslm {

namespace {

struct ServeArgs {
  std::string model, dtype = "f32";
  ServeOptions o;
  int threads = 0;
  size_t max_body_kb = 1024;
};

void run_serve(ServeArgs& a) {
  set_threads(a.threads);
  a.o.dtype = dtype_parse(a.dtype);
  check(a.max_body_kb >= 1, "--max-body-kb must be >= 1");
  a.o.max_body = a.max_body_kb * 1024;
  LoadedModel lm = load_model_dir(a.model);
  ServedModel m;
  m.tok = std::move(lm.tok);
  m.eos_id = lm.eos_id;
  const std::string trained = a.model + "/" + kSoftThinkingFile;
  if (file_exists(trained)) {
    soft_config_load(m.trained, trained);
    m.has_trained = true;
  }
  m.model = std::move(lm.model);
  if (a.o.model_name.empty()) {
    std::filesystem::path p(a.model);
    while (!p.empty() && p.filename().empty()) p = p.parent_path();
    a.o.model_name = p.filename().string();
  }
  serve(std::move(m), a.o, [&](int port) {
    std::fprintf(stderr, "softslm serve: %s (decoding: %s) on http://%s:%d (max batch %d, queue %d)\n",
                 a.o.model_name.c_str(), m.has_trained ? "as trained" : "plain by default",
                 a.o.host.c_str(), port, a.o.max_batch, a.o.max_queue);
    std::printf("listening on http://%s:%d\n", a.o.host.c_str(), port);
    std::fflush(stdout);
  });
  std::fprintf(stderr, "softslm serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* c = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server with continuous batching and per-request soft thinking");
  c->add_option("-m,--model", a->model, "Model directory (Hugging Face GPT-2 format)")->required();
  c->add_option("--host", a->o.host, "Address to listen on")->capture_default_str();
  c->add_option("--port", a->o.port, "Port (0 = any free port, printed on stdout)")->capture_default_str();
  c->add_option("--name", a->o.model_name, "Model id clients name (default: the directory's name)");
  c->add_option("--max-batch", a->o.max_batch, "Sequences decoded together (KV-cache slots)")
      ->capture_default_str();
  c->add_option("--max-queue", a->o.max_queue, "Requests that may wait for slots; more get HTTP 429")
      ->capture_default_str();
  c->add_option("--max-body-kb", a->max_body_kb, "Largest request body in KiB; larger get HTTP 413")
      ->capture_default_str();
  c->add_option("--http-threads", a->o.http_threads,
                "HTTP worker threads (0 = max-batch + max-queue + 8: a waiting request holds one)")
      ->capture_default_str();
  c->add_option("--threads", a->threads, "Compute threads; 0 = all cores")->capture_default_str();
  c->add_option("--dtype", a->dtype, "Weights for the matrix products: f32 or bf16")->capture_default_str();
  c->footer(
      "Endpoints: POST /v1/completions, POST /v1/chat/completions (\"stream\": true for "
      "server-sent events), GET /v1/models, POST /tokenize, POST /detokenize, GET "
      "/tokenizer_info, GET /health, GET /metrics. \"soft_thinking\": true "
      "or an object of configs/soft-thinking.yaml keys turns soft thinking on per request; a "
      "model's soft_thinking.yaml is the default. SIGTERM or Ctrl-C: requests in flight finish, "
      "then exit 0.");
  c->callback([a] { run_serve(*a); });
}

}  // namespace softslm
