// softslm serve: an OpenAI-compatible HTTP server (cpp-httplib) over the continuous-batching
// engine (server/engine.h).
//   POST /v1/completions, POST /v1/chat/completions (stream with server-sent events),
//   GET /v1/models, GET /health, GET /metrics (Prometheus text).
// Every soft-thinking parameter per request ("soft_thinking": true or an object of
// configs/soft-thinking.yaml's keys, or the reference's names); the model's decoding file is
// the default. Errors are OpenAI's shape {"error": {"message", "type", "param", "code"}} with
// a 4xx status: malformed JSON, unknown or out-of-range parameters, prompts past the context,
// a full queue (429), a body past --max-body (413).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "generate/generate.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (printed when listening)
  std::string model_name;      // the id clients name (GET /v1/models); the directory's name
  int max_batch = 64;          // sequences decoded together (KV-cache slots)
  int max_queue = 64;          // requests waiting for slots; more get 429
  int http_threads = 0;        // 0: max_batch + max_queue + 8 (a waiting request holds one)
  size_t max_body = 1 << 20;   // bytes; larger bodies get 413
  Dtype dtype = Dtype::kF32;
};

struct ServedModel {
  Model model;                 // handed to the engine (packed in place)
  Tokenizer tok;
  int eos_id = -1;
  SoftThinkingParams trained;  // the model's decoding file (mode off when it has none)
  bool has_trained = false;
};

// Runs until SIGTERM or SIGINT (then: no new requests, the ones in flight finish, exit 0).
// on_listening(port) is called once the socket listens. Throws Error when it cannot bind.
void serve(ServedModel m, const ServeOptions& o,
           const std::function<void(int port)>& on_listening = nullptr);

}  // namespace softslm
