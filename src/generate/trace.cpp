#include "generate/trace.h"

namespace softslm {

nlohmann::json trace_record_json(const StepRecord& r, const Tokenizer& tok) {
  nlohmann::json texts = nlohmann::json::array();
  for (int id : r.ids) texts.push_back(tokenizer_decode(tok, &id, 1));
  return {{"seq", r.seq},
          {"step", r.step},
          {"phase", r.thinking ? "thinking" : "answer"},
          {"soft", r.soft},
          {"token", r.token},
          {"text", tokenizer_decode(tok, &r.token, 1)},
          {"entropy", r.entropy},
          {"concept", {{"ids", r.ids}, {"texts", texts}, {"weights", r.w}}},
          {"switch", r.switch_reason ? nlohmann::json(r.switch_reason) : nlohmann::json(nullptr)}};
}

SeqText seq_text(const SeqResult& r, const Tokenizer& tok, int eos_id, int think_close_id) {
  std::vector<int> thinking, answer, all;
  double h_think = 0, h_all = 0;
  for (size_t i = 0; i < r.tokens.size(); i++) {
    int t = r.tokens[i];
    h_all += r.entropy[i];
    if (r.thinking[i]) h_think += r.entropy[i];
    if (t == eos_id) break;
    all.push_back(t);
    if (r.thinking[i]) {
      if (t != think_close_id) thinking.push_back(t);
    } else {
      answer.push_back(t);
    }
  }
  int n_think = 0;
  for (uint8_t x : r.thinking) n_think += x;
  SeqText s;
  s.thinking = tokenizer_decode(tok, thinking);
  s.answer = tokenizer_decode(tok, answer);
  s.text = tokenizer_decode(tok, all);
  s.mean_entropy = n_think ? (float)(h_think / n_think)
                           : (r.tokens.empty() ? 0.0f : (float)(h_all / r.tokens.size()));
  return s;
}

nlohmann::json seq_result_json(const SeqResult& r, const Tokenizer& tok, int eos_id,
                               int think_close_id) {
  SeqText s = seq_text(r, tok, eos_id, think_close_id);
  return {{"text", s.text},
          {"thinking", s.thinking},
          {"answer", s.answer},
          {"n_prompt_tokens", r.prompt_tokens},
          {"n_generated", r.tokens.size()},
          {"thinking_steps", r.thinking_steps},
          {"think_end", r.think_end},
          {"stop_reason", r.stop_reason},
          {"mean_entropy", s.mean_entropy},
          {"tokens", r.tokens}};
}

}  // namespace softslm
