#include "server/server.h"

#include <dirent.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "generate/soft_config.h"
#include "generate/trace.h"
#include "server/engine.h"

namespace softslm {

using json = nlohmann::json;

namespace {

// ---- errors ---------------------------------------------------------------------------

struct ApiError {
  int status;
  std::string type, message, param;
};

[[noreturn]] void bad_request(const std::string& msg, const std::string& param = "") {
  throw ApiError{400, "invalid_request_error", msg, param};
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_json(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (e.status == 429) err["code"] = "rate_limit_exceeded";
  if (e.status == 404) err["code"] = "model_not_found";
  return {{"error", err}};
}

// ---- request parsing ------------------------------------------------------------------

struct Request {
  bool chat = false;
  std::vector<std::string> prompt_texts;  // [prompts] as given (decoded when given as ids)
  std::vector<std::vector<int>> prompts;  // [prompts] token ids
  GenerateParams params;                  // seed: the first choice's; choice j draws seed + j
  int n = 1;
  bool stream = false, include_usage = false;
  int logprobs = -1;  // -1: none; else the top alternatives per token
  bool echo = false;
  bool trace = false;
  std::vector<std::string> stops;
};

// Numbers of the right kind, named in the error.
double num(const json& v, const std::string& name) {
  if (!v.is_number()) bad_request("'" + name + "' must be a number (got " + dump(v) + ")", name);
  return v.get<double>();
}
long long integer(const json& v, const std::string& name) {
  if (!v.is_number_integer() && !(v.is_number_float() && v.get<double>() == (long long)v.get<double>()))
    bad_request("'" + name + "' must be an integer (got " + dump(v) + ")", name);
  return v.is_number_integer() ? v.get<long long>() : (long long)v.get<double>();
}
bool boolean(const json& v, const std::string& name) {
  if (!v.is_boolean()) bad_request("'" + name + "' must be true or false (got " + dump(v) + ")", name);
  return v.get<bool>();
}
void range(double x, double lo, double hi, const std::string& name) {
  if (!(x >= lo && x <= hi))
    bad_request("'" + name + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() +
                    "] (got " + json(x).dump() + ")",
                name);
}

// The reference's (SGLang Soft Thinking's) request names -> our configuration keys.
const std::map<std::string, std::string>& reference_names() {
  static const std::map<std::string, std::string> m = {
      {"after_thinking_temperature", "after_thinking.temperature"},
      {"after_thinking_top_p", "after_thinking.top_p"},
      {"after_thinking_top_k", "after_thinking.top_k"},
      {"after_thinking_min_p", "after_thinking.min_p"},
      {"early_stopping_entropy_threshold", "cold_stop.tau"},
      {"early_stopping_length_threshold", "cold_stop.steps"},
      {"dirichlet_alpha", "dirichlet.alpha"},
      {"gumbel_softmax_temperature", "gumbel.tau"},
      {"thinking_budget", "max_thinking_tokens"},
  };
  return m;
}

// "key=value" for soft_config_set from a JSON value.
std::string assignment(const std::string& key, const json& v) {
  if (v.is_string()) return key + "=" + v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return key + "=" + v.dump();
  bad_request("soft_thinking." + key + " must be a number, boolean or string (got " + dump(v) + ")",
              "soft_thinking." + key);
}

// Flattens {"cold_stop": {"tau": 0.05}} to ("cold_stop.tau", 0.05) pairs.
void flatten(const json& obj, const std::string& prefix,
             std::vector<std::pair<std::string, json>>& out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      flatten(*it, key, out);
    else
      out.emplace_back(key, *it);
  }
}

struct ModelInfo {
  const Tokenizer* tok;
  int eos_id, think_open_id, think_close_id, vocab_limit, n_ctx, max_n;
  std::string name;
  SoftThinkingParams trained;
  bool has_trained;
  Dtype dtype;
};

// The chat template of our models (which were trained on bare task prompts): the messages'
// contents in order; a system (or developer) message is followed by "\n", an assistant message
// by <|endoftext|> (the end of its turn); a user message stands as it is. One user message
// "4528+734=" is the prompt "4528+734=".
std::string chat_prompt(const json& messages, const ModelInfo& mi) {
  if (!messages.is_array() || messages.empty())
    bad_request("'messages' must be a non-empty array", "messages");
  std::string out;
  const std::string eos = mi.eos_id >= 0 ? tokenizer_decode(*mi.tok, &mi.eos_id, 1) : "";
  for (size_t i = 0; i < messages.size(); i++) {
    const json& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad_request(where + " must be an object with a string 'role'", where);
    const std::string role = m["role"];
    for (auto it = m.begin(); it != m.end(); ++it)
      if (it.key() != "role" && it.key() != "content" && it.key() != "name")
        bad_request(where + ": unknown field '" + it.key() + "'", where + "." + it.key());
    std::string content;
    const json c = m.value("content", json(""));
    if (c.is_string()) {
      content = c;
    } else if (c.is_array()) {  // [{"type": "text", "text": ...}, ...]
      for (const json& part : c) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
            !part["text"].is_string())
          bad_request(where + ".content: only text parts ({\"type\": \"text\", \"text\": ...}) are supported",
                      where + ".content");
        content += part["text"].get<std::string>();
      }
    } else if (!c.is_null()) {
      bad_request(where + ".content must be a string or an array of text parts", where + ".content");
    }
    if (role == "system" || role == "developer")
      out += content + "\n";
    else if (role == "user")
      out += content;
    else if (role == "assistant")
      out += content + eos;
    else
      bad_request(where + ": role must be system, developer, user or assistant (got '" + role + "')",
                  where + ".role");
  }
  return out;
}

std::vector<int> encode_prompt(const std::string& text, const ModelInfo& mi) {
  std::vector<int> ids = tokenizer_encode(*mi.tok, text, /*allow_special=*/true);
  if (ids.empty() && mi.eos_id >= 0) ids.push_back(mi.eos_id);  // empty: start a document
  return ids;
}

// "model", where given, must name the model served (404 otherwise).
void check_model(const json& body, const ModelInfo& mi) {
  if (!body.contains("model") || body["model"].is_null()) return;
  if (!body["model"].is_string()) bad_request("'model' must be a string", "model");
  const std::string m = body["model"];
  if (m != mi.name)
    throw ApiError{404, "invalid_request_error",
                   "model '" + m + "' not found; this server serves '" + mi.name + "'", "model"};
}

Request parse_request(const json& body, bool chat, const ModelInfo& mi, uint64_t default_seed) {
  if (!body.is_object()) bad_request("the request body must be a JSON object");
  static const std::set<std::string> common = {
      "model", "max_tokens", "temperature", "top_p", "top_k", "min_p", "n", "seed", "stop",
      "stream", "stream_options", "user", "presence_penalty", "frequency_penalty", "logit_bias",
      "soft_thinking", "trace"};
  static const std::set<std::string> completion_only = {"prompt", "logprobs", "echo", "best_of",
                                                        "suffix"};
  static const std::set<std::string> chat_only = {"messages", "logprobs", "top_logprobs",
                                                  "max_completion_tokens", "response_format"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& k = it.key();
    if (!common.count(k) && !(chat ? chat_only : completion_only).count(k))
      bad_request("unknown parameter '" + k + "'", k);
  }
  Request r;
  r.chat = chat;
  auto has = [&](const char* k) { return body.contains(k) && !body[k].is_null(); };
  check_model(body, mi);
  // parameters accepted only at their neutral values
  if (has("presence_penalty") && num(body["presence_penalty"], "presence_penalty") != 0)
    bad_request("'presence_penalty' is not supported (only 0)", "presence_penalty");
  if (has("frequency_penalty") && num(body["frequency_penalty"], "frequency_penalty") != 0)
    bad_request("'frequency_penalty' is not supported (only 0)", "frequency_penalty");
  if (has("logit_bias") && !(body["logit_bias"].is_object() && body["logit_bias"].empty()))
    bad_request("'logit_bias' is not supported", "logit_bias");
  if (has("suffix")) bad_request("'suffix' is not supported", "suffix");
  if (has("user") && !body["user"].is_string()) bad_request("'user' must be a string", "user");
  if (has("response_format") &&
      !(body["response_format"].is_object() && body["response_format"].value("type", "") == "text"))
    bad_request("only response_format {\"type\": \"text\"} is supported", "response_format");

  // prompts
  if (chat) {
    if (!body.contains("messages")) bad_request("'messages' is required", "messages");
    r.prompt_texts.push_back(chat_prompt(body["messages"], mi));
    r.prompts.push_back(encode_prompt(r.prompt_texts.back(), mi));
  } else {
    if (!body.contains("prompt")) bad_request("'prompt' is required", "prompt");
    const json& p = body["prompt"];
    auto ids_of = [&](const json& a) {  // a token-id array
      std::vector<int> ids;
      for (const json& t : a) {
        if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() >= mi.vocab_limit)
          bad_request("'prompt' token ids must be integers in [0, " +
                          std::to_string(mi.vocab_limit) + ") (got " + dump(t) + ")",
                      "prompt");
        ids.push_back(t.get<int>());
      }
      if (ids.empty()) bad_request("'prompt' token arrays must not be empty", "prompt");
      return ids;
    };
    if (p.is_string()) {
      r.prompt_texts.push_back(p);
    } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
      r.prompts.push_back(ids_of(p));
    } else if (p.is_array() && !p.empty()) {
      for (const json& e : p) {
        if (e.is_string())
          r.prompt_texts.push_back(e);
        else if (e.is_array())
          r.prompts.push_back(ids_of(e));
        else
          bad_request("'prompt' must be a string, an array of strings, or token-id arrays", "prompt");
      }
      if (!r.prompt_texts.empty() && !r.prompts.empty())
        bad_request("'prompt' must not mix strings and token-id arrays", "prompt");
    } else {
      bad_request("'prompt' must be a string, an array of strings, or token-id arrays", "prompt");
    }
    if (r.prompts.empty()) {
      for (const std::string& t : r.prompt_texts) r.prompts.push_back(encode_prompt(t, mi));
    } else {
      for (const auto& ids : r.prompts) r.prompt_texts.push_back(tokenizer_decode(*mi.tok, ids));
    }
  }

  // decoding
  GenerateParams& P = r.params;
  P.dtype = mi.dtype;
  P.eos_id = mi.eos_id;
  P.think_open_id = mi.think_open_id;
  P.think_close_id = mi.think_close_id;
  P.vocab_limit = mi.vocab_limit;
  SoftThinkingParams& S = P.soft;
  if (mi.has_trained) S = mi.trained;  // the model's own decoding is the default
  std::vector<std::string> soft_sets;  // a soft_thinking object's "key=value"s, in order
  if (has("soft_thinking")) {
    const json& st = body["soft_thinking"];
    if (st.is_boolean()) {
      if (!st.get<bool>()) {
        S.mode = ThinkMode::kOff;
      } else if (S.mode == ThinkMode::kOff) {
        S.mode = ThinkMode::kThinkTags;
      }
    } else if (st.is_object()) {
      if (S.mode == ThinkMode::kOff) S.mode = ThinkMode::kThinkTags;
      std::vector<std::pair<std::string, json>> kv;
      flatten(st, "", kv);
      const auto& ref = reference_names();
      for (const auto& [k0, v] : kv) {
        std::string k = ref.count(k0) ? ref.at(k0) : k0;
        soft_sets.push_back(assignment(k, v));
        try {
          soft_config_set(S, soft_sets.back());
        } catch (const Error& e) {
          bad_request(std::string("soft_thinking: ") + e.what(), "soft_thinking." + k0);
        }
        if (k == "dirichlet.alpha") S.sampler.dirichlet = true;  // the reference turns noise on
        if (k == "gumbel.tau") S.sampler.gumbel = true;          // by giving its parameter
      }
    } else {
      bad_request("'soft_thinking' must be true, false or an object of soft-thinking parameters",
                  "soft_thinking");
    }
  }
  const bool soft = S.mode != ThinkMode::kOff;
  // sampling: plain decoding's filters; in a soft mode both phases' (after_thinking_* and the
  // soft_thinking object override the answer's / thinking's)
  auto filter = [&](const char* name, auto set) {
    if (!has(name)) return;
    set(P.sampler);
    if (soft) set(S.sampler.thinking), set(S.sampler.after);
  };
  if (has("temperature")) range(num(body["temperature"], "temperature"), 0, 2, "temperature");
  if (has("top_p")) range(num(body["top_p"], "top_p"), 1e-9, 1, "top_p");
  if (has("min_p")) range(num(body["min_p"], "min_p"), 0, 0.999999, "min_p");
  if (has("top_k")) range((double)integer(body["top_k"], "top_k"), 0, 1e9, "top_k");
  filter("temperature", [&](SamplerParams& s) { s.temperature = (float)body["temperature"].get<double>(); });
  filter("top_p", [&](SamplerParams& s) { s.top_p = (float)body["top_p"].get<double>(); });
  filter("min_p", [&](SamplerParams& s) { s.min_p = (float)body["min_p"].get<double>(); });
  filter("top_k", [&](SamplerParams& s) { s.top_k = (int)integer(body["top_k"], "top_k"); });
  // a soft_thinking object's own keys win over the top-level filters: apply them again
  for (const std::string& set : soft_sets) soft_config_set(S, set);

  if (has("n")) {
    const long long n = integer(body["n"], "n");
    range((double)n, 1, mi.max_n, "n");
    r.n = (int)n;
  }
  if (has("best_of") && integer(body["best_of"], "best_of") != r.n)
    bad_request("'best_of' is not supported (only equal to n)", "best_of");
  if ((long long)r.prompts.size() * r.n > mi.max_n)
    bad_request("prompts x n = " + std::to_string(r.prompts.size() * r.n) +
                    " sequences; this server decodes at most " + std::to_string(mi.max_n) +
                    " per request (--max-batch)",
                "n");
  if (has("seed")) {
    const json& s = body["seed"];
    if (!s.is_number_integer()) bad_request("'seed' must be an integer", "seed");
    P.seed = s.is_number_unsigned() ? s.get<uint64_t>() : (uint64_t)s.get<long long>();
  } else {
    P.seed = default_seed;
  }
  if (has("stream")) r.stream = boolean(body["stream"], "stream");
  if (has("stream_options")) {
    const json& so = body["stream_options"];
    if (!so.is_object()) bad_request("'stream_options' must be an object", "stream_options");
    for (auto it = so.begin(); it != so.end(); ++it)
      if (it.key() != "include_usage")
        bad_request("unknown parameter 'stream_options." + it.key() + "'", "stream_options");
    if (so.contains("include_usage"))
      r.include_usage = boolean(so["include_usage"], "stream_options.include_usage");
  }
  if (has("trace")) r.trace = boolean(body["trace"], "trace");
  if (chat) {
    if (has("logprobs") && boolean(body["logprobs"], "logprobs")) r.logprobs = 0;
    if (has("top_logprobs")) {
      const long long k = integer(body["top_logprobs"], "top_logprobs");
      range((double)k, 0, 20, "top_logprobs");
      if (r.logprobs < 0) bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
      r.logprobs = (int)k;
    }
  } else {
    if (has("logprobs")) {
      const long long k = integer(body["logprobs"], "logprobs");
      range((double)k, 0, 20, "logprobs");
      r.logprobs = (int)k;
    }
    if (has("echo")) r.echo = boolean(body["echo"], "echo");
  }
  if (has("stop")) {
    const json& s = body["stop"];
    if (s.is_string()) {
      r.stops.push_back(s);
    } else if (s.is_array() && s.size() <= 4) {
      for (const json& x : s) {
        if (!x.is_string()) bad_request("'stop' must be a string or up to 4 strings", "stop");
        r.stops.push_back(x);
      }
    } else {
      bad_request("'stop' must be a string or up to 4 strings", "stop");
    }
    for (const std::string& x : r.stops)
      if (x.empty()) bad_request("'stop' strings must not be empty", "stop");
  }
  const char* mt = chat && has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  int longest = 0;
  for (const auto& ids : r.prompts) longest = std::max(longest, generate_prompt_positions(P, ids));
  if (longest >= mi.n_ctx)
    bad_request("this model's maximum context length is " + std::to_string(mi.n_ctx) +
                    " tokens, but the prompt is " + std::to_string(longest) +
                    " tokens (at most " + std::to_string(mi.n_ctx - 1) + " leave room to generate)",
                chat ? "messages" : "prompt");
  if (has(mt)) {
    const long long m = integer(body[mt], mt);
    if (m < 0) bad_request(std::string("'") + mt + "' must be >= 0", mt);
    if (longest + m > mi.n_ctx)
      bad_request("this model's maximum context length is " + std::to_string(mi.n_ctx) +
                      " tokens; you requested " + std::to_string(longest + m) + " (" +
                      std::to_string(longest) + " in the prompt, " + std::to_string(m) +
                      " to generate)",
                  mt);
    P.max_new_tokens = (int)m;
  } else {
    P.max_new_tokens = chat ? mi.n_ctx - longest : std::min(16, mi.n_ctx - longest);
  }
  try {
    generate_params_validate(P, mi.vocab_limit);
  } catch (const Error& e) {
    bad_request(e.what());
  }
  return r;
}

// ---- what a choice says ---------------------------------------------------------------

// Length of the longest prefix of s that is whole UTF-8 characters (a streamed delta never
// ends inside a character).
size_t utf8_complete(const std::string& s) {
  size_t n = s.size(), i = n;
  // step back over at most 3 continuation bytes to the last lead byte
  while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
  if (i == 0) return n;
  const unsigned char lead = (unsigned char)s[i - 1];
  const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return (n - (i - 1) >= need) ? n : i - 1;
}

struct ChoiceView {
  std::string thinking;      // thinking text (the tags excluded)
  bool closed = false;       // the thinking ended with </think>
  std::string think_text;    // the thinking part of the completion text (end tag included)
  std::string answer;        // after thinking, up to eos or a stop string
  std::vector<int> tokens;   // the tokens the text covers (eos excluded)
  size_t n_logprobs = 0;     // generated tokens with a logprobs entry: `tokens`, and the eos
                             // that ended the sequence (as OpenAI's and vLLM's logprobs do)
  bool stopped = false;      // a stop string matched
  bool done = false;
  std::string finish_reason;
  size_t held = 0;           // answer bytes held back while a stop string may still match
};

ChoiceView view_of(const SeqProgress& p, const Tokenizer& tok, int eos_id, int open_id,
                   int close_id, const std::vector<std::string>& stops) {
  ChoiceView v;
  const SeqResult& r = p.res;
  // thinking: the steps of the thinking phase, or, in plain decoding, a chain of thought the
  // model writes itself between <think> and </think> before any answer text
  std::vector<int> think_ids, answer_ids;
  bool plain_think = false;
  for (size_t i = 0; i < r.tokens.size(); i++) {
    const int t = r.tokens[i];
    if (t == eos_id) break;
    if (!r.thinking[i] && t == open_id && open_id >= 0 && answer_ids.empty() && !plain_think &&
        think_ids.empty()) {
      plain_think = true;
      think_ids.push_back(t);
    } else if (r.thinking[i] || plain_think) {
      think_ids.push_back(t);
      if (t == close_id) {
        plain_think = false;
        v.closed = true;
      }
    } else {
      answer_ids.push_back(t);
    }
  }
  std::vector<int> think_only;
  for (int t : think_ids)
    if (t != close_id && t != open_id) think_only.push_back(t);
  v.thinking = tokenizer_decode(tok, think_only);
  v.think_text = tokenizer_decode(tok, think_ids);
  // stop strings match in the answer (in plain decoding: everything generated)
  std::vector<size_t> ends;  // byte end of each answer token
  std::string answer;
  for (int t : answer_ids) {
    answer += tokenizer_decode(tok, &t, 1);
    ends.push_back(answer.size());
  }
  size_t cut = std::string::npos;
  for (const std::string& s : stops) {
    const size_t at = answer.find(s);
    if (at != std::string::npos && (cut == std::string::npos || at < cut)) cut = at;
  }
  size_t n_answer_tokens = answer_ids.size();
  if (cut != std::string::npos) {
    size_t match_end = std::string::npos;
    for (const std::string& s : stops) {
      const size_t at = answer.find(s);
      if (at == cut) match_end = std::min(match_end, at + s.size());
    }
    n_answer_tokens = 0;
    while (n_answer_tokens < ends.size() && ends[n_answer_tokens] < match_end) n_answer_tokens++;
    n_answer_tokens = std::min(ends.size(), n_answer_tokens + 1);
    answer.resize(cut);
    v.stopped = true;
  } else if (!p.done) {  // hold back a suffix that may become a stop string
    for (const std::string& s : stops)
      for (size_t k = std::min(s.size() - 1, answer.size()); k > 0; k--)
        if (answer.compare(answer.size() - k, k, s, 0, k) == 0) {
          v.held = std::max(v.held, k);
          break;
        }
  }
  v.answer = answer;
  v.tokens = think_ids;
  v.tokens.insert(v.tokens.end(), answer_ids.begin(), answer_ids.begin() + n_answer_tokens);
  v.n_logprobs = v.tokens.size();
  if (!v.stopped && v.tokens.size() < r.tokens.size() && r.tokens[v.tokens.size()] == eos_id)
    v.n_logprobs++;
  v.done = p.done || v.stopped;
  if (v.stopped)
    v.finish_reason = "stop";
  else if (p.done)
    v.finish_reason = r.stop_reason == "max_new_tokens" || r.stop_reason == "context" ? "length"
                      : r.stop_reason == "non_finite"                                 ? "error"
                      : r.stop_reason == "cancelled"                                  ? "cancelled"
                                                                                       : "stop";
  return v;
}

json logprob_entry(const TokenLogprob& t, const Tokenizer& tok) {
  json top = json::object();
  for (size_t k = 0; k < t.top_ids.size(); k++)
    top[tokenizer_decode(tok, &t.top_ids[k], 1)] = t.top_logprobs[k];
  return top;
}

// Completions' logprobs object over `prompt` (echo: null for the first token) and the
// generated tokens: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
json completion_logprobs(const SeqProgress& p, size_t n_generated, bool echo,
                         const std::vector<int>& prompt, const Tokenizer& tok, size_t offset0) {
  json tokens = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  size_t off = offset0;
  auto add = [&](int id, const TokenLogprob* t) {
    const std::string s = tokenizer_decode(tok, &id, 1);
    tokens.push_back(s);
    lps.push_back(t ? json(t->logprob) : json(nullptr));
    tops.push_back(t && !t->top_ids.empty() ? logprob_entry(*t, tok) : json(nullptr));
    offs.push_back(off);
    off += s.size();
  };
  if (echo)
    for (size_t i = 0; i < prompt.size(); i++)
      add(prompt[i], i == 0 || i - 1 >= p.prompt_logprobs.size() ? nullptr : &p.prompt_logprobs[i - 1]);
  for (size_t i = 0; i < n_generated && i < p.logprobs.size(); i++)
    add(p.res.tokens[i], &p.logprobs[i]);
  return {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

// Chat's logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}.
json chat_logprobs(const SeqProgress& p, size_t from, size_t to, const Tokenizer& tok) {
  json content = json::array();
  for (size_t i = from; i < to && i < p.logprobs.size(); i++) {
    const TokenLogprob& t = p.logprobs[i];
    auto entry = [&](int id, float lp) {
      const std::string s = tokenizer_decode(tok, &id, 1);
      json bytes = json::array();
      for (unsigned char c : s) bytes.push_back((int)c);
      return json{{"token", s}, {"logprob", lp}, {"bytes", bytes}};
    };
    json e = entry(t.token, t.logprob);
    json top = json::array();
    for (size_t k = 0; k < t.top_ids.size(); k++) top.push_back(entry(t.top_ids[k], t.top_logprobs[k]));
    e["top_logprobs"] = top;
    content.push_back(e);
  }
  return {{"content", content}};
}

// ---- metrics --------------------------------------------------------------------------

struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // [bounds + 1]
  double sum = 0;
  uint64_t n = 0;
  explicit Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1) {}
  void add(double x) {
    size_t i = 0;
    while (i < bounds.size() && x > bounds[i]) i++;
    counts[i]++;
    sum += x;
    n++;
  }
  void print(std::string& out, const std::string& name, const std::string& help) const {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds.size(); i++) {
      cum += counts[i];
      char b[64];
      std::snprintf(b, sizeof b, "%g", bounds[i]);
      out += name + "_bucket{le=\"" + b + "\"} " + std::to_string(cum) + "\n";
    }
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(n) + "\n";
    char s[64];
    std::snprintf(s, sizeof s, "%.6f", sum);
    out += name + "_sum " + s + "\n" + name + "_count " + std::to_string(n) + "\n";
  }
};

struct Metrics {
  std::mutex mu;
  std::map<std::pair<std::string, int>, uint64_t> requests;  // (endpoint, status) -> count
  Histogram latency{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  Histogram ttft{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  Histogram batch{{1, 2, 4, 8, 16, 32, 64, 128, 256}};
  void request(const std::string& endpoint, int status) {
    std::lock_guard<std::mutex> lk(mu);
    requests[{endpoint, status}]++;
  }
};

std::string metrics_text(Metrics& m, const EngineStats& s) {
  std::string out;
  std::lock_guard<std::mutex> lk(m.mu);
  out += "# HELP softslm_requests_total HTTP requests by endpoint and status.\n"
         "# TYPE softslm_requests_total counter\n";
  for (const auto& [k, v] : m.requests)
    out += "softslm_requests_total{endpoint=\"" + k.first + "\",status=\"" +
           std::to_string(k.second) + "\"} " + std::to_string(v) + "\n";
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
           " " + std::to_string(v) + "\n";
  };
  auto gauge = [&](const char* name, const char* help, long long v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name +
           " " + std::to_string(v) + "\n";
  };
  counter("softslm_generated_tokens_total", "Tokens generated (thinking included).", s.generated_tokens);
  counter("softslm_prompt_tokens_total", "Prompt tokens prefilled.", s.prompt_tokens);
  counter("softslm_sequences_total", "Sequences decoded (a request with n choices has n).", s.sequences);
  counter("softslm_decode_steps_total", "Batched decode steps.", s.steps);
  gauge("softslm_queue_length", "Requests waiting for decode slots.", s.queue_length);
  gauge("softslm_batch_size", "Sequences in the last decode step.", s.batch_size);
  gauge("softslm_live_requests", "Requests being decoded.", s.live_jobs);
  m.latency.print(out, "softslm_request_latency_seconds", "Time from a request's arrival to its last token.");
  m.ttft.print(out, "softslm_time_to_first_token_seconds", "Time from a request's arrival to its first token.");
  m.batch.print(out, "softslm_request_batch_size", "Sequences decoding when a request was admitted.");
  return out;
}

// ---- the server -----------------------------------------------------------------------

std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) { g_signal = sig; }

struct Server {
  ModelInfo mi;
  Engine engine;
  Metrics metrics;
  std::atomic<uint64_t> next_id{1};
  std::atomic<bool> draining{false};
  std::mt19937_64 seed_rng{std::random_device{}()};
  std::mutex seed_mu;
  long long created = 0;
};

// ---- client disconnects -----------------------------------------------------------------

// The numeric host of a socket address, as cpp-httplib writes Request::remote_addr.
std::string numeric_host(const sockaddr_storage& a, socklen_t n) {
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), n, host, sizeof host, nullptr, 0,
                  NI_NUMERICHOST) != 0)
    return "";
  return host;
}
int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return -1;
}

// The socket a request came on: cpp-httplib 0.11 does not hand it to handlers, so it is the
// open socket whose peer is the request's remote address and port and whose local port is the
// request's. -1 when none is found. The handler's thread holds that connection open, so the
// descriptor stays this connection's while the handler runs.
int connection_socket(const httplib::Request& q) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    const int fd = std::atoi(e->d_name);
    sockaddr_storage a{};
    socklen_t n = sizeof a;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) continue;  // not a socket
    if (port_of(a) != q.remote_port || numeric_host(a, n) != q.remote_addr) continue;
    sockaddr_storage l{};
    socklen_t ln = sizeof l;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&l), &ln) != 0 || port_of(l) != q.local_port)
      continue;
    found = fd;
    break;
  }
  closedir(d);
  return found;
}

// The client closed its end (or the connection broke): nothing will read the response.
bool client_gone(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

std::string new_id(Server& sv, const char* prefix) {
  char b[64];
  std::snprintf(b, sizeof b, "%s-%llu-%llu", prefix, (unsigned long long)sv.created,
                (unsigned long long)sv.next_id++);
  return b;
}

// Waits (bounded) until the job changed or finished; returns its views.
struct JobReader {
  Server& sv;
  std::shared_ptr<Job> job;
  const Request& rq;
  std::vector<ChoiceView> views;
  uint64_t seen = 0;  // the job's version when read
  bool all_done() const {
    for (const ChoiceView& v : views)
      if (!v.done) return false;
    return true;
  }
  // reads the progress (under the job's lock); asks the engine to stop matched sequences
  void read() {
    std::lock_guard<std::mutex> lk(job->mu);
    seen = job->version;
    views.resize(job->out.size());
    for (size_t i = 0; i < job->out.size(); i++) {
      views[i] = view_of(job->out[i], *sv.mi.tok, sv.mi.eos_id, sv.mi.think_open_id,
                         sv.mi.think_close_id, rq.stops);
      if (views[i].stopped && !job->out[i].done) job->out[i].stop_requested = true;
    }
  }
  // until the job changed since read() (or `seconds` passed)
  void wait(double seconds) {
    std::unique_lock<std::mutex> lk(job->mu);
    job->cv.wait_for(lk, std::chrono::duration<double>(seconds),
                     [&] { return job->version != seen; });
  }
};

std::shared_ptr<Job> make_job(const Request& rq) {
  auto job = std::make_shared<Job>();
  job->trace = rq.trace;
  job->watch = rq.stream || !rq.stops.empty();
  for (size_t p = 0; p < rq.prompts.size(); p++)
    for (int j = 0; j < rq.n; j++) {
      DecodeRequest d;
      d.prompt = rq.prompts[p];
      d.params = rq.params;
      d.params.seed = rq.params.seed + (uint64_t)j;  // choice j of a prompt: seed + j
      d.logprobs = rq.logprobs;
      d.prompt_logprobs = rq.echo && rq.logprobs >= 0;
      job->seqs.push_back(std::move(d));
    }
  return job;
}

json usage_json(const Request& rq, const std::vector<ChoiceView>& views) {
  long long prompt = 0, completion = 0;
  for (const auto& p : rq.prompts) prompt += (long long)p.size() * rq.n;
  for (const ChoiceView& v : views) completion += (long long)v.tokens.size();
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

// Our fields on a finished choice: how thinking went.
void thinking_fields(json& c, const ChoiceView& v, const SeqProgress& p, const Request& rq,
                     const Tokenizer& tok) {
  c["thinking"] = v.thinking;
  c["answer"] = v.answer;
  c["think_end"] = !p.res.think_end.empty() ? json(p.res.think_end)
                  : v.closed                  ? json("end_tag")
                                              : json(nullptr);
  c["soft_steps"] = p.res.thinking_steps;
  c["stop_reason"] = v.stopped ? "stop_string" : p.res.stop_reason;
  if (!p.res.error.empty()) c["error"] = p.res.error;
  if (rq.trace) {
    json t = json::array();  // the records of softslm generate --trace; seq: the choice's index
    for (const StepRecord& r : p.trace) {
      json rec = trace_record_json(r, tok);
      rec["seq"] = c["index"];
      t.push_back(std::move(rec));
    }
    c["trace"] = t;
  }
}

json final_response(Server& sv, const Request& rq, JobReader& jr, const std::string& id) {
  json choices = json::array();
  std::lock_guard<std::mutex> lk(jr.job->mu);
  for (size_t i = 0; i < jr.views.size(); i++) {
    const ChoiceView& v = jr.views[i];
    const SeqProgress& p = jr.job->out[i];
    const size_t prompt_i = i / rq.n;
    json c = {{"index", i}, {"finish_reason", v.finish_reason}};
    if (rq.chat) {
      c["message"] = {{"role", "assistant"}, {"content", v.answer}};
      if (!v.think_text.empty()) c["message"]["reasoning_content"] = v.thinking;
      c["logprobs"] = rq.logprobs >= 0 ? chat_logprobs(p, 0, v.n_logprobs, *sv.mi.tok) : json(nullptr);
    } else {
      const std::string echo = rq.echo ? rq.prompt_texts[prompt_i] : "";
      c["text"] = echo + v.think_text + v.answer;
      c["logprobs"] = rq.logprobs >= 0 ? completion_logprobs(p, v.n_logprobs, rq.echo,
                                                             rq.prompts[prompt_i], *sv.mi.tok, 0)
                                       : json(nullptr);
    }
    thinking_fields(c, v, p, rq, *sv.mi.tok);
    choices.push_back(c);
  }
  return {{"id", id},
          {"object", rq.chat ? "chat.completion" : "text_completion"},
          {"created", sv.created},
          {"model", sv.mi.name},
          {"choices", choices},
          {"usage", usage_json(rq, jr.views)}};
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(error_json(e)) + "\n", "application/json");
}

// Runs a handler's body; an error it throws becomes the response (OpenAI's shape; softslm's
// own errors are 400s) and is counted for the endpoint.
template <class F>
void answer_errors(Server& sv, httplib::Response& res, const std::string& endpoint, F&& body) {
  try {
    body();
  } catch (const ApiError& e) {
    send_error(res, e);
    sv.metrics.request(endpoint, e.status);
  } catch (const Error& e) {
    send_error(res, ApiError{400, "invalid_request_error", e.what(), ""});
    sv.metrics.request(endpoint, 400);
  }
}

void handle_generate(Server& sv, const httplib::Request& req, httplib::Response& res, bool chat) {
  const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  const double t0 = engine_now();
  answer_errors(sv, res, endpoint, [&] {
    if (sv.draining) throw ApiError{503, "server_error", "the server is shutting down", ""};
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      bad_request("malformed JSON in the request body (" + library_message(e) + ")");
    }
    uint64_t seed;
    {
      std::lock_guard<std::mutex> lk(sv.seed_mu);
      seed = sv.seed_rng() >> 1;
    }
    auto rq = std::make_shared<Request>(parse_request(body, chat, sv.mi, seed));
    auto job = make_job(*rq);
    {
      std::lock_guard<std::mutex> lk(sv.metrics.mu);
      sv.metrics.batch.add(sv.engine.stats.batch_size);
    }
    if (!engine_submit(sv.engine, job))
      throw sv.draining ? ApiError{503, "server_error", "the server is shutting down", ""}
                        : ApiError{429, "rate_limit_error",
                                   "the queue is full (" + std::to_string(sv.engine.max_queue) +
                                       " requests waiting); retry later",
                                   ""};
    const std::string id = new_id(sv, chat ? "chatcmpl" : "cmpl");
    auto finish_metrics = [&sv, job, t0, endpoint](int status) {
      sv.metrics.request(endpoint, status);
      std::lock_guard<std::mutex> lk(sv.metrics.mu);
      sv.metrics.latency.add(engine_now() - t0);
      if (job->t_first_token > 0) sv.metrics.ttft.add(job->t_first_token - job->t_submit);
    };
    if (!rq->stream) {
      // a client that hangs up while its answer is computed frees its slots (checked twice a
      // second: non-streaming jobs are not woken per step)
      JobReader jr{sv, job, *rq, {}};
      const int sock = connection_socket(req);
      for (;;) {
        jr.read();
        if (jr.all_done()) break;
        if (client_gone(sock)) {
          engine_cancel(sv.engine, job);
          finish_metrics(499);  // nginx's "client closed request"
          return;
        }
        jr.wait(0.5);
      }
      if (!job->error.empty()) bad_request(job->error);
      res.set_content(dump(final_response(sv, *rq, jr, id)) + "\n", "application/json");
      finish_metrics(200);
      return;
    }
    // streaming: server-sent events, one chunk per choice and step that changed its text
    struct StreamState {
      std::vector<size_t> sent_think, sent_answer, sent_tokens;
      std::vector<bool> finished, started;
      bool done = false;
    };
    auto st = std::make_shared<StreamState>();
    const size_t n_choices = job->seqs.size();
    st->sent_think.assign(n_choices, 0);
    st->sent_answer.assign(n_choices, 0);
    st->sent_tokens.assign(n_choices, 0);
    st->finished.assign(n_choices, false);
    st->started.assign(n_choices, false);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [&sv, rq, job, st, id, n_choices, finish_metrics](size_t, httplib::DataSink& sink) -> bool {
          JobReader jr{sv, job, *rq, {}};
          jr.read();
          std::string out;
          auto event = [&](const json& j) { out += "data: " + dump(j) + "\n\n"; };
          auto chunk = [&](json choice) {
            return json{{"id", id},
                        {"object", rq->chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", sv.created},
                        {"model", sv.mi.name},
                        {"choices", json::array({std::move(choice)})}};
          };
          for (size_t i = 0; i < n_choices; i++) {
            if (st->finished[i]) continue;
            const ChoiceView& v = jr.views[i];
            // whole characters only; hold back what a stop string may still claim. Chat
            // streams the thinking (end tag excluded) as reasoning_content, completions the
            // text as it comes (end tag included)
            const std::string& think_src = rq->chat ? v.thinking : v.think_text;
            const std::string think = think_src.substr(0, utf8_complete(think_src));
            std::string ans = v.answer.substr(0, v.answer.size() - (v.done ? 0 : v.held));
            ans.resize(utf8_complete(ans));
            std::string d_think, d_answer;
            if (think.size() > st->sent_think[i]) d_think = think.substr(st->sent_think[i]);
            if (ans.size() > st->sent_answer[i]) d_answer = ans.substr(st->sent_answer[i]);
            st->sent_think[i] = std::max(st->sent_think[i], think.size());
            st->sent_answer[i] = std::max(st->sent_answer[i], ans.size());
            const size_t prompt_i = i / rq->n;
            json c = {{"index", i}};
            bool any = false;
            if (rq->chat) {
              json delta = json::object();
              if (!st->started[i]) delta["role"] = "assistant";
              if (!d_think.empty()) delta["reasoning_content"] = d_think;
              if (!d_answer.empty()) delta["content"] = d_answer;
              any = !d_think.empty() || !d_answer.empty() || !st->started[i];
              c["delta"] = delta;
              c["logprobs"] = nullptr;
              if (rq->logprobs >= 0) {
                std::lock_guard<std::mutex> lk(job->mu);
                const size_t to = std::min(v.n_logprobs, job->out[i].logprobs.size());
                if (to > st->sent_tokens[i]) {
                  c["logprobs"] = chat_logprobs(job->out[i], st->sent_tokens[i], to, *sv.mi.tok);
                  st->sent_tokens[i] = to;
                  any = true;
                }
              }
            } else {
              std::string text = d_think + d_answer;
              if (!st->started[i] && rq->echo) text = rq->prompt_texts[prompt_i] + text;
              c["text"] = text;
              c["logprobs"] = nullptr;
              any = !text.empty();
            }
            st->started[i] = true;
            c["finish_reason"] = nullptr;
            if (v.done) {
              c["finish_reason"] = v.finish_reason;
              std::lock_guard<std::mutex> lk(job->mu);
              thinking_fields(c, v, job->out[i], *rq, *sv.mi.tok);
              if (!rq->chat && rq->logprobs >= 0)
                c["logprobs"] = completion_logprobs(job->out[i], v.n_logprobs, rq->echo,
                                                    rq->prompts[prompt_i], *sv.mi.tok, 0);
              st->finished[i] = true;
              any = true;
            }
            if (any) event(chunk(c));
          }
          const bool all = jr.all_done();
          if (all) {
            if (rq->include_usage) {
              json u = chunk(json());
              u["choices"] = json::array();
              u["usage"] = usage_json(*rq, jr.views);
              event(u);
            }
            out += "data: [DONE]\n\n";
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            engine_cancel(sv.engine, job);  // the client went away: free its slots
            return false;
          }
          if (all) {
            if (!st->done) finish_metrics(200);
            st->done = true;
            sink.done();
            return true;
          }
          jr.wait(1.0);
          return true;
        },
        [&sv, job, st](bool success) {
          if (!success || !st->done) engine_cancel(sv.engine, job);
        });
  });
}

// ---- tokenizer endpoints (vLLM's shape; lm-evaluation-harness's remote tokenizer) --------

// The chat template above as Jinja (for clients that render it themselves).
std::string chat_template_jinja(const ModelInfo& mi) {
  const std::string eos = mi.eos_id >= 0 ? tokenizer_decode(*mi.tok, &mi.eos_id, 1) : "";
  return "{% for m in messages %}{{ m['content'] }}"
         "{% if m['role'] in ['system', 'developer'] %}{{ '\\n' }}"
         "{% elif m['role'] == 'assistant' %}{{ '" + eos + "' }}{% endif %}{% endfor %}";
}

// Parses a JSON object body with only `allowed` keys; checks "model".
json object_body(const httplib::Request& req, const std::set<std::string>& allowed,
                 const ModelInfo& mi) {
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    bad_request("malformed JSON in the request body (" + library_message(e) + ")");
  }
  if (!body.is_object()) bad_request("the request body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it)
    if (!allowed.count(it.key())) bad_request("unknown parameter '" + it.key() + "'", it.key());
  check_model(body, mi);
  return body;
}

// POST /tokenize {"prompt": "..."} or {"messages": [...]} (the chat template applied)
//   -> {"count", "max_model_len", "tokens"[, "token_strs"]}.
// add_special_tokens is accepted and changes nothing: GPT-2 adds no BOS; special tokens written
// in the text (<|endoftext|>, <think>) are always their ids, as in the completions endpoints.
json tokenize_response(const json& body, const ModelInfo& mi) {
  const bool has_prompt = body.contains("prompt"), has_messages = body.contains("messages");
  if (has_prompt == has_messages) bad_request("give exactly one of 'prompt' and 'messages'");
  std::string text;
  if (has_prompt) {
    if (!body["prompt"].is_string()) bad_request("'prompt' must be a string", "prompt");
    text = body["prompt"];
  } else {
    text = chat_prompt(body["messages"], mi);
  }
  for (const char* k : {"add_special_tokens", "add_generation_prompt", "return_token_strs"})
    if (body.contains(k)) boolean(body[k], k);
  std::vector<int> ids = tokenizer_encode(*mi.tok, text, /*allow_special=*/true);
  json out = {{"count", ids.size()}, {"max_model_len", mi.n_ctx}, {"tokens", ids}};
  if (body.value("return_token_strs", false)) {
    json strs = json::array();
    for (int id : ids) strs.push_back(tokenizer_decode(*mi.tok, &id, 1));
    out["token_strs"] = strs;
  }
  return out;
}

// POST /detokenize {"tokens": [ids]} -> {"prompt": "..."}.
json detokenize_response(const json& body, const ModelInfo& mi) {
  if (!body.contains("tokens") || !body["tokens"].is_array())
    bad_request("'tokens' (an array of token ids) is required", "tokens");
  std::vector<int> ids;
  for (const json& t : body["tokens"]) {
    if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() >= mi.vocab_limit)
      bad_request("'tokens' must be integers in [0, " + std::to_string(mi.vocab_limit) + ") (got " +
                      dump(t) + ")",
                  "tokens");
    ids.push_back(t.get<int>());
  }
  return {{"prompt", tokenizer_decode(*mi.tok, ids.data(), ids.size())}};
}

// GET /tokenizer_info: what a client needs to tokenize as the server does.
json tokenizer_info(const ModelInfo& mi) {
  const std::string eos = mi.eos_id >= 0 ? tokenizer_decode(*mi.tok, &mi.eos_id, 1) : "";
  return {{"tokenizer_class", "GPT2TokenizerFast"},
          {"eos_token", mi.eos_id >= 0 ? json(eos) : json(nullptr)},
          {"bos_token", mi.eos_id >= 0 ? json(eos) : json(nullptr)},
          {"pad_token", nullptr},
          {"unk_token", nullptr},
          {"add_bos_token", false},
          {"model_max_length", mi.n_ctx},
          {"vocab_size", mi.vocab_limit},
          {"chat_template", chat_template_jinja(mi)}};
}

// Runs a JSON endpoint: 200 with f(body), or the error in OpenAI's shape.
void handle_json(Server& sv, const httplib::Request& req, httplib::Response& res,
                 const char* endpoint, const std::set<std::string>& allowed,
                 json (*f)(const json&, const ModelInfo&)) {
  answer_errors(sv, res, endpoint, [&] {
    json out = f(object_body(req, allowed, sv.mi), sv.mi);
    res.set_content(dump(out) + "\n", "application/json");
    sv.metrics.request(endpoint, 200);
  });
}

}  // namespace

void serve(ServedModel m, const ServeOptions& o, const std::function<void(int)>& on_listening) {
  check(o.max_batch >= 1 && o.max_batch <= 1024, "--max-batch must be in [1, 1024] (got ", o.max_batch, ")");
  check(o.max_queue >= 0, "--max-queue must be >= 0 (got ", o.max_queue, ")");
  check(o.http_threads >= 0, "--http-threads must be >= 0 (got ", o.http_threads, ")");
  check(o.port >= 0 && o.port <= 65535, "--port must be in [0, 65535] (got ", o.port, ")");
  Server sv;
  sv.created = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  auto tok = std::make_shared<Tokenizer>(std::move(m.tok));
  sv.mi.tok = tok.get();
  sv.mi.eos_id = m.eos_id;
  sv.mi.think_open_id = tokenizer_special_id(*tok, "<think>");
  sv.mi.think_close_id = tokenizer_special_id(*tok, "</think>");
  sv.mi.vocab_limit = tokenizer_vocab_size(*tok);
  sv.mi.n_ctx = m.model.cfg.n_ctx;
  sv.mi.max_n = o.max_batch;
  sv.mi.name = o.model_name;
  sv.mi.trained = m.trained;
  sv.mi.has_trained = m.has_trained;
  sv.mi.dtype = o.dtype;
  if (const char* ms = std::getenv("SOFTSLM_TEST_STEP_SLEEP_MS")) sv.engine.test_step_sleep_ms = std::atoi(ms);
  engine_start(sv.engine, inference_weights_create(std::move(m.model), o.dtype), o.max_batch,
               o.max_queue);

  httplib::Server http;
  const int threads = o.http_threads > 0 ? o.http_threads : o.max_batch + o.max_queue + 8;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(o.max_body);
  int listen_sock = -1;
  http.set_socket_options([&listen_sock](int sock) {
    int yes = 1;  // SO_REUSEADDR only: a second server on a port in use must fail, not share
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // it (SO_REUSEPORT)
    listen_sock = sock;
  });
  http.set_keep_alive_timeout(2);
  http.set_tcp_nodelay(true);  // a response's header and body go out at once (no Nagle delay)
  http.Post("/v1/completions", [&](const httplib::Request& q, httplib::Response& r) {
    handle_generate(sv, q, r, false);
  });
  http.Post("/v1/chat/completions", [&](const httplib::Request& q, httplib::Response& r) {
    handle_generate(sv, q, r, true);
  });
  http.Get("/v1/models", [&](const httplib::Request&, httplib::Response& r) {
    json model = {{"id", sv.mi.name}, {"object", "model"}, {"created", sv.created},
                  {"owned_by", "softslm"}, {"max_model_len", sv.mi.n_ctx},
                  {"decoding", think_mode_name(sv.mi.has_trained ? sv.mi.trained.mode : ThinkMode::kOff)}};
    r.set_content(dump({{"object", "list"}, {"data", json::array({model})}}) + "\n", "application/json");
    sv.metrics.request("/v1/models", 200);
  });
  http.Post("/tokenize", [&](const httplib::Request& q, httplib::Response& r) {
    handle_json(sv, q, r, "/tokenize",
                {"model", "prompt", "messages", "add_special_tokens", "add_generation_prompt",
                 "return_token_strs"},
                tokenize_response);
  });
  http.Post("/detokenize", [&](const httplib::Request& q, httplib::Response& r) {
    handle_json(sv, q, r, "/detokenize", {"model", "tokens"}, detokenize_response);
  });
  http.Get("/tokenizer_info", [&](const httplib::Request&, httplib::Response& r) {
    r.set_content(dump(tokenizer_info(sv.mi)) + "\n", "application/json");
    sv.metrics.request("/tokenizer_info", 200);
  });
  http.Get("/health", [&](const httplib::Request&, httplib::Response& r) {
    r.status = sv.draining ? 503 : 200;
    r.set_content(sv.draining ? "{\"status\":\"shutting down\"}\n" : "{\"status\":\"ok\"}\n",
                  "application/json");
  });
  http.Get("/metrics", [&](const httplib::Request&, httplib::Response& r) {
    r.set_content(metrics_text(sv.metrics, sv.engine.stats), "text/plain; version=0.0.4");
  });
  http.set_error_handler([&](const httplib::Request& q, httplib::Response& r) {
    if (!r.body.empty()) return;
    ApiError e{r.status, "invalid_request_error", "", ""};
    if (r.status == 404)
      e.message = "no route " + q.method + " " + q.path +
                  " (POST /v1/completions, POST /v1/chat/completions, GET /v1/models, POST "
                  "/tokenize, POST /detokenize, GET /tokenizer_info, GET /health, GET /metrics)";
    else if (r.status == 413)
      e.message = "the request body is larger than " + std::to_string(o.max_body) +
                  " bytes (--max-body)";
    else if (r.status == 405)
      e.message = "method " + q.method + " not allowed on " + q.path;
    else
      e.message = "HTTP " + std::to_string(r.status);
    r.set_content(dump(error_json(e)) + "\n", "application/json");
    sv.metrics.request(q.path, r.status);
  });

  const int port = o.port == 0 ? http.bind_to_any_port(o.host) : (http.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    engine_stop(sv.engine);
    fail("cannot listen on ", o.host, ":", o.port, " (in use, or not an address of this machine)");
  }
  // cpp-httplib listens with a backlog of 5: a burst of clients would overflow it (their
  // connections dropped and retried a second later, or lost); listen again with room
  if (listen_sock >= 0) ::listen(listen_sock, SOMAXCONN);
  std::signal(SIGPIPE, SIG_IGN);
  g_signal = 0;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::thread watcher([&] {
    while (g_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sv.draining = true;        // new requests: 503
    engine_stop(sv.engine);    // the ones in flight and queued finish
    // give the handlers a moment to write their last chunks, then close
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    http.stop();
  });
  if (on_listening) on_listening(port);
  http.listen_after_bind();
  if (g_signal == 0) g_signal = SIGTERM;  // listen failed: stop the watcher
  watcher.join();
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
}

}  // namespace softslm
