// Soft inputs in the training graph: concept tokens and raw vectors at any position of a
// [B, T] batch, their forward equal to the inference seam's, their backward into the
// embedding rows of each mixture and into the inputs themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "model/gpt2_train.h"
#include "base/io.h"
#include "train/latent.h"
#include "train/soft_training.h"
#include "train/trainer.h"
#include "test_util.h"

using namespace softslm;
using namespace softslm::testing;

namespace {

constexpr int kB = 2, kT = 6;

Model soft_test_model() {
  ModelConfig c;
  c.vocab_size = 37;
  c.n_ctx = 12;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 4;
  Model m = model_create(c);
  model_init_random(m, 1);
  Rng r = rng_init(99);  // larger weights than the init, so every path carries signal
  for (size_t i = 0; i < m.num_params; i++) m.memory[i] += 0.1f * rng_normal(r);
  return m;
}

std::vector<int> ids_of(int n, uint64_t seed) {
  Rng r = rng_init(seed);
  std::vector<int> t(n);
  for (auto& x : t) x = (int)rng_below(r, 37);
  return t;
}

// Positions 1 and 8 are concepts (3 and 4 entries, unnormalised weights), 4 a raw vector.
std::vector<StepInput> mixed_inputs() {
  std::vector<int> ids = ids_of(kB * kT, 2);
  std::vector<StepInput> in;
  for (int id : ids) in.push_back(StepInput::of_token(id));
  in[1] = StepInput::of_concept({0.5f, 1.5f, 1.0f}, {3, 17, 30});
  in[8] = StepInput::of_concept({0.2f, 0.1f, 0.6f, 0.1f}, {5, 5, 11, 36});  // a repeated id
  in[4] = StepInput::of_vector(random_vec(16, 5, 0.5f));
  return in;
}

std::vector<float> grads_of(const TrainGraph& g, const Model& m) {
  return std::vector<float>(g.grad_memory.get(), g.grad_memory.get() + m.num_params);
}

}  // namespace

TEST(SoftTrain, OneHotConceptsTrainBitForBitLikeTheTokens) {
  Model m = soft_test_model();
  std::vector<int> ids = ids_of(kB * kT, 2), tgt = ids_of(kB * kT, 3);
  tgt[2] = -1;
  TrainGraph g = train_graph_create(m, kB, kT);
  float loss_tokens = gpt2_forward(m, g, ids.data(), tgt.data(), kB, kT);
  gpt2_backward(m, g);
  std::vector<float> want = grads_of(g, m);
  // the same ids as tokens, as one-hot concepts, and as concepts with zero-weight extras
  for (int variant = 0; variant < 3; variant++) {
    std::vector<StepInput> in;
    for (int id : ids)
      in.push_back(variant == 0   ? StepInput::of_token(id)
                   : variant == 1 ? StepInput::of_concept({1.0f}, {id})
                                  : StepInput::of_concept({2.0f, 0.0f}, {id, (id + 1) % 37}));
    float loss = gpt2_forward_inputs(m, g, in.data(), tgt.data(), kB, kT);
    EXPECT_EQ(loss, loss_tokens) << variant;
    gpt2_backward(m, g);
    std::vector<float> got = grads_of(g, m);
    EXPECT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float))) << variant;
  }
}

TEST(SoftTrain, ConceptAndVectorGradientsMatchFiniteDifferences) {
  Model m = soft_test_model();
  std::vector<StepInput> in = mixed_inputs();
  std::vector<int> tgt = ids_of(kB * kT, 3);
  TrainGraph g = train_graph_create(m, kB, kT);
  gpt2_forward_inputs(m, g, in.data(), tgt.data(), kB, kT);
  gpt2_backward(m, g);
  std::vector<float> grads = grads_of(g, m);
  auto loss = [&] { return (double)gpt2_forward_inputs(m, g, in.data(), tgt.data(), kB, kT); };
  // the concept weights (through the renormalisation) and the raw vector
  std::vector<std::vector<float>> dweights = g.dweights;
  std::vector<float> dvectors = g.dvectors;
  for (int pos : {1, 8}) {
    ASSERT_EQ(dweights[pos].size(), in[pos].weights.size());
    expect_grad_close(loss, in[pos].weights.data(), dweights[pos].data(),
                      all_indices(in[pos].weights.size()), "concept weights", 2e-3f, 2e-4, 3e-2);
  }
  expect_grad_close(loss, in[4].vec.data(), dvectors.data() + 4 * 16, all_indices(16),
                    "input vector", 2e-3f, 2e-4, 3e-2);
  for (int pos : {0, 2, 3})  // token rows have no input gradient of their own
    EXPECT_TRUE(dweights[pos].empty());
  // the embedding rows that only the mixtures use, and wte / wpe as a whole
  std::vector<size_t> rows;
  for (int id : {3, 17, 30, 5, 11, 36})
    for (int c = 0; c < 16; c++) rows.push_back((size_t)id * 16 + c);
  expect_grad_close(loss, m.p.wte, grads.data(), rows, "wte rows of the mixtures", 2e-3f, 2e-4,
                    3e-2);
  const size_t wpe_off = (size_t)(m.p.wpe - m.memory.get());
  expect_grad_close(loss, m.p.wpe, grads.data() + wpe_off, sample_indices(12 * 16, 60, 7), "wpe",
                    2e-3f, 2e-4, 3e-2);
}

TEST(SoftTrain, AMixturesGradientIsTheWeightedSumOfItsRowsGradients) {
  // the concept at position 1 fed as its mixture vector instead: that run's input gradient d
  // is the concept's; the concept run adds a_j * d to row id_j on top of everything else
  Model m = soft_test_model();
  std::vector<StepInput> in = mixed_inputs();
  std::vector<int> tgt = ids_of(kB * kT, 3);
  TrainGraph g = train_graph_create(m, kB, kT);
  gpt2_forward_inputs(m, g, in.data(), tgt.data(), kB, kT);
  gpt2_backward(m, g);
  std::vector<float> with_concept = grads_of(g, m);
  std::vector<StepInput> as_vector = in;
  std::vector<float> mix(16);
  TokenEmbedding::of(m).weighted_row(in[1].weights.data(), in[1].ids.data(), 3, mix.data());
  as_vector[1] = StepInput::of_vector(mix);
  gpt2_forward_inputs(m, g, as_vector.data(), tgt.data(), kB, kT);
  gpt2_backward(m, g);
  std::vector<float> with_vector = grads_of(g, m);
  const float* d = g.dvectors.data() + 16;
  const float sum = 0.5f + 1.5f + 1.0f;
  for (int j = 0; j < 3; j++) {
    const int id = in[1].ids[j];
    const float a = in[1].weights[j] / sum;
    for (int c = 0; c < 16; c++) {
      const size_t i = (size_t)id * 16 + c;
      EXPECT_NEAR(with_concept[i] - with_vector[i], a * d[c], 1e-6f) << "row " << id << " " << c;
    }
  }
  // every other parameter's gradient is the same in both runs (the same forward)
  const size_t wte_end = (size_t)37 * 16;
  for (size_t i = wte_end; i < m.num_params; i++)
    ASSERT_EQ(with_concept[i], with_vector[i]) << "param " << i;
}

TEST(SoftTrain, BadSoftInputsAreRefused) {
  Model m = soft_test_model();
  TrainGraph g = train_graph_create(m, kB, kT);
  std::vector<StepInput> in = mixed_inputs();
  std::vector<int> tgt = ids_of(kB * kT, 3);
  auto refused = [&](StepInput bad, const char* needle) {
    std::vector<StepInput> x = in;
    x[3] = std::move(bad);
    try {
      gpt2_forward_inputs(m, g, x.data(), tgt.data(), kB, kT);
      ADD_FAILURE() << "accepted; expected an error with '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(StepInput::of_concept({1.0f}, {37}), "outside the vocabulary");
  refused(StepInput::of_concept({-1.0f, 2.0f}, {1, 2}), "weight");
  refused(StepInput::of_concept({0.0f, 0.0f}, {1, 2}), "sum to 0");
  refused(StepInput::of_concept({NAN}, {1}), "weight");
  refused(StepInput::of_vector(std::vector<float>(15, 0.0f)), "width");
  refused(StepInput::of_vector({INFINITY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
          "non-finite");
  refused(StepInput::of_token(-3), "outside the vocabulary");
}

// ---- latent steps with gradient through time

namespace {

LatentBatch three_latent_batch() {
  LatentBatch b;
  b.B = kB;
  b.T = kT;
  b.n_latent = 3;
  for (int id : ids_of(kB * kT, 2)) b.inputs.push_back(StepInput::of_token(id));
  b.targets = ids_of(kB * kT, 3);
  for (int r = 0; r < kB; r++)  // the latents' own positions carry no loss (as in Coconut)
    for (int t = 0; t < kT; t++)
      if (t >= 1 && t <= 3) b.targets[r * kT + t - 1] = -1;
  b.latent_pos = {1, 2, 3, 2, 3, 4};  // row 0: 1..3; row 1: 2..4
  return b;
}

void expect_latent_grads_match(LatentKind kind, const SoftSamplerParams& p) {
  Model m = soft_test_model();
  LatentBatch b = three_latent_batch();
  LatentGraph lg = latent_graph_create(m, kB, kT, 3);
  latent_forward(m, lg, b, kind, p);
  latent_backward(m, lg, b, kind, p);
  std::vector<float> grads = lg.grads;
  auto loss = [&] { return (double)latent_forward(m, lg, b, kind, p); };
  auto sizes = param_sizes(m.cfg);
  size_t off = 0;
  const char* names[kNumParamTensors] = {"wte",  "wpe",  "ln1w", "ln1b",    "qkvw",   "qkvb",
                                         "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb",
                                         "fcprojw", "fcprojb", "lnfw", "lnfb"};
  for (int t = 0; t < kNumParamTensors; t++) {
    expect_grad_close(loss, m.memory.get() + off, grads.data() + off,
                      sample_indices(sizes[t], 24, 300 + t), names[t], 2e-3f, 3e-4, 4e-2);
    off += sizes[t];
  }
}

}  // namespace

TEST(SoftTrain, ThreeHiddenStateLatentStepsMatchFiniteDifferences) {
  expect_latent_grads_match(LatentKind::kHidden, {});
}

TEST(SoftTrain, ThreeConceptLatentStepsMatchFiniteDifferences) {
  SoftSamplerParams p;
  p.thinking = {1.0f, 0, 1.0f, 0.0f};  // no filters: every id in the top K by probability
  p.max_topk = 4;
  expect_latent_grads_match(LatentKind::kConcept, p);
}

TEST(SoftTrain, LatentGradientsReachEarlierStepsAndZeroLatentsEqualsPlainTraining) {
  // no latent steps: one pass, the plain soft-input forward and backward
  Model m = soft_test_model();
  LatentBatch b = three_latent_batch();
  b.n_latent = 0;
  b.latent_pos.clear();
  LatentGraph lg = latent_graph_create(m, kB, kT, 0);
  float l0 = latent_forward(m, lg, b, LatentKind::kHidden);
  latent_backward(m, lg, b, LatentKind::kHidden);
  TrainGraph g = train_graph_create(m, kB, kT);
  EXPECT_EQ(gpt2_forward_inputs(m, g, b.inputs.data(), b.targets.data(), kB, kT), l0);
  gpt2_backward(m, g);
  EXPECT_EQ(0, std::memcmp(lg.grads.data(), g.grad_memory.get(), m.num_params * sizeof(float)));
  // with latents, the first pass (which only produces latent 1) receives gradient
  LatentBatch b3 = three_latent_batch();
  LatentGraph lg3 = latent_graph_create(m, kB, kT, 3);
  latent_forward(m, lg3, b3, LatentKind::kHidden);
  latent_backward(m, lg3, b3, LatentKind::kHidden);
  double first = 0;
  for (size_t i = 0; i < m.num_params; i++) first += std::fabs(lg3.passes[0].grad_memory[i]);
  EXPECT_GT(first, 0.0);
  EXPECT_THROW(latent_forward(m, lg3, b, LatentKind::kHidden), Error);  // graph of 3 steps
}

// ---- the self_feed recipe

TEST(SoftTrain, SelfFeedProbabilityRampsToItsMaximum) {
  SoftTrainingConfig s;
  s.p_max = 0.8;
  s.ramp_steps = 10;
  EXPECT_EQ(self_feed_probability(s, 0), 0.0);
  EXPECT_DOUBLE_EQ(self_feed_probability(s, 5), 0.4);
  EXPECT_EQ(self_feed_probability(s, 10), 0.8);
  EXPECT_EQ(self_feed_probability(s, 1000), 0.8);
  s.ramp_steps = 0;
  EXPECT_EQ(self_feed_probability(s, 0), 0.8);
}

TEST(SoftTrain, ThinkingPositionsAreInsideTheTagsOfTheirWindow) {
  const int O = 30, X = 31;  // <think>, </think>
  std::vector<int> ids = {1, O, 2, 3, X, 4, /* row 2 */ 5, 6, O, 7, 8, 9};
  std::vector<uint8_t> want = {0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1};
  EXPECT_EQ(thinking_positions(ids.data(), 2, 6, O, X), want);
}

TEST(SoftTrain, SelfFeedReplacesThinkingInputsByThePreviousPositionsConcept) {
  Model m = soft_test_model();
  const int O = 30, X = 31;
  std::vector<int> ids = ids_of(kB * kT, 2);
  for (int& x : ids) x = x >= O ? 1 : x;  // no stray tags
  ids[1] = O, ids[4] = X, ids[7] = O;      // thinking: 2, 3 (row 0) and 8..11 (row 1)
  TrainGraph g = train_graph_create(m, kB, kT);
  gpt2_forward(m, g, ids.data(), nullptr, kB, kT);
  std::vector<float> probs(g.a.logits, g.a.logits + (size_t)kB * kT * 37);
  std::vector<uint8_t> thinking = thinking_positions(ids.data(), kB, kT, O, X);
  SoftTrainingConfig s;
  s.temperature = 1.0f;
  s.top_k = 0;
  s.top_p = 1.0f;
  s.min_p = 0.0f;
  s.max_topk = 3;
  std::vector<StepInput> in;
  Rng rng = rng_init(5);
  EXPECT_EQ(self_feed_inputs(s, 0.0, probs.data(), ids.data(), thinking, kB, kT, 37, rng, &in), 0);
  for (int bt = 0; bt < kB * kT; bt++) EXPECT_EQ(in[bt].kind, StepInput::Kind::kToken);
  EXPECT_EQ(self_feed_inputs(s, 1.0, probs.data(), ids.data(), thinking, kB, kT, 37, rng, &in), 6);
  for (int bt = 0; bt < kB * kT; bt++) {
    if (!thinking[bt]) {
      EXPECT_EQ(in[bt].kind, StepInput::Kind::kToken);
      EXPECT_EQ(in[bt].token, ids[bt]);
      continue;
    }
    ASSERT_EQ(in[bt].kind, StepInput::Kind::kConcept) << bt;
    // the top 3 of the previous row's distribution, renormalised, most probable first
    const float* row = probs.data() + (size_t)(bt - 1) * 37;
    std::vector<int> order(37);
    for (int v = 0; v < 37; v++) order[v] = v;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });
    ASSERT_EQ(in[bt].ids.size(), 3u);
    double z = row[order[0]] + row[order[1]] + row[order[2]];
    for (int j = 0; j < 3; j++) {
      EXPECT_EQ(in[bt].ids[j], order[j]);
      EXPECT_NEAR(in[bt].weights[j], row[order[j]] / z, 1e-4);
    }
  }
}

namespace {

std::vector<double> train_losses_of(const std::string& dir) {
  std::vector<double> out;
  std::istringstream in(read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") out.push_back(j["loss"]);
  }
  return out;
}

TrainConfig self_feed_config(const std::string& dir) {
  std::string data;
  for (int i = 0; i < 60; i++) {
    int a = i % 10, b = (i * 7) % 10;
    data += "{\"prompt\": \"" + std::to_string(a) + "+" + std::to_string(b) +
            "=\", \"completion\": \"<think>" + std::to_string(a) + "+" + std::to_string(b) + "=" +
            std::to_string(a + b) + "</think>" + std::to_string(a + b) + "<|endoftext|>\"}\n";
  }
  write_file_atomic(dir + "/d.jsonl", data);
  TrainConfig c;
  c.model.vocab_size = 300;
  c.model.n_ctx = 32;
  c.model.n_embd = 16;
  c.model.n_layer = 1;
  c.model.n_head = 2;
  c.train_files = {dir + "/d.jsonl"};
  c.val_fraction = 0.1;
  c.batch_size = 4;
  c.seq_len = 32;
  c.lr = 1e-2;
  c.warmup_steps = 2;
  c.steps = 12;
  c.eval_interval = 0;
  c.eval_batches = 1;
  c.checkpoint_interval = 0;
  c.log_interval = 1;
  c.threads = 1;
  c.soft.recipe = SoftRecipe::kSelfFeed;
  c.soft.p_max = 1.0;
  c.soft.ramp_steps = 4;
  return c;
}

}  // namespace

TEST(SoftTrain, SelfFeedTrainsFeedsConceptsAndResumesExactly) {
  const std::string dir = make_temp_dir();
  TrainConfig c = self_feed_config(dir);
  TrainOptions opt;
  opt.quiet = true;
  c.out_dir = dir + "/straight";
  TrainResult a = train_run(c, opt);
  ASSERT_EQ(a.losses.size(), 12u);
  for (float l : a.losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(a.losses.back(), a.losses.front());
  // the metrics say how many inputs were concepts: none at step 0 (p = 0), some later
  std::istringstream in(read_file(c.out_dir + "/metrics.jsonl"));
  int fed_total = 0, records = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] != "train") continue;
    records++;
    if (j["step"] == 1) EXPECT_EQ(j["self_fed"], 0);
    fed_total += j["self_fed"].get<int>();
  }
  EXPECT_EQ(records, 12);
  EXPECT_GT(fed_total, 0);
  // it trains differently from the plain recipe on the same data and seed...
  TrainConfig none = c;
  none.soft.recipe = SoftRecipe::kNone;
  none.out_dir = dir + "/none";
  TrainResult b = train_run(none, opt);
  EXPECT_EQ(b.losses[0], a.losses[0]);  // step 1: p = 0
  EXPECT_NE(b.losses.back(), a.losses.back());
  // ... and a resumed run is bit-identical to the straight one (the draws are per step)
  TrainConfig split = c;
  split.out_dir = dir + "/split";
  TrainOptions first = opt;
  first.stop_at = 6;
  train_run(split, first);
  TrainOptions resume = opt;
  resume.resume = true;
  train_run(split, resume);
  EXPECT_EQ(train_losses_of(dir + "/split"), train_losses_of(dir + "/straight"));
  EXPECT_EQ(read_file(dir + "/split/model.safetensors"),
            read_file(dir + "/straight/model.safetensors"));
  std::filesystem::remove_all(dir);
}
