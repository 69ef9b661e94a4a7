#include "generate/generate.h"

#include "base/error.h"

namespace softslm {

namespace {

struct SeqState {
  int pos;          // next position to fill
  bool done;
  Rng rng;
};

}  // namespace

std::vector<SeqResult> generate(const Model& m, const std::vector<std::vector<int>>& prompts,
                                const GenerateParams& params, const OnToken& on_token) {
  sampler_params_validate(params.sampler);
  check(params.max_new_tokens >= 0, "max_new_tokens must be >= 0 (got ", params.max_new_tokens,
        ")");
  const int S = (int)prompts.size(), V = m.cfg.vocab_size, n_ctx = m.cfg.n_ctx;
  check(S > 0, "generate needs at least one prompt");
  for (int s = 0; s < S; s++) {
    int n = (int)prompts[s].size();
    check(n > 0, "prompt ", s, " is empty");
    check(n < n_ctx, "prompt ", s, " is ", n, " tokens; the model's context is ", n_ctx,
          " (at most ", n_ctx - 1, " leave room to generate)");
  }
  Transformer tr = transformer_create(m, S);
  std::vector<SeqResult> res(S);
  std::vector<SeqState> st(S);
  std::vector<float> logits((size_t)S * V), probs(V);

  // prefill: all prompts in one forward, logits of each prompt's last row
  std::vector<int> seq, pos, tok, last_rows;
  for (int s = 0; s < S; s++) {
    for (int t = 0; t < (int)prompts[s].size(); t++) {
      seq.push_back(s);
      pos.push_back(t);
      tok.push_back(prompts[s][t]);
    }
    last_rows.push_back((int)tok.size() - 1);
    st[s] = {(int)prompts[s].size(), params.max_new_tokens == 0, rng_init(params.seed + s)};
    if (st[s].done) res[s].stop_reason = "max_new_tokens";
  }
  transformer_forward_tokens(tr, (int)tok.size(), seq.data(), pos.data(), tok.data(), S,
                             last_rows.data(), logits.data());
  std::vector<int> rows_of(S);  // row index of each sequence in the last forward
  for (int s = 0; s < S; s++) rows_of[s] = s;

  while (true) {
    // sample for every live sequence from its logits row
    seq.clear();
    pos.clear();
    tok.clear();
    for (int s = 0; s < S; s++) {
      SeqState& q = st[s];
      if (q.done) continue;
      SampleResult r = sampler_sample(params.sampler, logits.data() + (size_t)rows_of[s] * V, V,
                                      q.rng, probs.data());
      res[s].tokens.push_back(r.token);
      res[s].entropy.push_back(r.entropy);
      if (on_token) on_token(s, r.token);
      if (r.token == params.eos_id) {
        q.done = true;
        res[s].stop_reason = "eos";
      } else if ((int)res[s].tokens.size() >= params.max_new_tokens) {
        q.done = true;
        res[s].stop_reason = "max_new_tokens";
      } else if (q.pos >= n_ctx) {
        q.done = true;
        res[s].stop_reason = "context";
      } else {
        rows_of[s] = (int)seq.size();
        seq.push_back(s);
        pos.push_back(q.pos++);
        tok.push_back(r.token);
      }
    }
    if (seq.empty()) break;
    const int R = (int)seq.size();
    transformer_forward_tokens(tr, R, seq.data(), pos.data(), tok.data(), R, nullptr,
                               logits.data());
  }
  return res;
}

}  // namespace softslm
