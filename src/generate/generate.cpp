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

// Decides one step of sequence q: fills rec and the next input; updates q and res. hidden [C]:
// the final hidden state of the row that gave the logits (latent mode's source).
void step_sequence(const GenerateParams& P, DecodeSlot& q, SeqResult& res, const float* logits,
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

// log-softmax over [0, V) of raw logits: the chosen token's and the top `top` entries
TokenLogprob token_logprob(const float* logits, int V, int token, int top) {
  float mx = logits[0];
  for (int v = 1; v < V; v++) mx = std::max(mx, logits[v]);
  double sum = 0;
  for (int v = 0; v < V; v++) sum += std::exp((double)(logits[v] - mx));
  const float lse = mx + (float)std::log(sum);
  TokenLogprob t;
  t.token = token;
  t.logprob = logits[token] - lse;
  top = std::min(top, V);
  if (top > 0) {
    std::vector<int> idx(V);
    for (int v = 0; v < V; v++) idx[v] = v;
    std::partial_sort(idx.begin(), idx.begin() + top, idx.end(), [&](int a, int b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int i = 0; i < top; i++) {
      t.top_ids.push_back(idx[i]);
      t.top_logprobs.push_back(logits[idx[i]] - lse);
    }
  }
  return t;
}

// the ids that can be sampled: the logits rows past the tokenizer are never looked at
int sampled_vocab(const Model& m, const GenerateParams& P) {
  return P.vocab_limit > 0 ? std::min(P.vocab_limit, m.cfg.vocab_size) : m.cfg.vocab_size;
}

}  // namespace

Decoder decoder_create(std::shared_ptr<const InferenceWeights> w, int max_seqs) {
  check(w != nullptr, "the decoder needs packed weights");
  check(max_seqs >= 1, "the decoder needs at least one slot (got ", max_seqs, ")");
  const ModelConfig& cfg = w->model->cfg;
  Decoder d;
  d.w = w;
  d.tr = transformer_create(std::move(w), max_seqs);
  d.slots.resize(max_seqs);
  d.logits.resize((size_t)max_seqs * cfg.vocab_size);
  d.hidden.resize((size_t)max_seqs * cfg.n_embd);
  d.probs.resize(cfg.vocab_size);
  return d;
}

// A prompt's checks (not empty, ids in the vocabulary, room left in the context); `who` names
// it in the messages. Returns the positions it takes.
static int prompt_check(const ModelConfig& c, const GenerateParams& P, const std::vector<int>& pr,
                        const std::string& who) {
  check(!pr.empty(), who, " is empty");
  for (int t : pr)
    check(t >= 0 && t < c.vocab_size, who, ": token id ", t, " outside [0, ", c.vocab_size, ")");
  const int n = generate_prompt_positions(P, pr);
  check(n < c.n_ctx, who, " is ", n, " tokens; the model's context is ", c.n_ctx, " (at most ",
        c.n_ctx - 1, " leave room to generate)");
  return n;
}

int decoder_add(Decoder& d, DecodeRequest req) {
  const Model& m = *d.w->model;
  const GenerateParams& P = req.params;
  check(d.w->dtype == P.dtype, "the packed weights' dtype differs from the params' dtype");
  generate_params_validate(P, sampled_vocab(m, P));
  const std::vector<int>& pr = req.prompt;
  const int n = prompt_check(m.cfg, P, pr, "the prompt");
  check(req.logprobs <= 20, "logprobs must be at most 20 (got ", req.logprobs, ")");
  int s = 0;
  while (s < (int)d.slots.size() && d.slots[s].used) s++;
  if (s == (int)d.slots.size()) return -1;
  DecodeSlot& q = d.slots[s];
  q = DecodeSlot();
  q.used = true;
  const bool tags = P.soft.mode == ThinkMode::kThinkTags || P.soft.mode == ThinkMode::kLatent;
  const bool add_think = n > (int)pr.size();
  q.pos = n;
  q.thinking = P.soft.mode == ThinkMode::kEntropyGate ||
               (tags && (add_think || pr.back() == P.think_open_id));
  q.rng = rng_init(P.seed);
  q.res.prompt_tokens = n;
  q.rec.seq = s;
  q.req = std::move(req);
  return s;
}

void decoder_cancel(Decoder& d, int s) {
  DecodeSlot& q = d.slots.at(s);
  if (!q.used || q.done) return;
  q.done = true;
  q.res.stop_reason = "cancelled";
}

void decoder_release(Decoder& d, int s) { d.slots.at(s) = DecodeSlot(); }

int decoder_live(const Decoder& d) {
  int n = 0;
  for (const DecodeSlot& q : d.slots) n += q.used && !q.done;
  return n;
}

int decoder_free(const Decoder& d) {
  int n = 0;
  for (const DecodeSlot& q : d.slots) n += !q.used;
  return n;
}

std::vector<int> decoder_step(Decoder& d) {
  const Model& m = *d.w->model;
  const int V = m.cfg.vocab_size, C = m.cfg.n_embd, n_ctx = m.cfg.n_ctx;
  std::vector<int> finished;
  d.seq.clear();
  d.pos.clear();
  d.in.clear();
  d.out_rows.clear();
  // 1. every live sequence: one generated token, and the next input it is fed
  for (int s = 0; s < (int)d.slots.size(); s++) {
    DecodeSlot& q = d.slots[s];
    if (!q.used || !q.prefilled || q.done) continue;
    const GenerateParams& P = q.req.params;
    const int Vs = sampled_vocab(m, P);
    SeqResult& res = q.res;
    const float* lg = d.logits.data() + (size_t)s * V;
    if (!all_finite(lg, Vs)) {  // overflow in the activations: stop, never sample garbage
      q.done = true;
      res.stop_reason = "non_finite";
      res.error = "the logits became non-finite at position " + std::to_string(q.pos - 1) +
                  " (after " + std::to_string(res.tokens.size()) + " generated tokens)";
      finished.push_back(s);
      continue;
    }
    StepInput next;
    step_sequence(P, q, res, lg, d.hidden.data() + (size_t)s * C, C, Vs, d.probs.data(), d.smp,
                  q.rec, next);
    if (q.req.logprobs >= 0)
      q.logprobs.push_back(token_logprob(lg, Vs, res.tokens.back(), q.req.logprobs));
    if (!q.done && q.pos >= n_ctx) {
      q.done = true;
      res.stop_reason = "context";
    }
    if (q.done) {
      if (q.req.hook) q.req.hook(q.rec, nullptr);
      finished.push_back(s);
      continue;
    }
    d.out_rows.push_back((int)d.in.size());
    d.seq.push_back(s);
    d.pos.push_back(q.pos++);
    d.in.push_back(std::move(next));
  }
  const int n_step = (int)d.in.size();
  // 2. the prompts of the sequences added since the last step join the same forward: every
  // prompt row, logits of the last (of every one with prompt_logprobs)
  std::vector<int> pre, pre_first;  // slots, and each one's first row
  for (int s = 0; s < (int)d.slots.size(); s++) {
    DecodeSlot& q = d.slots[s];
    if (!q.used || q.prefilled || q.done) continue;
    pre.push_back(s);
    pre_first.push_back((int)d.in.size());
    const std::vector<int>& pr = q.req.prompt;
    for (int t = 0; t < q.pos; t++) {
      if (q.req.prompt_logprobs || t == q.pos - 1) d.out_rows.push_back((int)d.in.size());
      d.seq.push_back(s);
      d.pos.push_back(t);
      d.in.push_back(StepInput::of_token(t < (int)pr.size() ? pr[t] : q.req.params.think_open_id));
    }
  }
  const int R = (int)d.in.size(), n_out = (int)d.out_rows.size();
  if (R == 0) return finished;
  // 3. one forward: inputs embedded (tokens, concepts, vectors), then the transformer
  d.x.resize((size_t)R * C);
  TokenEmbedding emb = TokenEmbedding::of(m);
  for (int r = 0; r < R; r++) step_input_embed(emb, d.in[r], d.x.data() + (size_t)r * C);
  // the hooks see each stepped sequence's record and the input vector it is fed (and may
  // change it)
  for (int r = 0; r < n_step; r++) {
    DecodeSlot& q = d.slots[d.seq[r]];
    if (q.req.hook) q.req.hook(q.rec, d.x.data() + (size_t)r * C);
  }
  d.step_logits.resize((size_t)n_out * V);
  transformer_forward(d.tr, R, d.seq.data(), d.pos.data(), d.x.data(), n_out, d.out_rows.data(),
                      d.step_logits.data());
  // output row o of a row: decode rows come first (o = r); a prefill's rows follow in order
  for (int r = 0; r < n_step; r++) {
    const int s = d.seq[r];
    std::copy_n(d.step_logits.data() + (size_t)r * V, V, d.logits.data() + (size_t)s * V);
    std::copy_n(d.tr.st.hidden.data() + (size_t)r * C, C, d.hidden.data() + (size_t)s * C);
  }
  int o = n_step;
  for (size_t i = 0; i < pre.size(); i++) {
    const int s = pre[i];
    DecodeSlot& q = d.slots[s];
    const int n = q.pos;
    if (q.req.prompt_logprobs) {  // output rows o .. o + n - 2 predict prompt tokens 1 .. n - 1
      const int Vs = sampled_vocab(m, q.req.params);
      const std::vector<int>& pr = q.req.prompt;
      for (int t = 1; t < n; t++) {
        const int tok = t < (int)pr.size() ? pr[t] : q.req.params.think_open_id;
        q.prompt_logprobs.push_back(token_logprob(d.step_logits.data() + (size_t)(o + t - 1) * V,
                                                  Vs, tok, std::max(0, q.req.logprobs)));
      }
      o += n - 1;
    }
    std::copy_n(d.step_logits.data() + (size_t)o * V, V, d.logits.data() + (size_t)s * V);
    std::copy_n(d.tr.st.hidden.data() + (size_t)o * C, C, d.hidden.data() + (size_t)s * C);
    o++;
    q.prefilled = true;
    if (q.req.params.max_new_tokens == 0) {
      q.done = true;
      q.res.stop_reason = "max_new_tokens";
      finished.push_back(s);
    }
  }
  return finished;
}

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
  const int S = (int)prompts.size();
  generate_params_validate(P, sampled_vocab(m, P));
  check(S > 0, "generate needs at least one prompt");
  for (int s = 0; s < S; s++)  // decoder_add's checks, before any work, naming the prompt
    prompt_check(m.cfg, P, prompts[s], "prompt " + std::to_string(s));
  Decoder d = decoder_create(std::move(w), S);
  for (int s = 0; s < S; s++) {
    DecodeRequest r;
    r.prompt = prompts[s];
    r.params = P;
    r.params.seed = P.seed + s;  // sequence s draws from rng_init(seed + s)
    r.hook = hook;
    const int slot = decoder_add(d, std::move(r));
    check(slot == s, "generate: slot ", slot, " for prompt ", s);
  }
  while (decoder_live(d) > 0) decoder_step(d);
  std::vector<SeqResult> res(S);
  for (int s = 0; s < S; s++) res[s] = std::move(d.slots[s].res);
  return res;
}

}  // namespace softslm
