// softslm serve, run as a user would (the real binary on a loopback port, models/cot), driven
// by an HTTP client: answers equal `softslm generate` and `softslm score`; the same requests
// alone and under concurrent load give identical outputs; malformed requests, a full queue
// and clients that hang up mid-stream get their errors while every well-formed request is
// answered; SIGTERM lets the requests in flight finish.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace softslm::testing;
using nlohmann::json;

namespace {

const std::string kModel = std::string(SOFTSLM_SOURCE_DIR) + "/models/cot";

// The server as a child process; its port is read from the first line it prints.
struct ServerProcess {
  pid_t pid = -1;
  int port = 0;
  FILE* out = nullptr;
  explicit ServerProcess(const std::string& args) {
    int fd[2];
    if (pipe(fd) != 0) return;
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that aborts leaves no server behind
      dup2(fd[1], 1);
      close(fd[0]);
      close(fd[1]);
      execl("/bin/sh", "sh", "-c",
            (std::string("exec ") + SOFTSLM_BINARY + " serve -m " + kModel + " --port 0 " + args +
             " 2>/dev/null")
                .c_str(),
            (char*)nullptr);
      _exit(127);
    }
    close(fd[1]);
    out = fdopen(fd[0], "r");
    char line[256];
    if (out && fgets(line, sizeof line, out)) {
      const char* colon = strrchr(line, ':');
      if (colon) port = atoi(colon + 1);
    }
  }
  // SIGTERM, then the exit code (or -1 when it did not exit normally)
  int stop() {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    if (out) fclose(out), out = nullptr;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  ~ServerProcess() { stop(); }
};

struct Reply {
  int status = -1;
  json body;
  std::string raw;
};

Reply post(int port, const std::string& path, const std::string& body) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  Reply r;
  auto res = c.Post(path.c_str(), body, "application/json");
  if (!res) {
    r.raw = "no response: " + httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.raw = res->body;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}
Reply post(int port, const std::string& path, const json& body) { return post(port, path, body.dump()); }

Reply get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  Reply r;
  auto res = c.Get(path.c_str());
  if (!res) return r;
  r.status = res->status;
  r.raw = res->body;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

// The events of a streamed response: each "data: {...}" parsed; done = "[DONE]" was last.
struct Stream {
  std::vector<json> events;
  bool done = false;
  int status = -1;
};
Stream post_stream(int port, const std::string& path, json body) {
  body["stream"] = true;
  Reply r = post(port, path, body.dump());
  Stream s;
  s.status = r.status;
  size_t at = 0;
  while ((at = r.raw.find("data: ", at)) != std::string::npos) {
    const size_t end = r.raw.find("\n\n", at);
    const std::string d = r.raw.substr(at + 6, end - at - 6);
    if (d == "[DONE]")
      s.done = true;
    else
      s.events.push_back(json::parse(d, nullptr, false));
    at = end;
  }
  return s;
}

void expect_error(const Reply& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.raw;
  ASSERT_TRUE(r.body.is_object() && r.body.contains("error")) << r.raw;
  EXPECT_TRUE(r.body["error"]["message"].is_string());
  EXPECT_TRUE(r.body["error"]["type"].is_string());
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find(needle), std::string::npos)
      << "missing '" << needle << "' in " << r.raw;
}

// A varied set of requests: plain greedy and sampled, soft thinking (greedy, sampled, with
// Gumbel and Dirichlet noise, a budget), n = 2, chat.
std::vector<std::pair<std::string, json>> varied_requests() {
  std::vector<std::pair<std::string, json>> v;
  const char* prompts[] = {"4528+734=", "12*34=", "7+2=", "305*7=", "98765+4321=", "56*78="};
  for (int i = 0; i < 6; i++) {
    json b = {{"prompt", prompts[i]}, {"max_tokens", 120}, {"seed", 100 + i}};
    switch (i) {
      case 0: b["temperature"] = 0; break;
      case 1: b["temperature"] = 1.0; break;
      case 2: b["soft_thinking"] = true; b["temperature"] = 0; break;
      case 3: b["soft_thinking"] = {{"gumbel_softmax_temperature", 0.5}}; break;
      case 4: b["soft_thinking"] = {{"dirichlet_alpha", 1.0}, {"max_topk", 5}}; b["n"] = 2; break;
      case 5: b["soft_thinking"] = {{"max_thinking_tokens", 10}}; break;
    }
    v.push_back({"/v1/completions", b});
  }
  v.push_back({"/v1/chat/completions",
               {{"messages", {{{"role", "user"}, {"content", "41*23="}}}}, {"seed", 7},
                {"soft_thinking", true}}});
  return v;
}

// What a response says, without its ids and timestamps.
json essence(const json& body) {
  json e = json::array();
  for (const json& c : body["choices"]) {
    json x = c;
    e.push_back(x);
  }
  return e;
}

TEST(Server, CompletionsEqualGenerate) {
  ServerProcess sv("--max-batch 8");
  ASSERT_GT(sv.port, 0);
  for (const char* extra : {"--temperature 0", "--soft-thinking --seed 5"}) {
    RunResult g = run_cli("generate -m " + kModel + " --prompt '305*7=' --json -n 120 " + extra);
    ASSERT_EQ(g.exit_code, 0) << g.out;
    json gj = json::parse(g.out.substr(0, g.out.rfind('}') + 1));
    json b = {{"prompt", "305*7="}, {"max_tokens", 120}};
    if (std::string(extra).find("soft") != std::string::npos)
      b["soft_thinking"] = true, b["seed"] = 5;
    else
      b["temperature"] = 0;
    Reply r = post(sv.port, "/v1/completions", b);
    ASSERT_EQ(r.status, 200) << r.raw;
    const json& c = r.body["choices"][0];
    EXPECT_EQ(c["text"], gj["text"]) << extra;
    EXPECT_EQ(c["soft_steps"], gj["thinking_steps"]) << extra;
    if (b.contains("soft_thinking")) {  // plain decoding: the server splits the written chain
      EXPECT_EQ(c["thinking"], gj["thinking"]) << extra;
      EXPECT_EQ(c["answer"], gj["answer"]) << extra;
    } else {
      EXPECT_EQ("<think>" + c["thinking"].get<std::string>() + "</think>" +
                    c["answer"].get<std::string>(),
                gj["text"]);
    }
    EXPECT_EQ(r.body["usage"]["completion_tokens"].get<int>() + 1, gj["n_generated"].get<int>())
        << "completion tokens exclude the end of text";
    EXPECT_EQ(c["finish_reason"], "stop");
  }
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, ConcurrentRequestsGiveTheSameOutputsAsAlone) {
  ServerProcess sv("--max-batch 6 --max-queue 32");
  ASSERT_GT(sv.port, 0);
  auto reqs = varied_requests();
  std::vector<json> alone;
  for (auto& [path, b] : reqs) {
    Reply r = post(sv.port, path, b);
    ASSERT_EQ(r.status, 200) << r.raw;
    alone.push_back(essence(r.body));
  }
  // all at once, three times over (more sequences than slots: some wait in the queue)
  std::vector<json> together(reqs.size() * 3);
  std::vector<std::thread> th;
  for (size_t k = 0; k < together.size(); k++)
    th.emplace_back([&, k] {
      Reply r = post(sv.port, reqs[k % reqs.size()].first, reqs[k % reqs.size()].second);
      together[k] = r.status == 200 ? essence(r.body) : json(r.raw);
    });
  for (auto& t : th) t.join();
  for (size_t k = 0; k < together.size(); k++)
    EXPECT_EQ(together[k], alone[k % reqs.size()]) << "request " << k % reqs.size();
  // the soft requests did think softly, and n = 2 gave two choices from different seeds
  EXPECT_GT(alone[2][0]["soft_steps"].get<int>(), 0);
  EXPECT_EQ(alone[4].size(), 2u);
  EXPECT_EQ(alone[5][0]["think_end"], "budget");
  EXPECT_LE(alone[5][0]["soft_steps"].get<int>(), 10);
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, StreamingDeltasAddUpToTheResponse) {
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  json b = {{"prompt", "4528+734="}, {"max_tokens", 100}, {"soft_thinking", true}, {"seed", 3},
            {"stream_options", {{"include_usage", true}}}};
  Reply whole = post(sv.port, "/v1/completions", b);
  ASSERT_EQ(whole.status, 200);
  Stream s = post_stream(sv.port, "/v1/completions", b);
  EXPECT_TRUE(s.done);
  std::string text;
  json last;
  for (const json& e : s.events)
    if (!e["choices"].empty()) text += e["choices"][0]["text"].get<std::string>(), last = e;
  EXPECT_EQ(text, whole.body["choices"][0]["text"]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(last["choices"][0]["soft_steps"], whole.body["choices"][0]["soft_steps"]);
  EXPECT_EQ(s.events.back()["usage"], whole.body["usage"]);

  json chat = {{"messages", {{{"role", "user"}, {"content", "12*34="}}}}, {"temperature", 0}};
  Reply cw = post(sv.port, "/v1/chat/completions", chat);
  ASSERT_EQ(cw.status, 200) << cw.raw;
  const json& msg = cw.body["choices"][0]["message"];
  EXPECT_EQ(msg["content"], "408");  // 12 * 34, the chain of thought in reasoning_content
  EXPECT_FALSE(msg["reasoning_content"].get<std::string>().empty());
  Stream cs = post_stream(sv.port, "/v1/chat/completions", chat);
  std::string content, reasoning;
  for (const json& e : cs.events) {
    const json& d = e["choices"][0]["delta"];
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
  }
  EXPECT_TRUE(cs.done);
  EXPECT_EQ(content, msg["content"]);
  EXPECT_EQ(reasoning, msg["reasoning_content"]);
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, StopStringsEndTheAnswer) {
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  // 5262 is the answer of 4528+734=: stop at "6" leaves "52"
  json b = {{"prompt", "4528+734="}, {"max_tokens", 100}, {"temperature", 0}, {"stop", {"6", "xyz"}}};
  Reply r = post(sv.port, "/v1/completions", b);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["choices"][0]["answer"], "52");
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r.body["choices"][0]["stop_reason"], "stop_string");
  Stream s = post_stream(sv.port, "/v1/completions", b);
  std::string text;
  for (const json& e : s.events) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, r.body["choices"][0]["text"]);
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, EchoLogprobsEqualScore) {
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  const std::string text = "12*34=<think>";
  RunResult sc = run_cli("score -m " + kModel + " --no-bos --text '" + text + "'");
  ASSERT_EQ(sc.exit_code, 0) << sc.out;
  json sj = json::parse(sc.out);
  Reply r = post(sv.port, "/v1/completions",
                 json{{"prompt", text}, {"max_tokens", 0}, {"echo", true}, {"logprobs", 2}});
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& lp = r.body["choices"][0]["logprobs"];
  EXPECT_EQ(r.body["choices"][0]["text"], text);
  ASSERT_EQ(lp["token_logprobs"].size(), sj["tokens"].size() + 1);
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  for (size_t i = 0; i < sj["tokens"].size(); i++) {
    EXPECT_NEAR(lp["token_logprobs"][i + 1].get<double>(), sj["tokens"][i]["logprob"].get<double>(), 1e-4);
    EXPECT_EQ(lp["tokens"][i + 1], sj["tokens"][i]["text"]);
    EXPECT_EQ(lp["top_logprobs"][i + 1].size(), 2u);
  }
  // generated tokens' logprobs: greedy picks the most probable one
  Reply g = post(sv.port, "/v1/completions",
                 json{{"prompt", "7+2="}, {"max_tokens", 5}, {"temperature", 0}, {"logprobs", 1}});
  ASSERT_EQ(g.status, 200) << g.raw;
  const json& gl = g.body["choices"][0]["logprobs"];
  ASSERT_EQ(gl["tokens"].size(), 5u);
  for (size_t i = 0; i < 5; i++)
    EXPECT_NEAR(gl["token_logprobs"][i].get<double>(),
                gl["top_logprobs"][i].begin().value().get<double>(), 1e-6);
  // a sequence that ends on <|endoftext|>: its log-probability is the last entry (as OpenAI's and
  // vLLM's; lm-evaluation-harness drops the last entry of echo + max_tokens 1), its text is not
  // in the completion
  Reply e = post(sv.port, "/v1/completions",
                 json{{"prompt", "7+2="}, {"max_tokens", 100}, {"temperature", 0}, {"logprobs", 0}});
  ASSERT_EQ(e.status, 200) << e.raw;
  const json& el = e.body["choices"][0]["logprobs"];
  EXPECT_EQ(e.body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(el["tokens"].back(), "<|endoftext|>");
  EXPECT_EQ(el["tokens"].size(), e.body["usage"]["completion_tokens"].get<size_t>() + 1);
  EXPECT_EQ(e.body["choices"][0]["text"].get<std::string>().find("<|endoftext|>"), std::string::npos);
  EXPECT_EQ(sv.stop(), 0);
}

// vLLM's tokenizer endpoints (what lm-evaluation-harness's remote tokenizer uses): /tokenize
// gives the model's own ids, /detokenize inverts it, /tokenizer_info names the specials; the
// chat form tokenizes what chat completions would.
TEST(Server, TokenizerEndpointsAreTheModelsTokenizer) {
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  softslm::Tokenizer tok = softslm::tokenizer_load(kModel);
  for (std::string text : {"4528+734=<think>8+4=12 c1</think>5262<|endoftext|>", "", " a\nb ",
                           "\xc3\xa9t\xc3\xa9 12*34"}) {
    Reply r = post(sv.port, "/tokenize", json{{"prompt", text}, {"add_special_tokens", false}});
    ASSERT_EQ(r.status, 200) << r.raw;
    std::vector<int> want = softslm::tokenizer_encode(tok, text, true);
    EXPECT_EQ(r.body["tokens"].get<std::vector<int>>(), want) << text;
    EXPECT_EQ(r.body["count"], want.size());
    EXPECT_EQ(r.body["max_model_len"], 256);
    Reply d = post(sv.port, "/detokenize", json{{"tokens", want}});
    ASSERT_EQ(d.status, 200) << d.raw;
    EXPECT_EQ(d.body["prompt"], text);
  }
  Reply info = get(sv.port, "/tokenizer_info");
  ASSERT_EQ(info.status, 200) << info.raw;
  EXPECT_EQ(info.body["eos_token"], "<|endoftext|>");
  EXPECT_EQ(info.body["model_max_length"], 256);
  EXPECT_NE(info.body["chat_template"].get<std::string>().find("messages"), std::string::npos);
  // messages: the chat template's prompt, the one chat completions decodes from
  json msgs = json::array({{{"role", "system"}, {"content", "add"}}, {{"role", "user"}, {"content", "1+2="}}});
  Reply c = post(sv.port, "/tokenize", json{{"messages", msgs}, {"return_token_strs", true}});
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body["tokens"].get<std::vector<int>>(), softslm::tokenizer_encode(tok, "add\n1+2=", true));
  EXPECT_EQ(c.body["token_strs"].size(), c.body["tokens"].size());
  EXPECT_EQ(c.body["token_strs"].back(), "=");
  Reply chat = post(sv.port, "/v1/chat/completions",
                    json{{"messages", msgs}, {"max_tokens", 1}, {"temperature", 0}});
  ASSERT_EQ(chat.status, 200) << chat.raw;
  EXPECT_EQ(chat.body["usage"]["prompt_tokens"], c.body["count"]);
  // errors in OpenAI's shape
  expect_error(post(sv.port, "/tokenize", std::string("{\"prompt\": 5}")), 400, "'prompt' must be a string");
  expect_error(post(sv.port, "/tokenize", std::string("{}")), 400, "exactly one of 'prompt' and 'messages'");
  expect_error(post(sv.port, "/tokenize", std::string("{\"prompt\": \"a\", \"model\": \"x\"}")), 404, "'x' not found");
  expect_error(post(sv.port, "/tokenize", std::string("{\"prompt\": \"a\", \"extra\": 1}")), 400, "unknown parameter 'extra'");
  expect_error(post(sv.port, "/tokenize", std::string("[1")), 400, "malformed JSON");
  expect_error(post(sv.port, "/detokenize", std::string("{\"tokens\": [1, 259]}")), 400, "[0, 259)");
  expect_error(post(sv.port, "/detokenize", std::string("{\"tokens\": \"ab\"}")), 400, "'tokens'");
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, TraceCarriesEveryStepAndItsConcept) {
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  Reply r = post(sv.port, "/v1/completions",
                 json{{"prompt", "56*78="}, {"max_tokens", 150}, {"seed", 2}, {"trace", true},
                      {"soft_thinking", {{"max_topk", 3}}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& c = r.body["choices"][0];
  const json& t = c["trace"];
  ASSERT_TRUE(t.is_array());
  // one record per generated token (the end of text included), steps in order
  EXPECT_EQ(t.size(), r.body["usage"]["completion_tokens"].get<size_t>() + 1);
  int soft = 0;
  for (size_t i = 0; i < t.size(); i++) {
    EXPECT_EQ(t[i]["step"], i);
    EXPECT_EQ(t[i]["seq"], 0);
    soft += t[i]["soft"].get<bool>();
    double sum = 0;
    for (const json& w : t[i]["concept"]["weights"]) sum += w.get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_LE(t[i]["concept"]["ids"].size(), 3u);
  }
  EXPECT_EQ(soft, c["soft_steps"].get<int>());
  EXPECT_GT(soft, 0);
  // the records are softslm generate --trace's, for the same request
  const std::string file = ::testing::TempDir() + "/server_trace.jsonl";
  RunResult g = run_cli("generate -m " + kModel + " --prompt '56*78=' --max-new-tokens 150 "
                        "--seed 2 --soft-thinking --set max_topk=3 --trace " + file);
  ASSERT_EQ(g.exit_code, 0) << g.out;
  std::vector<json> cli;
  {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) cli.push_back(json::parse(line));
  }
  ASSERT_EQ(cli.size(), t.size());
  for (size_t i = 0; i < t.size(); i++) EXPECT_EQ(cli[i], t[i]) << i;
  // without trace: no trace field
  Reply plain = post(sv.port, "/v1/completions", json{{"prompt", "7+2="}, {"max_tokens", 40}});
  EXPECT_FALSE(plain.body["choices"][0].contains("trace"));
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, BadRequestsGetOpenAIErrors) {
  ServerProcess sv("--max-body-kb 4");
  ASSERT_GT(sv.port, 0);
  const std::string c = "/v1/completions";
  expect_error(post(sv.port, c, std::string("{\"prompt\": ")), 400, "malformed JSON");
  expect_error(post(sv.port, c, std::string("[1, 2]")), 400, "JSON object");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"bogus", 1}}), 400, "unknown parameter 'bogus'");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"temperature", -1}}), 400, "temperature");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"temperature", "hot"}}), 400, "must be a number");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"top_p", 0}}), 400, "top_p");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"n", 0}}), 400, "'n'");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"n", 1000}}), 400, "'n'");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"max_tokens", 300}}), 400, "maximum context length");
  expect_error(post(sv.port, c, json{{"prompt", std::string(300, '1')}}), 400, "maximum context length");
  expect_error(post(sv.port, c, json{{"prompt", {1, 2, 99999}}}), 400, "token ids");
  expect_error(post(sv.port, c, json{{"max_tokens", 5}}), 400, "'prompt' is required");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"soft_thinking", {{"max_topk", 0}}}}), 400, "max_topk");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"soft_thinking", {{"no_such_knob", 1}}}}), 400, "no_such_knob");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"soft_thinking", "yes"}}), 400, "soft_thinking");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"stop", {"a", "b", "c", "d", "e"}}}), 400, "stop");
  expect_error(post(sv.port, c, json{{"prompt", "1+1="}, {"model", "gpt-4"}}), 404, "not found");
  expect_error(post(sv.port, c, json{{"prompt", std::string(8000, 'x')}}), 413, "larger than");
  expect_error(post(sv.port, "/v1/chat/completions", json{{"messages", json::array()}}), 400, "messages");
  expect_error(post(sv.port, "/v1/chat/completions",
                    json{{"messages", {{{"role", "robot"}, {"content", "hi"}}}}}), 400, "role");
  expect_error(post(sv.port, "/v1/chat/completions",
                    json{{"messages", {{{"role", "user"}, {"content", "1+1="}}}}, {"echo", true}}), 400, "unknown parameter 'echo'");
  expect_error(get(sv.port, "/v1/nothing"), 404, "no route");
  // the server is fine afterwards, and counted the errors
  Reply ok = post(sv.port, c, json{{"prompt", "7+2="}, {"max_tokens", 40}, {"temperature", 0}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(get(sv.port, "/health").status, 200);
  Reply m = get(sv.port, "/metrics");
  EXPECT_NE(m.raw.find("softslm_requests_total{endpoint=\"/v1/completions\",status=\"400\"}"), std::string::npos) << m.raw;
  EXPECT_NE(m.raw.find("softslm_request_latency_seconds_count 1"), std::string::npos) << m.raw;
  EXPECT_EQ(sv.stop(), 0);
}

// Opens a connection, sends a streaming request, reads a little, hangs up.
void hang_up_mid_stream(int port, const json& body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr*)&a, sizeof a) == 0) {
    const std::string b = body.dump();
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
    if (write(fd, req.data(), req.size()) == (ssize_t)req.size()) {
      char buf[512];
      (void)!read(fd, buf, sizeof buf);
    }
  }
  close(fd);
}

TEST(Server, LoadWithMalformedRequestsAndHangUpsAnswersEveryGoodRequest) {
  ServerProcess sv("--max-batch 8 --max-queue 64");
  ASSERT_GT(sv.port, 0);
  auto reqs = varied_requests();
  std::vector<json> alone;
  for (auto& [path, b] : reqs) alone.push_back(essence(post(sv.port, path, b).body));
  const int kClients = 48;
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> th;
  for (int k = 0; k < kClients; k++)
    th.emplace_back([&, k] {
      switch (k % 4) {
        case 0:
        case 1: {  // well-formed: the same answer as alone
          const auto& [path, b] = reqs[k % reqs.size()];
          Reply r = post(sv.port, path, b);
          if (r.status != 200 || essence(r.body) != alone[k % reqs.size()])
            failures[k] = "request " + std::to_string(k) + ": " + r.raw;
          break;
        }
        case 2: {  // malformed
          Reply r = post(sv.port, "/v1/completions", std::string("{\"prompt\": [1, 2,"));
          if (r.status != 400) failures[k] = "malformed got " + std::to_string(r.status) + " " + r.raw;
          break;
        }
        case 3:  // a streaming client that goes away
          hang_up_mid_stream(sv.port, json{{"prompt", "98765+4321="}, {"max_tokens", 200},
                                           {"stream", true}, {"soft_thinking", true}});
          break;
      }
    });
  for (auto& t : th) t.join();
  for (const std::string& f : failures) EXPECT_TRUE(f.empty()) << f;
  // the slots of the clients that hung up were freed: the server drains to an empty batch
  for (int i = 0; i < 100; i++) {
    Reply m = get(sv.port, "/metrics");
    if (m.raw.find("softslm_live_requests 0") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Reply m = get(sv.port, "/metrics");
  EXPECT_NE(m.raw.find("softslm_live_requests 0"), std::string::npos) << m.raw;
  EXPECT_NE(m.raw.find("softslm_queue_length 0"), std::string::npos) << m.raw;
  EXPECT_EQ(sv.stop(), 0);
}

// The value of a Prometheus line "name value" in /metrics text (-1 when absent).
double metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atof(text.c_str() + at + name.size() + 2);
}

// A non-streaming client that hangs up while its answer is decoded frees its slot: the request
// is cancelled mid-way (counted with status 499), and the next one is served.
TEST(Server, ANonStreamingClientThatHangsUpIsCancelled) {
  setenv("SOFTSLM_TEST_STEP_SLEEP_MS", "20", 1);  // ~20 ms a step: the answer takes a while
  ServerProcess sv("--max-batch 1");
  unsetenv("SOFTSLM_TEST_STEP_SLEEP_MS");
  ASSERT_GT(sv.port, 0);
  const json body = {{"prompt", "4528+734="}, {"max_tokens", 200}, {"temperature", 0}};
  // the whole answer, for its length (and so that the model's chain is long enough to cut)
  Reply full = post(sv.port, "/v1/completions", body);
  ASSERT_EQ(full.status, 200) << full.raw;
  const double n_full = full.body["usage"]["completion_tokens"].get<double>();
  ASSERT_GE(n_full, 30);
  const double before = metric(get(sv.port, "/metrics").raw, "softslm_generated_tokens_total");
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(sv.port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, (sockaddr*)&a, sizeof a), 0);
  const std::string b = body.dump();
  const std::string rq = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
  ASSERT_EQ(write(fd, rq.data(), rq.size()), (ssize_t)rq.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  close(fd);  // gone before its answer
  std::string m;
  for (int i = 0; i < 200; i++) {
    m = get(sv.port, "/metrics").raw;
    if (m.find("status=\"499\"} 1") != std::string::npos && metric(m, "softslm_live_requests") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(m.find("softslm_requests_total{endpoint=\"/v1/completions\",status=\"499\"} 1"),
            std::string::npos) << m;
  const double cut = metric(m, "softslm_generated_tokens_total") - before;
  EXPECT_GT(cut, 0) << m;
  EXPECT_LT(cut, n_full) << "the request that hung up was decoded to its end";
  Reply next = post(sv.port, "/v1/completions", body);
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body["choices"][0]["text"], full.body["choices"][0]["text"]);
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, AFullQueueGets429) {
  ServerProcess sv("--max-batch 1 --max-queue 1");
  ASSERT_GT(sv.port, 0);
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> th;
  for (int k = 0; k < 6; k++)
    th.emplace_back([&] {
      Reply r = post(sv.port, "/v1/completions",
                     json{{"prompt", "98765+4321="}, {"max_tokens", 150}, {"temperature", 0}});
      if (r.status == 200) ok++;
      else if (r.status == 429 && r.body["error"]["code"] == "rate_limit_exceeded") busy++;
      else other++;
    });
  for (auto& t : th) t.join();
  EXPECT_GE(ok.load(), 1);
  EXPECT_GE(busy.load(), 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(sv.stop(), 0);
}

TEST(Server, SigtermFinishesTheRequestsInFlight) {
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  Stream s;
  std::thread client([&] {
    s = post_stream(sv.port, "/v1/completions",
                    json{{"prompt", "98765+4321="}, {"max_tokens", 200}, {"temperature", 0}});
  });
  // wait until the request is decoding, then ask the server to stop
  for (int i = 0; i < 200; i++) {
    if (get(sv.port, "/metrics").raw.find("softslm_live_requests 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sv.stop(), 0);
  client.join();
  EXPECT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events.back()["choices"][0]["answer"], "103086");
}

TEST(Server, BadCommandLines) {
  RunResult r = run_cli("serve -m /nonexistent/model --port 0");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out.rfind("softslm: error: ", 0), 0u) << r.out;
  ServerProcess sv("");
  ASSERT_GT(sv.port, 0);
  RunResult busy = run_cli("serve -m " + kModel + " --port " + std::to_string(sv.port));
  EXPECT_EQ(busy.exit_code, 1) << busy.out;
  EXPECT_NE(busy.out.find("cannot listen"), std::string::npos) << busy.out;
  RunResult mb = run_cli("serve -m " + kModel + " --max-batch 0");
  EXPECT_EQ(mb.exit_code, 1) << mb.out;
  EXPECT_NE(mb.out.find("--max-batch"), std::string::npos) << mb.out;
}

}  // namespace
