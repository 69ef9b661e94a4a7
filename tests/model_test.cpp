// Whole-model gradients, and the inference path against the training forward.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>

#include "base/error.h"
#include "model/embeddings.h"
#include "model/gpt2_train.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace softslm;
using namespace softslm::testing;

static ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 37;
  c.n_ctx = 12;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 4;
  return c;
}

// 0, 1, ..., T - 1: the positions of a prompt of T tokens.
static std::vector<int> positions_from_zero(int T) {
  std::vector<int> pos(T);
  for (int t = 0; t < T; t++) pos[t] = t;
  return pos;
}

static std::vector<int> random_tokens(int n, int V, uint64_t seed) {
  Rng r = rng_init(seed);
  std::vector<int> t(n);
  for (auto& x : t) x = (int)rng_below(r, V);
  return t;
}

TEST(Model, ConfigValidation) {
  ModelConfig c = tiny_config();
  c.n_head = 5;
  try {
    model_create(c);
    FAIL() << "n_embd not divisible by n_head accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("divisible"), std::string::npos) << e.what();
  }
  c = tiny_config();
  c.n_layer = 0;
  EXPECT_THROW(model_create(c), Error);
  c = tiny_config();
  c.eos_token_id = 37;
  EXPECT_THROW(model_create(c), Error);
}

TEST(Model, InitIsSeeded) {
  Model a = model_create(tiny_config()), b = model_create(tiny_config()),
        c = model_create(tiny_config());
  model_init_random(a, 7);
  model_init_random(b, 7);
  model_init_random(c, 8);
  EXPECT_EQ(0, std::memcmp(a.memory.get(), b.memory.get(), a.num_params * sizeof(float)));
  EXPECT_NE(0, std::memcmp(a.memory.get(), c.memory.get(), a.num_params * sizeof(float)));
}

TEST(Model, WholeModelGradientsMatchFiniteDifferences) {
  ModelConfig c = tiny_config();
  Model m = model_create(c);
  model_init_random(m, 1);
  // larger weights than the default init so every path carries signal
  Rng r = rng_init(99);
  for (size_t i = 0; i < m.num_params; i++) m.memory[i] += 0.1f * rng_normal(r);
  int B = 2, T = 6;
  auto inp = random_tokens(B * T, c.vocab_size, 2);
  auto tgt = random_tokens(B * T, c.vocab_size, 3);
  tgt[1] = tgt[7] = -1;  // masked positions
  TrainGraph g = train_graph_create(m, B, T);
  gpt2_forward(m, g, inp.data(), tgt.data(), B, T);
  EXPECT_EQ(g.n_counted, B * T - 2);
  gpt2_backward(m, g);
  std::vector<float> grads(g.grad_memory.get(), g.grad_memory.get() + m.num_params);
  auto loss = [&] { return (double)gpt2_forward(m, g, inp.data(), tgt.data(), B, T); };
  // check a sample of every tensor
  auto sizes = param_sizes(c);
  size_t off = 0;
  const char* names[kNumParamTensors] = {"wte",  "wpe",  "ln1w", "ln1b",    "qkvw",   "qkvb",
                                         "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb",
                                         "fcprojw", "fcprojb", "lnfw", "lnfb"};
  for (int t = 0; t < kNumParamTensors; t++) {
    auto idx = sample_indices(sizes[t], 40, 100 + t);
    expect_grad_close(loss, m.memory.get() + off, grads.data() + off, idx, names[t], 2e-3f, 2e-4,
                      3e-2);
    off += sizes[t];
  }
}

TEST(Model, HeadOnTargetedRowsOnlyGivesTheSameLossAndGradients) {
  // Most positions without a target (a prompt): the LM head on the targeted rows alone gives
  // the full head's loss, per-position losses, probabilities on those rows and gradients.
  ModelConfig c = tiny_config();
  Model m = model_create(c);
  model_init_random(m, 4);
  int B = 3, T = 8, BT = B * T;
  auto inp = random_tokens(BT, c.vocab_size, 5);
  auto tgt = random_tokens(BT, c.vocab_size, 6);
  for (int i = 0; i < BT; i++)
    if (i % T < 5) tgt[i] = -1;
  tgt[T + 2] = 3;  // a lone target inside a prompt
  TrainGraph full = train_graph_create(m, B, T), head = train_graph_create(m, B, T);
  head.head_rows_only = true;
  float lf = gpt2_forward(m, full, inp.data(), tgt.data(), B, T);
  float lh = gpt2_forward(m, head, inp.data(), tgt.data(), B, T);
  EXPECT_NEAR(lf, lh, 1e-6f);
  EXPECT_EQ(full.n_counted, head.n_counted);
  ASSERT_EQ((int)head.head_rows.size(), full.n_counted);
  for (int i = 0; i < BT; i++) EXPECT_EQ(full.a.losses[i], head.a.losses[i]) << i;
  for (size_t r = 0; r < head.head_rows.size(); r++)
    for (int v = 0; v < c.vocab_size; v++)
      ASSERT_EQ(full.a.logits[(size_t)head.head_rows[r] * c.vocab_size + v],
                head.a.logits[r * c.vocab_size + v]);
  gpt2_backward(m, full);
  gpt2_backward(m, head);
  double worst = 0;
  for (size_t i = 0; i < m.num_params; i++)
    worst = std::max(worst, (double)std::fabs(full.grad_memory[i] - head.grad_memory[i]));
  EXPECT_LT(worst, 1e-6);
  // a second, different batch reuses the head buffers correctly
  auto tgt2 = random_tokens(BT, c.vocab_size, 7);
  for (int i = 0; i < BT; i += 2) tgt2[i] = -1;
  EXPECT_NEAR(gpt2_forward(m, full, inp.data(), tgt2.data(), B, T),
              gpt2_forward(m, head, inp.data(), tgt2.data(), B, T), 1e-6f);
  // with no target at all: loss 0 and zero gradients, no crash
  std::vector<int> none(BT, -1);
  EXPECT_EQ(gpt2_forward(m, head, inp.data(), none.data(), B, T), 0.0f);
  gpt2_backward(m, head);
  for (size_t i = 0; i < m.num_params; i++) ASSERT_EQ(head.grad_memory[i], 0.0f) << i;
}

TEST(Model, PrefillPlusDecodeEqualsFullSequenceLogits) {
  ModelConfig c = tiny_config();
  Model m = model_create(c);
  model_init_random(m, 3);
  int T = c.n_ctx, V = c.vocab_size;
  auto toks = random_tokens(T, V, 4);
  TrainGraph g = train_graph_create(m, 1, T);
  gpt2_forward(m, g, toks.data(), nullptr, 1, T);
  // the training forward leaves probs; recompute logits via log-probs comparison
  Transformer tr = transformer_create(m, 1);
  int P = 5;
  std::vector<int> seq(T, 0), pos = positions_from_zero(T);
  std::vector<float> logits((size_t)T * V);
  transformer_forward_tokens(tr, P, seq.data(), pos.data(), toks.data(), P, nullptr,
                             logits.data());
  for (int t = P; t < T; t++)
    transformer_forward_tokens(tr, 1, &seq[t], &pos[t], &toks[t], 1, nullptr,
                               logits.data() + (size_t)t * V);
  double max_rel = 0;
  for (int t = 0; t < T; t++) {
    float* l = logits.data() + (size_t)t * V;
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = std::max(mx, l[v]);
    double s = 0;
    for (int v = 0; v < V; v++) s += std::exp(l[v] - mx);
    for (int v = 0; v < V; v++) {
      double p = std::exp(l[v] - mx) / s, q = g.a.logits[(size_t)t * V + v];
      max_rel = std::max(max_rel, std::fabs(p - q) / std::max(q, 1e-6));
    }
  }
  EXPECT_LE(max_rel, 1e-5);
}

TEST(Model, DecodeLogitsMatchTrainingLogitsExactlyEnough) {
  // raw logits comparison: recompute the training forward's logits from its lnf output
  ModelConfig c = tiny_config();
  Model m = model_create(c);
  model_init_random(m, 5);
  int T = 9, V = c.vocab_size, C = c.n_embd;
  auto toks = random_tokens(T, V, 6);
  TrainGraph g = train_graph_create(m, 1, T);
  gpt2_forward(m, g, toks.data(), nullptr, 1, T);
  Transformer tr = transformer_create(m, 1);
  std::vector<float> logits(V);
  for (int t = 0; t < T; t++) {
    int s = 0;
    transformer_forward_tokens(tr, 1, &s, &t, &toks[t], 1, nullptr, logits.data());
    for (int v = 0; v < V; v++) {
      double ref = 0;
      for (int i = 0; i < C; i++) ref += (double)g.a.lnf[(size_t)t * C + i] * m.p.wte[(size_t)v * C + i];
      ASSERT_LE(std::fabs(logits[v] - ref), 1e-5 * std::max(1.0, std::fabs(ref))) << t << "," << v;
    }
  }
}

TEST(Model, BatchDecodeEqualsEachSequenceAlone) {
  ModelConfig c = tiny_config();
  Model m = model_create(c);
  model_init_random(m, 7);
  const int S = 3, V = c.vocab_size;
  int prompt_len[S] = {2, 5, 3};
  int steps = 4;
  std::vector<std::vector<int>> toks(S);
  for (int s = 0; s < S; s++) toks[s] = random_tokens(prompt_len[s] + steps, V, 10 + s);
  // alone: one transformer per sequence
  std::vector<std::vector<float>> alone(S);
  for (int s = 0; s < S; s++) {
    Transformer tr = transformer_create(m, 1);
    int n = prompt_len[s] + steps;
    std::vector<int> seq(n, 0), pos(n);
    for (int t = 0; t < n; t++) pos[t] = t;
    alone[s].resize((size_t)n * V);
    transformer_forward_tokens(tr, prompt_len[s], seq.data(), pos.data(), toks[s].data(),
                               prompt_len[s], nullptr, alone[s].data());
    for (int t = prompt_len[s]; t < n; t++)
      transformer_forward_tokens(tr, 1, &seq[t], &pos[t], &toks[s][t], 1, nullptr,
                                 alone[s].data() + (size_t)t * V);
  }
  // batched: prefill each into its slot, then decode all three per step (different positions)
  Transformer tr = transformer_create(m, S);
  for (int s = 0; s < S; s++) {
    std::vector<int> seq(prompt_len[s], s), pos(prompt_len[s]);
    for (int t = 0; t < prompt_len[s]; t++) pos[t] = t;
    std::vector<float> lg((size_t)prompt_len[s] * V);
    transformer_forward_tokens(tr, prompt_len[s], seq.data(), pos.data(), toks[s].data(),
                               prompt_len[s], nullptr, lg.data());
    for (size_t i = 0; i < lg.size(); i++) ASSERT_EQ(lg[i], alone[s][i]);
  }
  for (int k = 0; k < steps; k++) {
    int seq[S], pos[S], tk[S];
    for (int s = 0; s < S; s++) {
      seq[s] = S - 1 - s;  // rows in a different order than slots
      pos[s] = prompt_len[seq[s]] + k;
      tk[s] = toks[seq[s]][pos[s]];
    }
    std::vector<float> lg((size_t)S * V);
    transformer_forward_tokens(tr, S, seq, pos, tk, S, nullptr, lg.data());
    for (int s = 0; s < S; s++)
      for (int v = 0; v < V; v++)
        ASSERT_EQ(lg[(size_t)s * V + v], alone[seq[s]][(size_t)pos[s] * V + v])
            << "seq " << seq[s] << " step " << k;
  }
}

// The forward splits the columns of every product over the thread team and fuses bias, GELU,
// residual and cache writes: any thread count, a long prefill, a short one and single steps
// give the same bits, including vocabulary and widths that are not multiples of the tiles
// and panels; head sizes 16 and 24 (the attention's vector and scalar value paths).
TEST(Model, ForwardIsTheSameForAnyRowsAndThreads) {
  for (int n_embd : {64, 96}) {  // head sizes 16 and 24
    SCOPED_TRACE("n_embd " + std::to_string(n_embd));
    ModelConfig c;
    c.vocab_size = 301, c.n_ctx = 80, c.n_embd = n_embd, c.n_layer = 2, c.n_head = 4;
    Model m = model_create(c);
    model_init_random(m, 11);
    const int T = 72, V = c.vocab_size;
    auto toks = random_tokens(T, V, 12);
    std::vector<int> seq(T, 0), pos = positions_from_zero(T);
    int saved = omp_get_max_threads();
    std::vector<float> ref((size_t)T * V), got((size_t)T * V), one(V), some((size_t)5 * V);
    omp_set_num_threads(1);
    Transformer base = transformer_create(m, 1);
    transformer_forward_tokens(base, T, seq.data(), pos.data(), toks.data(), T, nullptr, ref.data());
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      Transformer all = transformer_create(m, 1);
      transformer_forward_tokens(all, T, seq.data(), pos.data(), toks.data(), T, nullptr, got.data());
      for (size_t i = 0; i < got.size(); i++) ASSERT_EQ(got[i], ref[i]) << threads << " threads";
      Transformer step = transformer_create(m, 1);
      // a 5-row prefill, then one row at a time
      transformer_forward_tokens(step, 5, seq.data(), pos.data(), toks.data(), 5, nullptr, some.data());
      for (size_t i = 0; i < some.size(); i++) ASSERT_EQ(some[i], ref[i]) << threads << " threads";
      for (int t = 5; t < T; t++) {
        transformer_forward_tokens(step, 1, &seq[t], &pos[t], &toks[t], 1, nullptr, one.data());
        for (int v = 0; v < V; v++)
          ASSERT_EQ(one[v], ref[(size_t)t * V + v]) << "t " << t << ", " << threads << " threads";
      }
    }
    omp_set_num_threads(saved);
  }
}

// A model handed over is packed in its own memory (no second copy of the matrices) and gives
// the bits of packed copies; the borrowed model is left as it was.
TEST(Model, WeightsPackedInPlaceEqualPackedCopies) {
  ModelConfig c;
  c.vocab_size = 301, c.n_ctx = 40, c.n_embd = 64, c.n_layer = 2, c.n_head = 4;
  Model m = model_create(c);
  model_init_random(m, 13);
  std::vector<float> before(m.memory.get(), m.memory.get() + m.num_params);
  const int T = 30, V = c.vocab_size;
  auto toks = random_tokens(T, V, 14);
  std::vector<int> seq(T, 0), pos = positions_from_zero(T);
  std::vector<float> ref((size_t)T * V), got((size_t)T * V);
  Transformer copy = transformer_create(m, 1);
  transformer_forward_tokens(copy, T, seq.data(), pos.data(), toks.data(), T, nullptr, ref.data());
  for (size_t i = 0; i < before.size(); i++) ASSERT_EQ(m.memory[i], before[i]) << "borrowed model changed";
  EXPECT_EQ(copy.w->w32.n_storage, (size_t)c.n_layer * 12 * c.n_embd * c.n_embd + (size_t)c.n_embd * V);
  Model handed = model_create(c);
  std::copy(before.begin(), before.end(), handed.memory.get());
  auto w = inference_weights_create(std::move(handed), Dtype::kF32);
  EXPECT_EQ(w->w32.n_storage, (size_t)c.n_embd * V) << "only the LM head is a copy";
  EXPECT_EQ(w->w32.fcw, w->model->p.fcw) << "packed in the model's memory";
  Transformer own = transformer_create(w, 1);
  transformer_forward_tokens(own, T, seq.data(), pos.data(), toks.data(), T, nullptr, got.data());
  for (size_t i = 0; i < got.size(); i++) ASSERT_EQ(got[i], ref[i]) << i;
}

// bf16 weights: logits within the 1e-2 relative error of float32 on a model of the
// reference width, and a long prefill gives the bits of step-by-step decoding.
TEST(Model, Bf16LogitsAreCloseToFloat32) {
  ModelConfig c;
  c.vocab_size = 500, c.n_ctx = 80, c.n_embd = 128, c.n_layer = 3, c.n_head = 4;
  Model m = model_create(c);
  model_init_random(m, 21);
  const int T = 70, V = c.vocab_size;
  auto toks = random_tokens(T, V, 22);
  std::vector<int> seq(T, 0), pos = positions_from_zero(T);
  Transformer f32 = transformer_create(m, 1), b16 = transformer_create(m, 1, Dtype::kBF16);
  EXPECT_EQ(b16.w->w32.wteT, nullptr);
  EXPECT_EQ(b16.w->w16.n_storage,  // 12 C x C matrices per layer and the LM head
            (size_t)c.n_layer * 12 * c.n_embd * c.n_embd + (size_t)c.n_embd * V);
  std::vector<float> ref((size_t)T * V), got((size_t)T * V), one(V);
  transformer_forward_tokens(f32, T, seq.data(), pos.data(), toks.data(), T, nullptr, ref.data());
  transformer_forward_tokens(b16, T, seq.data(), pos.data(), toks.data(), T, nullptr, got.data());
  double num = 0, den = 0, worst = 0;
  for (int t = 0; t < T; t++) {
    double n2 = 0, d2 = 0;
    for (int v = 0; v < V; v++) {
      double d = got[(size_t)t * V + v] - ref[(size_t)t * V + v];
      n2 += d * d, d2 += (double)ref[(size_t)t * V + v] * ref[(size_t)t * V + v];
    }
    num += n2, den += d2, worst = std::max(worst, std::sqrt(n2 / d2));
  }
  EXPECT_LE(worst, 1e-2) << "relative logit error, worst position";
  EXPECT_GT(std::sqrt(num / den), 1e-5) << "bf16 weights should not give float32 logits";
  Transformer step = transformer_create(m, 1, Dtype::kBF16);
  for (int t = 0; t < T; t++) {
    transformer_forward_tokens(step, 1, &seq[t], &pos[t], &toks[t], 1, nullptr, one.data());
    for (int v = 0; v < V; v++) ASSERT_EQ(one[v], got[(size_t)t * V + v]) << t;
  }
  EXPECT_EQ(dtype_parse("bf16"), Dtype::kBF16);
  EXPECT_EQ(dtype_parse("f32"), Dtype::kF32);
  try {
    dtype_parse("fp8");
    ADD_FAILURE() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--dtype"), std::string::npos) << e.what();
  }
}

TEST(Model, ForwardRejectsBadInput) {
  ModelConfig c = tiny_config();
  Model m = model_create(c);
  Transformer tr = transformer_create(m, 1);
  std::vector<float> lg(c.vocab_size);
  int s = 0, p = c.n_ctx, t = 1;
  EXPECT_THROW(transformer_forward_tokens(tr, 1, &s, &p, &t, 1, nullptr, lg.data()), Error);
  p = 0;
  t = c.vocab_size;
  EXPECT_THROW(transformer_forward_tokens(tr, 1, &s, &p, &t, 1, nullptr, lg.data()), Error);
  s = 1;
  t = 0;
  EXPECT_THROW(transformer_forward_tokens(tr, 1, &s, &p, &t, 1, nullptr, lg.data()), Error);
  EXPECT_THROW(train_graph_create(m, 1, c.n_ctx + 1), Error);
}
