// Soft Thinking: concept-token embedding, the soft sampler, and the generation state machine.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/error.h"
#include "generate/generate.h"
#include "model/embeddings.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace softslm;
using namespace softslm::testing;

namespace {

constexpr int kV = 40, kEos = 37, kOpen = 38, kClose = 39;

const Model& tiny_model() {
  static Model m = [] {
    ModelConfig c;
    c.vocab_size = kV;
    c.n_ctx = 48;
    c.n_embd = 16;
    c.n_layer = 2;
    c.n_head = 2;
    c.eos_token_id = kEos;
    Model m = model_create(c);
    model_init_random(m, 11);
    // sharper distributions than the default init, so entropies vary between steps
    for (size_t i = 0; i < (size_t)kV * 16; i++) m.p.wte[i] *= 6.0f;
    return m;
  }();
  return m;
}

GenerateParams soft_params(ThinkMode mode) {
  GenerateParams p;
  p.soft.mode = mode;
  p.max_new_tokens = 20;
  p.eos_id = kEos;
  p.think_open_id = kOpen;
  p.think_close_id = kClose;
  p.seed = 3;
  p.soft.cold_stop_tau = 0;  // off unless a test turns it on
  return p;
}

struct Trace {
  std::vector<StepRecord> recs;
  std::vector<std::vector<float>> inputs;
};

SeqResult run(const GenerateParams& p, std::vector<int> prompt, Trace* tr = nullptr) {
  StepHook hook;
  if (tr)
    hook = [tr](const StepRecord& r, const float* x) {
      tr->recs.push_back(r);
      tr->inputs.emplace_back(x ? std::vector<float>(x, x + 16) : std::vector<float>());
    };
  return generate(tiny_model(), {prompt}, p, hook)[0];
}

template <typename F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(SoftThinking, WeightedForwardArithmeticAndRenormalisation) {
  const Model& m = tiny_model();
  TokenEmbedding e = TokenEmbedding::of(m);
  const int C = 16;
  // unnormalised weights 2 : 1 : 1 over ids 3, 5, 7 -> 0.5, 0.25, 0.25
  std::vector<float> w = {2.0f, 1.0f, 1.0f, 0.0f, 0.0f, 5.0f}, out(2 * C);
  std::vector<int> ids = {3, 5, 7, 1, 2, 9};
  e.weighted_forward(w, ids, 2, 3, out.data());
  for (int i = 0; i < C; i++) {
    float want = 0.5f * m.p.wte[3 * C + i] + 0.25f * m.p.wte[5 * C + i] + 0.25f * m.p.wte[7 * C + i];
    EXPECT_NEAR(out[i], want, 1e-6 * (1 + std::fabs(want)));
    EXPECT_EQ(out[C + i], m.p.wte[9 * C + i]);  // one non-zero weight: exactly that row
  }
  // a one-hot row equals forward(token), bit for bit
  std::vector<float> one(C), tok(C);
  e.weighted_forward({1.0f}, {12}, 1, 1, one.data());
  int t = 12;
  e.forward(&t, 1, tok.data());
  EXPECT_EQ(0, std::memcmp(one.data(), tok.data(), sizeof(float) * C));
}

TEST(SoftThinking, WeightedForwardRejectsBadInput) {
  TokenEmbedding e = TokenEmbedding::of(tiny_model());
  std::vector<float> out(32);
  expect_error([&] { e.weighted_forward({1, 1}, {1, 2, 3}, 1, 2, out.data()); }, "entries");
  expect_error([&] { e.weighted_forward({1, 1}, {1, kV}, 1, 2, out.data()); }, "outside the vocabulary");
  expect_error([&] { e.weighted_forward({1, 1}, {1, -1}, 1, 2, out.data()); }, "outside the vocabulary");
  expect_error([&] { e.weighted_forward({1, -0.5f}, {1, 2}, 1, 2, out.data()); }, "non-negative");
  expect_error([&] { e.weighted_forward({1, NAN}, {1, 2}, 1, 2, out.data()); }, "non-negative");
  expect_error([&] { e.weighted_forward({1, INFINITY}, {1, 2}, 1, 2, out.data()); }, "non-negative");
  expect_error([&] { e.weighted_forward({0, 0}, {1, 2}, 1, 2, out.data()); }, "sum to 0");
}

TEST(SoftThinking, OneHotConceptStepEqualsDiscreteStep) {
  const Model& m = tiny_model();
  const int V = kV;
  std::vector<float> a(V), b(V);
  int seq = 0, p0 = 0, p1 = 1;
  Transformer t1 = transformer_create(m, 1), t2 = transformer_create(m, 1);
  StepInput first = StepInput::of_token(4);
  transformer_step(t1, 1, &seq, &p0, &first, a.data());
  transformer_step(t2, 1, &seq, &p0, &first, b.data());
  StepInput tok = StepInput::of_token(9), con = StepInput::of_concept({1.0f}, {9});
  transformer_step(t1, 1, &seq, &p1, &tok, a.data());
  transformer_step(t2, 1, &seq, &p1, &con, b.data());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), sizeof(float) * V));
  // a raw vector equal to the embedding row is the same input again
  std::vector<float> row(m.p.wte + 9 * 16, m.p.wte + 10 * 16);
  Transformer t3 = transformer_create(m, 1);
  std::vector<float> c(V);
  transformer_step(t3, 1, &seq, &p0, &first, c.data());
  StepInput vec = StepInput::of_vector(row);
  transformer_step(t3, 1, &seq, &p1, &vec, c.data());
  EXPECT_EQ(0, std::memcmp(a.data(), c.data(), sizeof(float) * V));
}

TEST(SoftThinking, MixedTokenAndConceptBatchEqualsEachAlone) {
  const Model& m = tiny_model();
  std::vector<StepInput> in = {StepInput::of_token(5), StepInput::of_concept({0.7f, 0.3f}, {2, 8}),
                               StepInput::of_concept({0.2f, 0.5f, 0.3f}, {1, 2, 3})};
  int seq[3] = {0, 1, 2}, pos[3] = {0, 0, 0};
  Transformer tb = transformer_create(m, 3);
  std::vector<float> lb(3 * kV);
  transformer_step(tb, 3, seq, pos, in.data(), lb.data());
  for (int s = 0; s < 3; s++) {
    Transformer ta = transformer_create(m, 1);
    std::vector<float> la(kV);
    int z = 0;
    transformer_step(ta, 1, &z, &z, &in[s], la.data());
    EXPECT_EQ(0, std::memcmp(la.data(), lb.data() + s * kV, sizeof(float) * kV)) << s;
  }
}

TEST(SoftThinking, TopK1WithoutNoiseIsGreedyDecoding) {
  GenerateParams soft = soft_params(ThinkMode::kThinkTags);
  soft.soft.sampler.max_topk = 1;
  soft.soft.sampler.thinking.temperature = 0.6f;  // top-1 of any temperature is the argmax
  soft.soft.sampler.after.temperature = 0.0f;
  GenerateParams greedy = soft_params(ThinkMode::kOff);
  greedy.sampler.temperature = 0.0f;
  Trace ts, tg;
  SeqResult rs = run(soft, {1, 2, 3}, &ts);
  SeqResult rg = run(greedy, {1, 2, 3, kOpen}, &tg);
  EXPECT_EQ(rs.tokens, rg.tokens);
  ASSERT_EQ(ts.inputs.size(), tg.inputs.size());
  for (size_t i = 0; i < ts.inputs.size(); i++) EXPECT_EQ(ts.inputs[i], tg.inputs[i]) << i;
  EXPECT_GT(rs.thinking_steps, 0);
  // greedy thinking (T = 0) gives the same one-hot concepts
  GenerateParams g0 = soft;
  g0.soft.sampler.thinking.temperature = 0.0f;
  g0.soft.sampler.max_topk = 10;
  EXPECT_EQ(run(g0, {1, 2, 3}).tokens, rg.tokens);
}

TEST(SoftThinking, ConceptTokensAreTopKOfTheFilteredDistribution) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.soft.sampler.max_topk = 5;
  Trace t;
  run(p, {1, 2}, &t);
  ASSERT_FALSE(t.recs.empty());
  const StepRecord& r = t.recs[0];
  ASSERT_TRUE(r.soft);
  EXPECT_LE(r.w.size(), 5u);
  EXPECT_GT(r.w.size(), 1u) << "fixture should give a real mixture";
  float sum = 0;
  for (size_t j = 0; j < r.w.size(); j++) {
    sum += r.w[j];
    if (j) {
      EXPECT_GE(r.w[j - 1], r.w[j]);
    }
  }
  EXPECT_NEAR(sum, 1.0f, 1e-5);
  EXPECT_EQ(r.token, r.ids[0]);
  // the input fed is the weighted embedding of the concept
  std::vector<float> want(16);
  TokenEmbedding::of(tiny_model()).weighted_row(r.w.data(), r.ids.data(), (int)r.w.size(), want.data());
  EXPECT_EQ(t.inputs[0], want);
}

// The Cold Stop rule, written out as the spec: count < tau steps, reset at >= tau, fire at L.
static int expected_cold_stop_step(const std::vector<float>& H, float tau, int L) {
  int count = 0;
  for (size_t i = 0; i < H.size(); i++) {
    count = H[i] < tau ? count + 1 : 0;
    if (count >= L) return (int)i;
  }
  return -1;
}

TEST(SoftThinking, ColdStopCountsResetsAndFiresAtExactlyL) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.max_new_tokens = 30;
  SeqResult free_run = run(p, {1, 2});
  ASSERT_GE(free_run.entropy.size(), 10u);
  std::vector<float> H = free_run.entropy;
  // a tau that some early steps fall below and some do not, so the counter must reset
  std::vector<float> sorted(H.begin(), H.begin() + 10);
  std::sort(sorted.begin(), sorted.end());
  float tau = sorted[6];
  int resets = 0;
  for (int i = 1; i < 10; i++) resets += H[i - 1] < tau && H[i] >= tau;
  ASSERT_GT(resets, 0) << "fixture should exercise a reset";
  int fired = 0, never = 0;
  for (int L = 1; L <= 6; L++) {
    int want = expected_cold_stop_step(H, tau, L);
    p.soft.cold_stop_tau = tau;
    p.soft.cold_stop_steps = L;
    Trace t;
    SeqResult r = run(p, {1, 2}, &t);
    if (want < 0) {  // the counter resets before reaching L: thinking must not be cold-stopped
      never++;
      EXPECT_NE(r.think_end, "cold_stop") << "L=" << L;
      continue;
    }
    fired++;
    ASSERT_GT((int)t.recs.size(), want);
    for (int i = 0; i < want; i++) EXPECT_EQ(t.recs[i].switch_reason, nullptr) << "L=" << L;
    const StepRecord& s = t.recs[want];
    ASSERT_NE(s.switch_reason, nullptr);
    EXPECT_STREQ(s.switch_reason, "cold_stop");
    EXPECT_EQ(s.token, kClose) << "</think> replaces the emitted token";
    EXPECT_FALSE(s.soft) << "</think> is fed as a discrete token";
    EXPECT_EQ(t.inputs[want], std::vector<float>(tiny_model().p.wte + kClose * 16,
                                                 tiny_model().p.wte + (kClose + 1) * 16));
    EXPECT_EQ(r.think_end, "cold_stop");
    EXPECT_EQ(r.thinking_steps, want);
    for (size_t i = want + 1; i < t.recs.size(); i++) {
      EXPECT_FALSE(t.recs[i].thinking);
      EXPECT_FALSE(t.recs[i].soft);
      EXPECT_EQ(t.recs[i].w.size(), 1u);
    }
  }
  EXPECT_GT(fired, 0);
  EXPECT_GT(never, 0) << "fixture should have an L that only a missing reset would reach";
}

TEST(SoftThinking, AfterThinkingUsesItsOwnParameters) {
  // thinking ends at once (budget 0 is "none", so use Cold Stop with a huge tau and L = 1);
  // greedy after-thinking must then be deterministic whatever the seed
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.soft.cold_stop_tau = 100.0f;
  p.soft.cold_stop_steps = 1;
  p.soft.sampler.after.temperature = 0.0f;
  SeqResult a = run(p, {1, 2});
  p.seed = 99;
  SeqResult b = run(p, {1, 2});
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.tokens[0], kClose);
  // and with a sampling after-phase the seed matters
  p.soft.sampler.after = {1.5f, 0, 1.0f, 0.0f};
  SeqResult c = run(p, {1, 2});
  p.seed = 3;
  SeqResult d = run(p, {1, 2});
  EXPECT_NE(c.tokens, d.tokens);
}

TEST(SoftThinking, BudgetForcesTheEndTag) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.soft.max_thinking_tokens = 4;
  Trace t;
  SeqResult r = run(p, {1, 2}, &t);
  ASSERT_GE(t.recs.size(), 5u);
  for (int i = 0; i < 4; i++) EXPECT_TRUE(t.recs[i].soft) << i;
  EXPECT_STREQ(t.recs[4].switch_reason, "budget");
  EXPECT_EQ(t.recs[4].token, kClose);
  EXPECT_EQ(r.thinking_steps, 4);
  EXPECT_EQ(r.think_end, "budget");
}

TEST(SoftThinking, EndTagEmittedByTheModelEndsThinking) {
  // make </think> the most likely token everywhere: its embedding row aligned with the others
  Model m = model_create(tiny_model().cfg);
  std::memcpy(m.memory.get(), tiny_model().memory.get(), m.num_params * sizeof(float));
  for (int i = 0; i < 16; i++) m.p.wte[kClose * 16 + i] = 0;
  m.p.lnfb[0] = 50.0f;
  m.p.wte[kClose * 16 + 0] = 50.0f;
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  std::vector<StepRecord> recs;
  SeqResult r = generate(m, {{1, 2}}, p, [&](const StepRecord& s, const float*) { recs.push_back(s); })[0];
  ASSERT_FALSE(recs.empty());
  EXPECT_STREQ(recs[0].switch_reason, "end_tag");
  EXPECT_EQ(r.think_end, "end_tag");
  EXPECT_EQ(r.thinking_steps, 0);
}

TEST(SoftThinking, EntropyGateSwitchesAfterLLowSteps) {
  GenerateParams p = soft_params(ThinkMode::kEntropyGate);
  p.soft.gate_threshold = 100.0f;  // every step is "low"
  p.soft.gate_steps = 3;
  Trace t;
  SeqResult r = run(p, {1, 2}, &t);
  EXPECT_TRUE(t.recs[0].soft);
  EXPECT_TRUE(t.recs[1].soft);
  EXPECT_STREQ(t.recs[2].switch_reason, "entropy_gate");
  EXPECT_FALSE(t.recs[2].soft);
  EXPECT_NE(t.recs[2].token, kClose) << "no tags in entropy-gate mode";
  EXPECT_EQ(r.thinking_steps, 2);
  for (size_t i = 3; i < t.recs.size(); i++) EXPECT_FALSE(t.recs[i].thinking);
  // the soft-step budget
  p.soft.gate_threshold = 0.0f;
  p.soft.max_thinking_steps = 5;
  Trace t2;
  SeqResult r2 = run(p, {1, 2}, &t2);
  EXPECT_STREQ(t2.recs[5].switch_reason, "budget");
  EXPECT_EQ(r2.thinking_steps, 5);
  EXPECT_EQ(r2.prompt_tokens, 2) << "no tag inserted";
}

TEST(SoftThinking, NoiseIsSeededAndChangesConcepts) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.soft.sampler.dirichlet = true;
  p.soft.sampler.gumbel = true;
  Trace a, b, c;
  run(p, {1, 2}, &a);
  run(p, {1, 2}, &b);
  ASSERT_EQ(a.recs.size(), b.recs.size());
  for (size_t i = 0; i < a.recs.size(); i++) {
    EXPECT_EQ(a.recs[i].w, b.recs[i].w);
    EXPECT_EQ(a.recs[i].ids, b.recs[i].ids);
  }
  p.seed = 4;
  run(p, {1, 2}, &c);
  EXPECT_NE(a.recs[0].w, c.recs[0].w);
}

TEST(SoftThinking, GumbelTop1FrequenciesMatchWeights) {
  std::vector<float> w0 = {0.5f, 0.3f, 0.15f, 0.05f};
  std::vector<int> ids0 = {10, 11, 12, 13};
  Rng rng = rng_init(5);
  const int n = 40000;
  int counts[4] = {};
  for (int i = 0; i < n; i++) {
    std::vector<float> w = w0;
    std::vector<int> ids = ids0;
    gumbel_softmax(&w, &ids, 0.5f, rng);
    for (size_t j = 1; j < w.size(); j++) ASSERT_GE(w[j - 1], w[j]);
    counts[ids[0] - 10]++;
  }
  for (int j = 0; j < 4; j++) {
    double sd = std::sqrt(n * w0[j] * (1 - w0[j]));
    EXPECT_NEAR(counts[j], n * w0[j], 5 * sd) << j;
  }
}

TEST(SoftThinking, DirichletMeansMatchP) {
  std::vector<float> p = {0.6f, 0.25f, 0.1f, 0.05f, 0.0f};
  Rng rng = rng_init(8);
  const int n = 20000;
  std::vector<double> mean(5, 0.0);
  for (int i = 0; i < n; i++) {
    std::vector<float> q = p;
    dirichlet_noise(q.data(), 5, 2.0f, rng);
    double s = 0;
    for (int j = 0; j < 5; j++) {
      mean[j] += q[j];
      s += q[j];
    }
    ASSERT_NEAR(s, 1.0, 1e-5);
    ASSERT_EQ(q[4], 0.0f);
  }
  for (int j = 0; j < 4; j++) {
    // Var of a Dirichlet component: p(1-p)/(alpha+1)
    double sd = std::sqrt(p[j] * (1 - p[j]) / 3.0 / n);
    EXPECT_NEAR(mean[j] / n, p[j], 5 * sd + 1e-4) << j;
  }
  // tiny concentrations (alpha * p << 1) stay finite and normalised
  std::vector<float> q = {0.999f, 0.0005f, 0.0005f};
  dirichlet_noise(q.data(), 3, 0.01f, rng);
  EXPECT_NEAR(q[0] + q[1] + q[2], 1.0f, 1e-5);
}

TEST(SoftThinking, MixtureOfInputsFeedsTheSampledTokenPlusTheConcept) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.soft.sampler.mixing = Mixing::kMoI;
  p.soft.sampler.moi_beta = 1.0f;
  Trace t;
  run(p, {1, 2}, &t);
  const StepRecord& r = t.recs[0];
  ASSERT_TRUE(r.soft);
  float sum = 0;
  for (float x : r.w) sum += x;
  EXPECT_NEAR(sum, 1.0f, 1e-5);
  EXPECT_NE(std::find(r.ids.begin(), r.ids.end(), r.token), r.ids.end());
}

TEST(SoftThinking, MixedPhaseBatchEqualsEachSequenceAlone) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.soft.sampler.gumbel = true;
  p.soft.max_thinking_tokens = 3;  // sequences leave thinking at different steps
  p.max_new_tokens = 12;
  std::vector<std::vector<int>> prompts = {{1, 2, 3}, {4, kOpen}, {5, 6, 7, 8, 9}};
  prompts[0].push_back(kOpen);
  std::vector<SeqResult> batch = generate(tiny_model(), prompts, p);
  for (int s = 0; s < 3; s++) {
    GenerateParams one = p;
    one.seed = p.seed + s;
    SeqResult alone = generate(tiny_model(), {prompts[s]}, one)[0];
    EXPECT_EQ(alone.tokens, batch[s].tokens) << s;
    EXPECT_EQ(alone.entropy, batch[s].entropy) << s;
    EXPECT_EQ(alone.think_end, batch[s].think_end) << s;
  }
}

TEST(SoftThinking, ThinkTagsNeedTheSpecialTokens) {
  GenerateParams p = soft_params(ThinkMode::kThinkTags);
  p.think_close_id = -1;
  expect_error([&] { run(p, {1, 2}); }, "</think>");
  p = soft_params(ThinkMode::kEntropyGate);
  p.think_open_id = p.think_close_id = -1;
  EXPECT_NO_THROW(run(p, {1, 2}));
}

TEST(SoftThinking, OutOfRangeParametersAreRefused) {
  auto bad = [](auto edit, const std::string& needle) {
    GenerateParams p = soft_params(ThinkMode::kThinkTags);
    edit(p);
    expect_error([&] { generate_params_validate(p, kV); }, needle);
  };
  bad([](GenerateParams& p) { p.soft.sampler.max_topk = 0; }, "max_topk");
  bad([](GenerateParams& p) { p.soft.sampler.max_topk = kV + 1; }, "max_topk");
  bad([](GenerateParams& p) { p.soft.cold_stop_tau = -0.1f; }, "tau");
  bad([](GenerateParams& p) { p.soft.cold_stop_steps = 0; }, "steps");
  bad([](GenerateParams& p) { p.soft.sampler.dirichlet_alpha = 0; }, "dirichlet.alpha");
  bad([](GenerateParams& p) { p.soft.sampler.gumbel_tau = 0; }, "gumbel.tau");
  bad([](GenerateParams& p) { p.soft.sampler.thinking.top_p = 0; }, "thinking.top_p");
  bad([](GenerateParams& p) { p.soft.sampler.after.top_p = 1.01f; }, "after_thinking.top_p");
  bad([](GenerateParams& p) { p.soft.sampler.thinking.min_p = 1; }, "min_p");
  bad([](GenerateParams& p) { p.soft.sampler.after.min_p = -0.1f; }, "min_p");
  bad([](GenerateParams& p) { p.soft.gate_steps = 0; }, "entropy_gate.steps");
  bad([](GenerateParams& p) { p.soft.max_thinking_tokens = -1; }, "max_thinking_tokens");
}

// ---- hardening: rows no token owns, non-finite logits, tiny temperatures

TEST(SoftThinking, RowsPastTheVocabLimitAreNeverSampledOrMixed) {
  // a model whose last rows are the likeliest: without the limit they would be picked
  Model m = model_create(tiny_model().cfg);
  std::memcpy(m.memory.get(), tiny_model().memory.get(), m.num_params * sizeof(float));
  const int limit = 30;
  for (int v = limit; v < kV; v++)
    for (int c = 0; c < 16; c++) m.p.wte[(size_t)v * 16 + c] = m.p.wte[(size_t)v * 16 + c] * 4;
  for (ThinkMode mode : {ThinkMode::kOff, ThinkMode::kEntropyGate}) {
    GenerateParams p = soft_params(mode);
    p.eos_id = -1;
    p.max_new_tokens = 40;
    p.sampler.temperature = 2.0f;  // flat: every row has mass
    p.soft.sampler.thinking.temperature = 2.0f;
    p.soft.sampler.thinking.top_k = 0;
    p.soft.sampler.thinking.top_p = 1.0f;
    p.soft.sampler.after = p.sampler;
    p.soft.max_thinking_steps = 40;
    p.soft.gate_threshold = 0;  // stay soft
    bool high_without_limit = false;
    for (int seed = 0; seed < 4; seed++) {
      p.seed = seed;
      p.vocab_limit = 0;
      const SeqResult free_run = generate(m, {{1, 2, 3}}, p)[0];
      for (int t : free_run.tokens) high_without_limit |= t >= limit;
      p.vocab_limit = limit;
      Trace tr;
      StepHook hook = [&](const StepRecord& r, const float*) { tr.recs.push_back(r); };
      SeqResult r = generate(m, {{1, 2, 3}}, p, hook)[0];
      EXPECT_EQ(r.tokens.size(), 40u);
      for (int t : r.tokens) EXPECT_LT(t, limit);
      for (const StepRecord& s : tr.recs)
        for (int id : s.ids) EXPECT_LT(id, limit);
    }
    EXPECT_TRUE(high_without_limit) << "the test model never favours the masked rows";
  }
}

TEST(SoftThinking, NonFiniteLogitsStopTheSequenceWithAnError) {
  Model m = model_create(tiny_model().cfg);
  std::memcpy(m.memory.get(), tiny_model().memory.get(), m.num_params * sizeof(float));
  m.p.wpe[5 * 16 + 3] = INFINITY;  // position 5: every logit from there on is NaN
  for (ThinkMode mode : {ThinkMode::kOff, ThinkMode::kThinkTags}) {
    GenerateParams p = soft_params(mode);
    p.eos_id = -1;
    std::vector<SeqResult> res = generate(m, {{1, 2}, {1}}, p);
    for (const SeqResult& r : res) {
      EXPECT_EQ(r.stop_reason, "non_finite");
      EXPECT_NE(r.error.find("non-finite"), std::string::npos) << r.error;
      EXPECT_NE(r.error.find("position 5"), std::string::npos) << r.error;
      for (int t : r.tokens) EXPECT_TRUE(t >= 0 && t < kV);
    }
    // the token fed at position 5 is the last one sampled from finite logits
    EXPECT_EQ(res[0].tokens.size(), 4u - (mode == ThinkMode::kThinkTags ? 1 : 0));
  }
}

TEST(SoftThinking, TinyTemperaturesAreTheGreedyLimitNotGarbage) {
  GenerateParams greedy = soft_params(ThinkMode::kThinkTags);
  greedy.soft.sampler.thinking.temperature = 0;
  greedy.soft.sampler.after.temperature = 0;
  SeqResult want = run(greedy, {1, 2, 3});
  for (float t : {1e-40f, 1e-30f, 1e-12f}) {
    GenerateParams p = soft_params(ThinkMode::kThinkTags);
    p.soft.sampler.thinking.temperature = t;
    p.soft.sampler.after.temperature = t;
    Trace tr;
    SeqResult r = run(p, {1, 2, 3}, &tr);
    EXPECT_EQ(r.tokens, want.tokens) << "T = " << t;
    for (const StepRecord& s : tr.recs) {
      EXPECT_TRUE(std::isfinite(s.entropy)) << "T = " << t;
      EXPECT_EQ(s.ids.size(), 1u) << "T = " << t;  // one-hot concepts
    }
    GenerateParams plain = soft_params(ThinkMode::kOff);
    plain.sampler.temperature = t;
    GenerateParams plain0 = plain;
    plain0.sampler.temperature = 0;
    EXPECT_EQ(run(plain, {1, 2, 3}).tokens, run(plain0, {1, 2, 3}).tokens) << "T = " << t;
  }
}

TEST(SoftThinking, ConceptBackwardMatchesFiniteDifferencesThroughTheFilters) {
  // a loss linear in the concept's weights, keyed by id: L = sum_j c[id_j] w_j
  const int V = 50;
  SoftSamplerParams p;
  p.thinking = {0.7f, 8, 0.9f, 0.01f};
  p.max_topk = 5;
  std::vector<float> logits = random_vec(V, 21, 0.5f), c = random_vec(V, 22), probs(V);
  auto concept_of = [&](const std::vector<float>& l) {
    Rng rng = rng_init(1);  // no noise: the RNG is unused
    SoftSample s;
    soft_sample(p, /*thinking=*/true, l.data(), V, rng, probs.data(), &s);
    return s;
  };
  auto loss = [&] {
    SoftSample s = concept_of(logits);
    double L = 0;
    for (size_t j = 0; j < s.ids.size(); j++) L += (double)c[s.ids[j]] * s.w[j];
    return L;
  };
  SoftSample s = concept_of(logits);
  ASSERT_EQ(s.ids.size(), 5u);  // max_topk entries: all of them carry gradient
  std::vector<float> dw(s.ids.size()), dlogits(V, 0.0f);
  for (size_t j = 0; j < s.ids.size(); j++) dw[j] = c[s.ids[j]];
  concept_backward(s.w, s.ids, dw.data(), p.thinking.temperature, dlogits.data());
  // every logit: the K selected get the softmax-over-K gradient, the rest none
  expect_grad_close(loss, logits.data(), dlogits.data(), all_indices(V), "dlogits", 1e-3f, 1e-3,
                    2e-2);
  int nonzero = 0;
  for (float x : dlogits) nonzero += x != 0.0f;
  EXPECT_EQ(nonzero, (int)s.ids.size());
  expect_error([&] { concept_backward(s.w, s.ids, dw.data(), 0.0f, dlogits.data()); },
               "temperature");
}

// Continuous batching: sequences with different modes and params join a running Decoder at
// different steps, into slots freed by others, and one is cancelled; each gives exactly what
// it gives decoded alone, and the logprobs it records are those of its own logits.
TEST(Decoder, SequencesJoiningMidwayEqualEachAlone) {
  auto w = inference_weights_create(tiny_model(), Dtype::kF32);
  std::vector<DecodeRequest> reqs(5);
  const ThinkMode modes[] = {ThinkMode::kThinkTags, ThinkMode::kOff, ThinkMode::kEntropyGate,
                             ThinkMode::kThinkTags, ThinkMode::kOff};
  for (int i = 0; i < 5; i++) {
    reqs[i].prompt = {1 + i, 2 + i, 3};
    reqs[i].params = soft_params(modes[i]);
    reqs[i].params.seed = 40 + i;
    reqs[i].params.max_new_tokens = 6 + 3 * i;
    reqs[i].params.soft.sampler.gumbel = i == 3;
    reqs[i].params.sampler.temperature = i == 4 ? 0.0f : 1.0f;
    reqs[i].logprobs = 2;
  }
  reqs[3].prompt_logprobs = true;
  Decoder d = decoder_create(w, 2);  // two slots for five sequences
  std::vector<SeqResult> got(5);
  std::vector<std::vector<TokenLogprob>> lps(5);
  std::vector<int> slot_of(5, -1);
  int next = 0, steps = 0;
  // one joins every other step while a slot is free
  while (next < 5 || decoder_live(d) > 0) {
    if (next < 5 && steps % 2 == 0) {
      const int s = decoder_add(d, reqs[next]);
      if (s >= 0) slot_of[next++] = s;
    }
    for (int s : decoder_step(d))
      for (int i = 0; i < 5; i++)
        if (slot_of[i] == s) {
          got[i] = d.slots[s].res;
          lps[i] = d.slots[s].logprobs;
          slot_of[i] = -1;
          decoder_release(d, s);
        }
    steps++;
    ASSERT_LT(steps, 500);
  }
  EXPECT_EQ(decoder_free(d), 2);
  for (int i = 0; i < 5; i++) {
    SeqResult alone = generate(w, {reqs[i].prompt}, reqs[i].params)[0];
    EXPECT_EQ(got[i].tokens, alone.tokens) << i;
    EXPECT_EQ(got[i].entropy, alone.entropy) << i;
    EXPECT_EQ(got[i].stop_reason, alone.stop_reason) << i;
    ASSERT_EQ(lps[i].size(), got[i].tokens.size()) << i;
    for (const TokenLogprob& t : lps[i]) {
      EXPECT_LE(t.logprob, 0.0f);
      ASSERT_EQ(t.top_ids.size(), 2u);
      EXPECT_GE(t.top_logprobs[0], t.top_logprobs[1]);
      EXPECT_GE(t.top_logprobs[0], t.logprob);
    }
  }
  // greedy: the emitted token is the most probable one
  for (const TokenLogprob& t : lps[4]) EXPECT_EQ(t.token, t.top_ids[0]);

  // a cancelled sequence stops at once and frees its slot; the other is untouched
  Decoder c = decoder_create(w, 2);
  const int a = decoder_add(c, reqs[0]), b = decoder_add(c, reqs[1]);
  EXPECT_EQ(decoder_add(c, reqs[2]), -1) << "no free slot";
  decoder_step(c);
  decoder_cancel(c, a);
  EXPECT_EQ(c.slots[a].res.stop_reason, "cancelled");
  EXPECT_EQ(decoder_live(c), 1);
  while (decoder_live(c) > 0) decoder_step(c);
  EXPECT_EQ(c.slots[b].res.tokens, generate(w, {reqs[1].prompt}, reqs[1].params)[0].tokens);
  decoder_release(c, a);
  EXPECT_EQ(decoder_free(c), 1);
}

TEST(Decoder, PromptLogprobsEqualAFullForward) {
  auto w = inference_weights_create(tiny_model(), Dtype::kF32);
  DecodeRequest r;
  r.prompt = {5, 9, 2, 30, 7};
  r.params = soft_params(ThinkMode::kOff);
  r.params.max_new_tokens = 0;
  r.prompt_logprobs = true;
  r.logprobs = 0;
  Decoder d = decoder_create(w, 1);
  ASSERT_EQ(decoder_add(d, r), 0);
  EXPECT_EQ(decoder_step(d), std::vector<int>{0});
  const auto& lp = d.slots[0].prompt_logprobs;
  ASSERT_EQ(lp.size(), 4u);
  Transformer tr = transformer_create(w, 1);
  std::vector<int> seq(5, 0), pos = {0, 1, 2, 3, 4};
  std::vector<float> logits(5 * kV);
  transformer_forward_tokens(tr, 5, seq.data(), pos.data(), r.prompt.data(), 5, nullptr, logits.data());
  for (int t = 0; t < 4; t++) {
    const float* l = logits.data() + t * kV;
    double z = 0;
    for (int v = 0; v < kV; v++) z += std::exp((double)l[v]);
    EXPECT_NEAR(lp[t].logprob, l[r.prompt[t + 1]] - std::log(z), 1e-5) << t;
    EXPECT_EQ(lp[t].token, r.prompt[t + 1]);
  }
}
