#include "generate/generate.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace softslm {

void generate_params_validate(const GenerateParams& p, int vocab_size) {
  sampler_params_validate(p.sampler);
  const SoftThinkingParams& s = p.soft;
  check(p.max_new_tokens >= 0, "max_new_tokens must be >= 0 (got ", p.max_new_tokens, ")");
  if (s.mode == ThinkMode::kOff) return;
  soft_sampler_params_validate(s.sampler, vocab_size);
  check(std::isfinite(s.cold_stop_tau) && s.cold_stop_tau >= 0,
        "cold_stop.tau must be >= 0 (got ", s.cold_stop_tau, ")");
  check(s.cold_stop_steps >= 1, "cold_stop.steps (L) must be >= 1 (got ", s.cold_stop_steps, ")");
  check(s.max_thinking_tokens >= 0, "max_thinking_tokens must be >= 0 (0 = no budget; got ",
        s.max_thinking_tokens, ")");
  check(std::isfinite(s.after_cold_stop_tau) && s.after_cold_stop_tau >= 0,
        "after_cold_stop.tau must be >= 0 (got ", s.after_cold_stop_tau, ")");
  check(s.after_cold_stop_steps >= 1, "after_cold_stop.steps must be >= 1 (got ",
        s.after_cold_stop_steps, ")");
  check(std::isfinite(s.gate_threshold) && s.gate_threshold >= 0,
        "entropy_gate.threshold must be >= 0 (got ", s.gate_threshold, ")");
  check(s.gate_steps >= 1, "entropy_gate.steps must be >= 1 (got ", s.gate_steps, ")");
  check(s.max_thinking_steps >= 0, "entropy_gate.max_thinking_steps must be >= 0 (got ",
        s.max_thinking_steps, ")");
  if (s.mode == ThinkMode::kLatent)
    check(s.latent_steps >= 1, "latent.steps must be >= 1 (got ", s.latent_steps, ")");
  if (s.mode == ThinkMode::kThinkTags || s.mode == ThinkMode::kLatent) {
    check(p.think_open_id >= 0 && p.think_close_id >= 0,
          "think-tags mode needs <think> and </think> as single special tokens; this model's "
          "vocabulary lacks them (use entropy-gate mode)");
    check(p.think_open_id < vocab_size && p.think_close_id < vocab_size,
          "<think>/</think> ids outside the model's vocabulary");
  }
}

int generate_prompt_positions(const GenerateParams& p, const std::vector<int>& prompt) {
  const bool tags = p.soft.mode == ThinkMode::kThinkTags || p.soft.mode == ThinkMode::kLatent;
  const bool add_think = tags && p.soft.insert_think &&
                         (prompt.empty() || prompt.back() != p.think_open_id);
  return (int)prompt.size() + (add_think ? 1 : 0);
}

namespace {

bool all_finite(const float* x, int n) {
  float acc = 0;  // x * 0 is 0 for a finite x, NaN for inf or NaN
  for (int i = 0; i < n; i++) acc += x[i] * 0.0f;
  return acc == 0.0f;
}

struct SeqState {
  int pos;             // next position to fill
  bool done = false;
  bool thinking;       // in the thinking phase (soft rows)
  int low_count = 0;   // consecutive low-entropy steps (Cold Stop / entropy gate)
  int after_low = 0;   // consecutive low-entropy steps after thinking
  Rng rng;
};

// Decides one step of sequence q: fills rec and the next input; updates q and res. hidden [C]:
// the final hidden state of the row that gave the logits (latent mode's source).
void step_sequence(const GenerateParams& P, SeqState& q, SeqResult& res, const float* logits,
                   const float* hidden, int C, int V, float* probs, SoftSample& smp,
                   StepRecord& rec, StepInput& next) {
  const SoftThinkingParams& S = P.soft;
  rec.step = (int)res.tokens.size();
  rec.thinking = q.thinking;
  rec.switch_reason = nullptr;
  bool latent = false;  // this step feeds a latent input
  if (S.mode == ThinkMode::kLatent && q.thinking) {
    if (res.thinking_steps < S.latent_steps) {
      latent = true;
      soft_sample(S.sampler, true, logits, V, q.rng, probs, &smp);
      // the emitted token only shows the step: the most probable one that is neither </think>
      // nor the end (the protocol, not the model, ends thinking)
      int best = -1;
      for (int v = 0; v < V; v++)
        if (v != P.think_close_id && v != P.eos_id && (best < 0 || logits[v] > logits[best]))
          best = v;
      smp.token = best;
      if (S.latent_input != LatentKind::kConcept) {  // its record: that token, one-hot
        smp.w.assign(1, 1.0f);
        smp.ids.assign(1, smp.token);
      }
    } else if (S.latent_continue) {  // the rest of the chain in tokens, until </think>
      soft_sample(S.sampler, false, logits, V, q.rng, probs, &smp);
      if (smp.token == P.think_close_id) rec.switch_reason = "end_tag";
    } else {  // the latent steps are done: </think>, fed as a discrete token
      soft_sample(S.sampler, false, logits, V, q.rng, probs, &smp);
      rec.switch_reason = "latent_steps";
      smp.token = P.think_close_id;
      smp.w.assign(1, 1.0f);
      smp.ids.assign(1, P.think_close_id);
    }
  } else if (S.mode == ThinkMode::kOff) {
    SampleResult r = sampler_sample(P.sampler, logits, V, q.rng, probs);
    smp.token = r.token;
    smp.entropy = r.entropy;
    smp.w.assign(1, 1.0f);
    smp.ids.assign(1, r.token);
  } else {
    soft_sample(S.sampler, q.thinking, logits, V, q.rng, probs, &smp);
  }
  bool soft = q.thinking && S.mode != ThinkMode::kLatent;
  if (q.thinking && S.mode == ThinkMode::kThinkTags) {
    if (smp.token == P.think_close_id) {
      rec.switch_reason = "end_tag";
    } else if (S.cold_stop_tau > 0 &&
               (q.low_count = smp.entropy < S.cold_stop_tau ? q.low_count + 1 : 0) >=
                   S.cold_stop_steps) {
      rec.switch_reason = "cold_stop";
    } else if (S.max_thinking_tokens > 0 && res.thinking_steps >= S.max_thinking_tokens) {
      rec.switch_reason = "budget";
    }
    if (rec.switch_reason) {  // </think> is emitted and fed as a discrete token
      smp.token = P.think_close_id;
      smp.w.assign(1, 1.0f);
      smp.ids.assign(1, P.think_close_id);
      soft = false;
    }
  } else if (q.thinking && S.mode == ThinkMode::kEntropyGate) {
    q.low_count = smp.entropy < S.gate_threshold ? q.low_count + 1 : 0;
    if (q.low_count >= S.gate_steps)
      rec.switch_reason = "entropy_gate";
    else if (res.thinking_steps >= S.max_thinking_steps)
      rec.switch_reason = "budget";
    if (rec.switch_reason) {  // this step is already discrete, with the after-thinking filters
      float h = smp.entropy;
      soft_sample(S.sampler, false, logits, V, q.rng, probs, &smp);
      smp.entropy = h;
      soft = false;
    }
  } else if (!q.thinking && S.mode == ThinkMode::kThinkTags && S.after_cold_stop &&
             res.think_end.size()) {
    q.after_low = smp.entropy < S.after_cold_stop_tau ? q.after_low + 1 : 0;
  }
  if (rec.switch_reason) {
    q.thinking = false;
    q.low_count = 0;
    res.think_end = rec.switch_reason;
  }
  if (soft || latent) res.thinking_steps++;
  const bool discrete_latent = latent && S.latent_input == LatentKind::kToken;
  rec.soft = soft || (latent && !discrete_latent);
  rec.token = smp.token;
  rec.entropy = smp.entropy;
  rec.w = smp.w;
  rec.ids = smp.ids;
  res.tokens.push_back(smp.token);
  res.entropy.push_back(smp.entropy);
  res.thinking.push_back(rec.thinking);
  if (latent && S.latent_input == LatentKind::kHidden)
    next = StepInput::of_vector(std::vector<float>(hidden, hidden + C));
  else if (soft || (latent && !discrete_latent))
    next = StepInput::of_concept(smp.w, smp.ids);
  else
    next = StepInput::of_token(smp.token);

  if (smp.token == P.eos_id) {
    q.done = true;
    res.stop_reason = "eos";
  } else if (q.after_low >= S.after_cold_stop_steps) {
    q.done = true;
    rec.switch_reason = "after_cold_stop";
    res.stop_reason = "after_cold_stop";
  } else if ((int)res.tokens.size() >= P.max_new_tokens) {
    q.done = true;
    res.stop_reason = "max_new_tokens";
  }
}

}  // namespace

std::vector<SeqResult> generate(const Model& m, const std::vector<std::vector<int>>& prompts,
                                const GenerateParams& P, const StepHook& hook) {
  return generate(inference_weights_create(m, P.dtype), prompts, P, hook);
}

std::vector<SeqResult> generate(std::shared_ptr<const InferenceWeights> w,
                                const std::vector<std::vector<int>>& prompts,
                                const GenerateParams& P, const StepHook& hook) {
  check(w != nullptr, "generate needs packed weights");
  check(w->dtype == P.dtype, "generate: the packed weights' dtype differs from the params' dtype");
  const Model& m = *w->model;
  const int S = (int)prompts.size(), V = m.cfg.vocab_size, C = m.cfg.n_embd, n_ctx = m.cfg.n_ctx;
  // the ids that can be sampled: the logits rows past the tokenizer are never looked at
  const int Vs = P.vocab_limit > 0 ? std::min(P.vocab_limit, V) : V;
  generate_params_validate(P, Vs);
  check(S > 0, "generate needs at least one prompt");
  const bool tags = P.soft.mode == ThinkMode::kThinkTags || P.soft.mode == ThinkMode::kLatent;
  std::vector<SeqState> st(S);
  std::vector<SeqResult> res(S);
  std::vector<int> seq, pos;
  std::vector<StepInput> in;
  std::vector<int> last_rows;
  for (int s = 0; s < S; s++) {
    const std::vector<int>& pr = prompts[s];
    check(!pr.empty(), "prompt ", s, " is empty");
    for (int t : pr) check(t >= 0 && t < V, "prompt ", s, ": token id ", t, " outside [0, ", V, ")");
    const int n = generate_prompt_positions(P, pr);
    const bool add_think = n > (int)pr.size();
    check(n < n_ctx, "prompt ", s, " is ", n, " tokens; the model's context is ", n_ctx,
          " (at most ", n_ctx - 1, " leave room to generate)");
    SeqState& q = st[s];
    q.pos = n;
    q.thinking = P.soft.mode == ThinkMode::kEntropyGate || (tags && (add_think || pr.back() == P.think_open_id));
    q.rng = rng_init(P.seed + s);
    res[s].prompt_tokens = n;
    for (int t = 0; t < n; t++) {
      seq.push_back(s);
      pos.push_back(t);
      in.push_back(StepInput::of_token(t < (int)pr.size() ? pr[t] : P.think_open_id));
    }
    last_rows.push_back((int)in.size() - 1);
    if (P.max_new_tokens == 0) {
      q.done = true;
      res[s].stop_reason = "max_new_tokens";
    }
  }
  Transformer tr = transformer_create(std::move(w), S);
  // prefill: every prompt in one forward; logits of each prompt's last row
  std::vector<float> x((size_t)in.size() * C);
  TokenEmbedding emb = TokenEmbedding::of(m);
  for (size_t r = 0; r < in.size(); r++) step_input_embed(emb, in[r], x.data() + r * C);
  std::vector<float> logits((size_t)S * V), probs(V), x_next((size_t)S * C),
      hidden((size_t)S * C);  // the output rows' final hidden states
  transformer_forward(tr, (int)in.size(), seq.data(), pos.data(), x.data(), S, last_rows.data(),
                      logits.data());
  std::copy(tr.st.hidden.begin(), tr.st.hidden.begin() + (size_t)S * C, hidden.begin());
  std::vector<int> row_of(S);
  for (int s = 0; s < S; s++) row_of[s] = s;

  SoftSample smp;
  std::vector<StepRecord> recs(S);
  while (true) {
    seq.clear();
    pos.clear();
    in.clear();
    for (int s = 0; s < S; s++) {
      SeqState& q = st[s];
      if (q.done) continue;
      StepInput next;
      recs[s].seq = s;
      const float* lg = logits.data() + (size_t)row_of[s] * V;
      if (!all_finite(lg, Vs)) {  // overflow in the activations: stop, never sample garbage
        q.done = true;
        res[s].stop_reason = "non_finite";
        res[s].error = "the logits became non-finite at position " + std::to_string(q.pos - 1) +
                       " (after " + std::to_string(res[s].tokens.size()) + " generated tokens)";
        continue;
      }
      step_sequence(P, q, res[s], lg, hidden.data() + (size_t)row_of[s] * C, C, Vs, probs.data(),
                    smp, recs[s], next);
      if (!q.done && q.pos >= n_ctx) {
        q.done = true;
        res[s].stop_reason = "context";
      }
      if (q.done) {
        if (hook) hook(recs[s], nullptr);
        continue;
      }
      row_of[s] = (int)seq.size();
      seq.push_back(s);
      pos.push_back(q.pos++);
      in.push_back(std::move(next));
    }
    if (seq.empty()) break;
    const int R = (int)seq.size();
    transformer_step(tr, R, seq.data(), pos.data(), in.data(), logits.data(), x_next.data());
    std::copy(tr.st.hidden.begin(), tr.st.hidden.begin() + (size_t)R * C, hidden.begin());
    if (hook)
      for (int r = 0; r < R; r++) hook(recs[seq[r]], x_next.data() + (size_t)r * C);
  }
  return res;
}

}  // namespace softslm
