// The structured recipes (soft_training.recipe latent, soft_targets, internalize): examples
// from task JSONL, each recipe's row layout and curriculum, the soft targets' loss and
// gradient, and training runs that learn and resume exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/io.h"
#include "eval/eval.h"
#include "generate/generate.h"
#include "generate/soft_config.h"
#include "model/gpt2_train.h"
#include "tasks/tasks.h"
#include "test_util.h"
#include "train/examples.h"
#include "train/recipes.h"
#include "train/trainer.h"

using namespace softslm;
using namespace softslm::testing;

namespace {

// bytes and the three specials: one token per character, so layouts are easy to read
const Tokenizer& char_tok() {
  static const Tokenizer t = tokenizer_names(1, {kEndOfText, kThinkOpen, kThinkClose});
  return t;
}
int id(const char* s) { return tokenizer_special_id(char_tok(), s); }

Document doc(const std::string& prompt, const std::string& chain, const std::string& answer,
             std::vector<std::string> steps = {},
             std::vector<std::vector<std::pair<std::string, double>>> soft = {}) {
  Document d;
  d.prompt = prompt;
  d.completion = std::string(kThinkOpen) + chain + kThinkClose + answer + kEndOfText;
  d.steps = std::move(steps);
  d.soft_targets = std::move(soft);
  d.where = "t.jsonl:1";
  return d;
}

std::vector<int> ids(const std::string& s) { return tokenizer_encode(char_tok(), s, true); }

// The token ids of a row's inputs (-1 for a latent, -2 for a concept).
std::vector<int> row_ids(const ExampleBatch& b, int r) {
  std::vector<int> out;
  for (int t = 0; t < b.T; t++) {
    const StepInput& x = b.inputs[(size_t)r * b.T + t];
    out.push_back(x.kind == StepInput::Kind::kToken ? x.token
                  : x.kind == StepInput::Kind::kVector ? -1 : -2);
  }
  return out;
}

std::vector<int> row_targets(const ExampleBatch& b, int r) {
  return std::vector<int>(b.targets.begin() + (size_t)r * b.T, b.targets.begin() + (size_t)(r + 1) * b.T);
}

StageLayout at_stage(SoftRecipe r, int stage, int n_latent = 0, int removed = 0) {
  StageLayout L;
  L.recipe = r;
  L.stage = L.steps_replaced = stage;
  L.n_latent = n_latent;
  L.removed = removed;
  return L;
}

}  // namespace

TEST(SoftRecipes, ExamplesFromTaskDocuments) {
  auto ex = examples_from_documents(char_tok(), {doc("1+2=", "ab cd", "3", {"ab ", "cd"})}, true);
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].prompt, ids("1+2="));
  EXPECT_EQ(ex[0].chain, ids("ab cd"));
  ASSERT_EQ(ex[0].steps.size(), 2u);
  EXPECT_EQ(ex[0].steps[1], ids("cd"));
  EXPECT_EQ(ex[0].tail, ids(std::string(kThinkClose) + "3" + kEndOfText));
  // soft targets: single tokens, weights normalised
  auto st = examples_from_documents(char_tok(), {doc("q", "", "a", {}, {{{"x", 1}, {"y", 3}}})},
                                    false);
  ASSERT_EQ(st[0].soft.size(), 1u);
  EXPECT_EQ(st[0].soft[0][1].first, ids("y")[0]);
  EXPECT_FLOAT_EQ(st[0].soft[0][1].second, 0.75f);
  // errors name the document and the problem
  auto err = [&](const Document& d, bool need_steps) {
    try {
      examples_from_documents(char_tok(), {d}, need_steps);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err(doc("p", "ab", "c", {"a", "c"}), false).find("t.jsonl:1: \"steps\" do not "
                                                               "concatenate"), std::string::npos);
  EXPECT_NE(err(doc("p", "ab", "c"), true).find("t.jsonl:1: soft_training.recipe latent needs "
                                                "\"steps\""), std::string::npos);
  EXPECT_NE(err(doc("p", "", "c", {}, {{{"xy", 1}}}), false).find("soft target 'xy' is 2 tokens"),
            std::string::npos);
  Document plain = doc("p", "ab", "c");
  plain.completion = "ab c";
  EXPECT_NE(err(plain, false).find("t.jsonl:1: a structured recipe needs a completion"),
            std::string::npos);
}

TEST(SoftRecipes, RowLayoutsOfEachRecipe) {
  const int to = id(kThinkOpen), tc = id(kThinkClose), eot = id(kEndOfText);
  auto ex = examples_from_documents(
      char_tok(), {doc("p=", "ab cd", "z", {"ab ", "cd"}, {{{"x", 1}, {"y", 1}}, {{"w", 1}}})},
      false);
  std::vector<const Example*> rows = {&ex[0]};
  const int T = 14;
  ExampleBatch b;
  auto pad = [&](std::vector<int> v, int with) {
    v.resize(T, with);
    return v;
  };
  const int P = 'p', Q = '=';
  // full: p = <think> a b ' ' c d </think> z <eot>; the prompt has no loss
  example_batch_fill(at_stage(SoftRecipe::kNone, 0), rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, 'a', 'b', ' ', 'c', 'd', tc, 'z'}, eot));
  EXPECT_EQ(row_targets(b, 0), pad({-1, to, 'a', 'b', ' ', 'c', 'd', tc, 'z', eot}, -1));
  example_batch_fill(at_stage(SoftRecipe::kNone, 0), rows, T, false, to, eot, &b);
  EXPECT_EQ(row_targets(b, 0)[0], Q);  // without completion_only_loss the prompt counts
  // internalize: 3 chain tokens removed from the left
  example_batch_fill(at_stage(SoftRecipe::kInternalize, 1, 0, 3), rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, 'c', 'd', tc, 'z'}, eot));
  StageLayout floor = at_stage(SoftRecipe::kInternalize, 9, 0, 100);
  floor.min_chain = 2;  // never below the floor
  example_batch_fill(floor, rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, 'c', 'd', tc, 'z'}, eot));
  floor.min_chain = 0;
  floor.min_chain_fraction = 0.5;  // 5 chain tokens keep ceil(2.5) = 3
  example_batch_fill(floor, rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, ' ', 'c', 'd', tc, 'z'}, eot));
  floor.min_chain = 4;  // the larger floor holds
  example_batch_fill(floor, rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, 'b', ' ', 'c', 'd', tc, 'z'}, eot));
  EXPECT_EQ(example_batch_length(floor, rows), 9);  // 10 layout entries, <eot> last
  // latent, stage 1, 2 thoughts per step: the first step becomes 2 latent positions, and no
  // position is trained to predict a latent
  example_batch_fill(at_stage(SoftRecipe::kLatent, 1, 2), rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, -1, -1, 'c', 'd', tc, 'z'}, eot));
  EXPECT_EQ(row_targets(b, 0), pad({-1, to, -1, -1, 'c', 'd', tc, 'z', eot}, -1));
  EXPECT_EQ(b.latent_pos, (std::vector<int>{3, 4}));
  EXPECT_EQ(b.n_latent, 2);
  // latent past the last step: every step replaced, the latent count stays the stage's
  example_batch_fill(at_stage(SoftRecipe::kLatent, 3, 3), rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, -1, -1, -1, tc, 'z'}, eot));
  // soft_targets: two soft positions fed the hops' mixtures; <think> and the first soft
  // position are trained toward hops 1 and 2, the last soft position toward </think>
  example_batch_fill(at_stage(SoftRecipe::kSoftTargets, 0), rows, T, true, to, eot, &b);
  EXPECT_EQ(row_ids(b, 0), pad({P, Q, to, -2, -2, tc, 'z'}, eot));
  EXPECT_EQ(row_targets(b, 0), pad({-1, to, -1, -1, tc, 'z', eot}, -1));
  EXPECT_EQ(b.soft_rows, (std::vector<int>{2, 3}));
  EXPECT_EQ(b.soft_inputs, (std::vector<int>{3, 4}));
  ASSERT_EQ(b.soft_dists.size(), 2u);
  EXPECT_EQ(b.soft_dists[1], (std::vector<std::pair<int, float>>{{'w', 1.0f}}));
  EXPECT_EQ(b.inputs[3].ids, (std::vector<int>{'x', 'y'}));
  EXPECT_EQ(b.inputs[3].weights, (std::vector<float>{0.5f, 0.5f}));
  // an example that does not fit is named
  EXPECT_THROW(example_batch_fill(at_stage(SoftRecipe::kNone, 0), rows, 8, true, to, eot, &b),
               Error);
}

TEST(SoftRecipes, CurriculumStages) {
  ExampleSplits ex;
  ex.max_steps = 5;
  ex.max_chain = 20;
  SoftTrainingConfig s;
  s.recipe = SoftRecipe::kLatent;
  s.stage_steps = 10;
  s.thoughts_per_step = 2;
  EXPECT_EQ(stage_layout(s, 0, ex).n_latent, 0);
  EXPECT_EQ(stage_layout(s, 9, ex).stage, 0);
  EXPECT_EQ(stage_layout(s, 10, ex).n_latent, 2);
  EXPECT_EQ(stage_layout(s, 1000, ex).stage, 5);  // max_stage 0: the most steps
  EXPECT_EQ(stage_layout(s, 1000, ex).n_latent, 10);
  s.max_stage = 2;
  EXPECT_EQ(stage_layout(s, 1000, ex).n_latent, 4);
  ex.stage_steps = 3;  // from stage_epochs (examples_load resolves it)
  EXPECT_EQ(stage_layout(s, 6, ex).stage, 2);
  ex.stage_steps = 0;
  s.recipe = SoftRecipe::kInternalize;
  s.remove_per_stage = 8;
  s.min_chain = 3;
  EXPECT_EQ(stage_layout(s, 1000, ex).last_stage, 3);  // 17 removable tokens: 3 stages of 8
  EXPECT_EQ(stage_layout(s, 15, ex).removed, 8);
  s.min_chain_fraction = 0.4;  // the longest chain (20) keeps 8: 12 removable, 2 stages of 8
  EXPECT_EQ(stage_layout(s, 1000, ex).last_stage, 2);
}

namespace {

Model recipe_model(int V) {
  ModelConfig c;
  c.vocab_size = V;
  c.n_ctx = 16;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 2;
  Model m = model_create(c);
  model_init_random(m, 4);
  Rng r = rng_init(7);
  for (size_t i = 0; i < m.num_params; i++) m.memory[i] += 0.1f * rng_normal(r);
  return m;
}

TrainConfig recipe_cfg(SoftRecipe r, int B, int T) {
  TrainConfig c;
  c.batch_size = B;
  c.seq_len = T;
  c.completion_only_loss = true;
  c.soft.recipe = r;
  return c;
}

}  // namespace

TEST(SoftRecipes, SoftTargetGradientMatchesFiniteDifferences) {
  const Tokenizer& tok = char_tok();
  const int V = tokenizer_vocab_size(tok);
  Model m = recipe_model(V);
  auto ex = examples_from_documents(
      tok, {doc("ab=", "", "c", {}, {{{"x", 1}, {"y", 2}}, {{"w", 3}, {"x", 1}}}),
            doc("b=", "q", "d")},
      false);
  std::vector<const Example*> rows = {&ex[0], &ex[1]};
  TrainConfig cfg = recipe_cfg(SoftRecipe::kSoftTargets, 2, 10);
  RecipeRunner r;
  const StageLayout L = at_stage(SoftRecipe::kSoftTargets, 0);
  const int to = id(kThinkOpen), eot = id(kEndOfText);
  RecipeStep s = recipe_step(m, cfg, r, L, rows, to, eot, 0.0, nullptr, true);
  // 2 soft rows; <think> </think> c <eot>; <think> q </think> d <eot>
  EXPECT_EQ(s.counted, 2 + 4 + 5);
  std::vector<float> grads(s.grads, s.grads + m.num_params);
  auto loss = [&] {
    return (double)recipe_step(m, cfg, r, L, rows, to, eot, 0.0, nullptr, false).loss;
  };
  expect_grad_close(loss, m.memory.get(), grads.data(), sample_indices(m.num_params, 150, 3),
                    "params", 2e-3f, 2e-4, 3e-2);
  std::vector<size_t> mixed;  // the rows of the mixtures' ids
  for (int tid : {'x', 'y', 'w'})
    for (int c = 0; c < 16; c++) mixed.push_back((size_t)tid * 16 + c);
  expect_grad_close(loss, m.p.wte, grads.data(), mixed, "wte rows of the mixtures", 2e-3f, 2e-4,
                    3e-2);
}

TEST(SoftRecipes, OneHotSoftTargetsTrainLikeTheirTokens) {
  const Tokenizer& tok = char_tok();
  const int V = tokenizer_vocab_size(tok);
  Model m = recipe_model(V);
  const int to = id(kThinkOpen), eot = id(kEndOfText);
  auto soft = examples_from_documents(tok, {doc("a=", "", "c", {}, {{{"x", 1}}, {{"y", 1}}})},
                                      false);
  auto hard = examples_from_documents(tok, {doc("a=", "xy", "c")}, false);
  RecipeRunner rs, rh;
  TrainConfig cfg = recipe_cfg(SoftRecipe::kSoftTargets, 1, 10);
  RecipeStep a = recipe_step(m, cfg, rs, at_stage(SoftRecipe::kSoftTargets, 0), {&soft[0]}, to,
                             eot, 0.0, nullptr, true);
  std::vector<float> ga(a.grads, a.grads + m.num_params);
  RecipeStep b = recipe_step(m, cfg, rh, at_stage(SoftRecipe::kNone, 0), {&hard[0]}, to, eot,
                             0.0, nullptr, true);
  EXPECT_EQ(a.counted, b.counted);
  EXPECT_NEAR(a.loss, b.loss, 1e-5);
  double max_diff = 0, max_g = 0;
  for (size_t i = 0; i < m.num_params; i++) {
    max_diff = std::max(max_diff, (double)std::fabs(ga[i] - b.grads[i]));
    max_g = std::max(max_g, (double)std::fabs(b.grads[i]));
  }
  EXPECT_GT(max_g, 1e-3);
  EXPECT_LT(max_diff, 1e-6 * std::max(1.0, max_g) + 1e-7);
}

// A batch as long as its longest row trains bit for bit as one padded to seq_len, for every
// structured recipe, also right after a longer batch (the graph is laid out afresh).
TEST(SoftRecipes, ShortBatchesTrainExactlyAsPaddedOnes) {
  const Tokenizer& tok = char_tok();
  const int V = tokenizer_vocab_size(tok);
  Model m = recipe_model(V);
  const int to = id(kThinkOpen), eot = id(kEndOfText);
  auto ex = examples_from_documents(
      tok,
      {doc("ab=", "x y ", "c", {"x ", "y "}, {{{"x", 1}, {"y", 2}}, {{"w", 3}, {"x", 1}}}),
       doc("b=", "q r ", "d", {"q ", "r "}, {{{"q", 1}}, {{"r", 1}}}),
       doc("abc=", "x y z ", "cc", {"x ", "y ", "z "}, {{{"z", 1}}, {{"w", 1}}})},
      true);
  struct Case {
    SoftRecipe recipe;
    LatentKind kind;
    StageLayout L;
  };
  StageLayout inter = at_stage(SoftRecipe::kInternalize, 1, 0, 2);
  std::vector<Case> cases = {{SoftRecipe::kNone, LatentKind::kHidden, at_stage(SoftRecipe::kNone, 0)},
                             {SoftRecipe::kInternalize, LatentKind::kHidden, inter},
                             {SoftRecipe::kLatent, LatentKind::kHidden, at_stage(SoftRecipe::kLatent, 1, 1)},
                             {SoftRecipe::kLatent, LatentKind::kConcept, at_stage(SoftRecipe::kLatent, 1, 1)},
                             {SoftRecipe::kSoftTargets, LatentKind::kHidden,
                              at_stage(SoftRecipe::kSoftTargets, 0)}};
  const std::vector<const Example*> longer = {&ex[2], &ex[0]}, shorter = {&ex[1], &ex[0]};
  for (const Case& c : cases) {
    SCOPED_TRACE((int)c.recipe);
    TrainConfig cfg = recipe_cfg(c.recipe, 2, 16);
    cfg.soft.latent_input = c.kind;
    RecipeRunner padded, cut;
    padded.full_length = true;
    recipe_step(m, cfg, cut, c.L, longer, to, eot, 0.0, nullptr, true);  // a longer batch first
    RecipeStep a = recipe_step(m, cfg, padded, c.L, shorter, to, eot, 0.0, nullptr, true);
    std::vector<float> ga(a.grads, a.grads + m.num_params);
    RecipeStep b = recipe_step(m, cfg, cut, c.L, shorter, to, eot, 0.0, nullptr, true);
    EXPECT_EQ(a.positions, 2 * 16);
    EXPECT_EQ(b.positions, 2 * example_batch_length(c.L, shorter));
    EXPECT_LT(b.positions, a.positions);
    EXPECT_EQ(a.counted, b.counted);
    EXPECT_EQ(a.loss, b.loss);
    EXPECT_EQ(std::memcmp(ga.data(), b.grads, sizeof(float) * m.num_params), 0);
  }
}

TEST(SoftRecipes, SoftTargetsSelfFeedUsesThePreviousPositionsConcept) {
  const Tokenizer& tok = char_tok();
  Model m = recipe_model(tokenizer_vocab_size(tok));
  const int to = id(kThinkOpen), eot = id(kEndOfText);
  auto ex = examples_from_documents(tok, {doc("a=", "", "c", {}, {{{"x", 1}}, {{"y", 1}}})},
                                    false);
  TrainConfig cfg = recipe_cfg(SoftRecipe::kSoftTargets, 1, 10);
  cfg.soft.max_topk = 3;
  RecipeRunner r;
  Rng rng = rng_init(1);
  RecipeStep s = recipe_step(m, cfg, r, at_stage(SoftRecipe::kSoftTargets, 0), {&ex[0]}, to, eot,
                             1.0, &rng, false);
  EXPECT_EQ(s.fed, 2);  // p = 1: both soft inputs are the model's own concepts
  for (int bt : r.batch.soft_inputs) {
    const StepInput& x = r.batch.inputs[bt];
    ASSERT_EQ(x.kind, StepInput::Kind::kConcept);
    EXPECT_EQ(x.ids.size(), 3u);
    EXPECT_NE(x.ids, (std::vector<int>{'x'}));
  }
}

namespace {

std::vector<double> metric_of(const std::string& dir, const char* key) {
  std::vector<double> out;
  std::istringstream in(read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train" && j.contains(key)) out.push_back(j[key]);
  }
  return out;
}

// Tiny task data: 2-digit additions with their steps, and 2-4 hop paths with soft targets.
TrainConfig recipe_run_config(const std::string& dir, SoftRecipe r) {
  DataSpec spec;
  spec.task = r == SoftRecipe::kSoftTargets ? "path" : "add";
  spec.n = 64;
  spec.params.add_max_digits = 2;
  spec.params.path_max_nodes = 10;
  spec.params.path_max_edges = 10;
  spec.params.path_max_depth = 2;
  write_file_atomic(dir + "/d.jsonl", data_to_jsonl(data_generate(spec)));
  TrainConfig c;
  c.model = {};
  c.model.vocab_size = r == SoftRecipe::kSoftTargets ? 18511 : 259;
  c.tokenizer_names = r == SoftRecipe::kSoftTargets ? 3 : 1;
  c.model.n_ctx = 96;
  c.model.n_embd = 16;
  c.model.n_layer = 1;
  c.model.n_head = 2;
  c.train_files = {dir + "/d.jsonl"};
  c.val_fraction = 0.1;
  c.completion_only_loss = true;
  c.batch_size = 4;
  c.seq_len = 96;
  c.lr = 1e-2;
  c.warmup_steps = 2;
  c.steps = 16;
  c.eval_interval = 0;
  c.eval_batches = 1;
  c.checkpoint_interval = 0;
  c.log_interval = 1;
  c.threads = 1;
  c.soft.recipe = r;
  c.soft.stage_steps = 6;
  c.soft.max_stage = 2;
  c.soft.remove_per_stage = 4;
  c.soft.p_max = 0.5;
  c.soft.ramp_steps = 4;
  return c;
}

void expect_trains_and_resumes(SoftRecipe r, LatentKind kind = LatentKind::kHidden) {
  const std::string dir = make_temp_dir();
  TrainConfig c = recipe_run_config(dir, r);
  c.soft.latent_input = kind;
  TrainOptions opt;
  opt.quiet = true;
  c.out_dir = dir + "/straight";
  TrainResult a = train_run(c, opt);
  ASSERT_EQ(a.losses.size(), 16u);
  for (float l : a.losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(a.losses[5], a.losses[0]);  // it learns within the first stage
  if (r != SoftRecipe::kSoftTargets) {
    std::vector<double> stages = metric_of(c.out_dir, "stage");
    ASSERT_EQ(stages.size(), 16u);
    EXPECT_EQ(stages[0], 0);
    EXPECT_EQ(stages[6], 1);
    EXPECT_EQ(stages[15], 2);
  }
  if (r == SoftRecipe::kLatent) {
    EXPECT_EQ(metric_of(c.out_dir, "latent_steps").back(), 2);
  }
  if (r == SoftRecipe::kInternalize) {
    EXPECT_EQ(metric_of(c.out_dir, "chain_removed").back(), 8);
  }
  if (r == SoftRecipe::kSoftTargets) {
    double fed = 0;
    for (double f : metric_of(c.out_dir, "self_fed")) fed += f;
    EXPECT_GT(fed, 0);
  }
  // stopped across a stage boundary (an optimizer reset) and resumed: the same bits
  TrainConfig split = c;
  split.out_dir = dir + "/split";
  TrainOptions first = opt;
  first.stop_at = 7;
  train_run(split, first);
  TrainOptions resume = opt;
  resume.resume = true;
  train_run(split, resume);
  EXPECT_EQ(metric_of(dir + "/split", "loss"), metric_of(dir + "/straight", "loss"));
  EXPECT_EQ(read_file(dir + "/split/model.safetensors"),
            read_file(dir + "/straight/model.safetensors"));
  std::filesystem::remove_all(dir);
}

}  // namespace

// The validation rows come from the whole val set, not only from its first file.
TEST(SoftRecipes, ValidationSpansEveryValFile) {
  const std::string dir = make_temp_dir();
  TrainConfig c = recipe_run_config(dir, SoftRecipe::kInternalize);
  DataSpec mul;
  mul.task = "mul";
  mul.n = 64;
  mul.params.mul_a_max_digits = 2;
  mul.params.mul_b_max_digits = 1;
  write_file_atomic(dir + "/m.jsonl", data_to_jsonl(data_generate(mul)));
  c.steps = 1;
  TrainOptions opt;
  opt.quiet = true;
  auto val_loss = [&](std::vector<std::string> files, const std::string& name) {
    TrainConfig k = c;
    k.val_files = std::move(files);
    k.out_dir = dir + "/" + name;
    TrainResult r = train_run(k, opt);
    EXPECT_FALSE(r.val_losses.empty());
    return r.val_losses.empty() ? 0.0 : (double)r.val_losses.back().second;
  };
  const double add = val_loss({dir + "/d.jsonl"}, "a");
  const double both = val_loss({dir + "/d.jsonl", dir + "/m.jsonl"}, "am");
  EXPECT_NE(add, both);  // 4 rows of 128 examples: the mul rows count too
  std::filesystem::remove_all(dir);
}

TEST(SoftRecipes, InternalizeTrainsThroughItsStagesAndResumesExactly) {
  expect_trains_and_resumes(SoftRecipe::kInternalize);
}
TEST(SoftRecipes, HiddenLatentTrainsThroughItsStagesAndResumesExactly) {
  expect_trains_and_resumes(SoftRecipe::kLatent, LatentKind::kHidden);
}
TEST(SoftRecipes, ConceptLatentTrainsThroughItsStagesAndResumesExactly) {
  expect_trains_and_resumes(SoftRecipe::kLatent, LatentKind::kConcept);
}
TEST(SoftRecipes, SoftTargetsTrainAndResumeExactly) {
  expect_trains_and_resumes(SoftRecipe::kSoftTargets);
}

TEST(SoftRecipes, StagesCanLastEpochs) {
  const std::string dir = make_temp_dir();
  TrainConfig c = recipe_run_config(dir, SoftRecipe::kInternalize);
  c.soft.stage_epochs = 0.5;  // 58 training examples, batch 4: ceil(7.25) = 8 steps a stage
  c.out_dir = dir + "/run";
  TrainOptions opt;
  opt.quiet = true;
  train_run(c, opt);
  std::vector<double> stages = metric_of(c.out_dir, "stage");
  ASSERT_EQ(stages.size(), 16u);
  EXPECT_EQ(stages[7], 0);
  EXPECT_EQ(stages[8], 1);
  std::filesystem::remove_all(dir);
}

TEST(SoftRecipes, OptimizerResetChangesTheRun) {
  const std::string dir = make_temp_dir();
  TrainConfig c = recipe_run_config(dir, SoftRecipe::kInternalize);
  TrainOptions opt;
  opt.quiet = true;
  c.out_dir = dir + "/reset";
  TrainResult a = train_run(c, opt);
  c.soft.reset_optimizer = false;
  c.out_dir = dir + "/keep";
  TrainResult b = train_run(c, opt);
  // step 7 starts stage 1 and updates with reset or kept moments: step 8's loss tells
  for (int i = 0; i < 7; i++) EXPECT_EQ(a.losses[i], b.losses[i]);
  EXPECT_NE(a.losses[7], b.losses[7]);
  std::filesystem::remove_all(dir);
}

namespace {

// generate's latent mode against the training graph's latent passes on the same model: the
// latents fed are the training's (hidden states or concepts), and the answer's first token is
// the argmax of the training forward at </think>.
void expect_latent_inference_matches_training(LatentKind kind) {
  const Tokenizer& tok = char_tok();
  const int V = tokenizer_vocab_size(tok), C = 16, n = 3;
  Model m = recipe_model(V);
  const int to = id(kThinkOpen), tc = id(kThinkClose), eot = id(kEndOfText);
  const std::vector<int> prompt = ids("7+8=");
  GenerateParams p;
  p.soft.mode = ThinkMode::kLatent;
  p.soft.latent_steps = n;
  p.soft.latent_input = kind;
  p.soft.sampler.after.temperature = 0;
  p.think_open_id = to;
  p.think_close_id = tc;
  p.eos_id = eot;
  p.max_new_tokens = n + 2;
  std::vector<std::vector<float>> fed;
  std::vector<StepRecord> recs;
  auto res = generate(m, {prompt}, p, [&](const StepRecord& r, const float* in) {
    recs.push_back(r);
    if (in) fed.emplace_back(in, in + C);
  });
  ASSERT_EQ(res[0].tokens.size(), (size_t)n + 2);
  EXPECT_EQ(res[0].thinking_steps, n);
  EXPECT_EQ(res[0].think_end, "latent_steps");
  EXPECT_EQ(res[0].tokens[n], tc);  // after n latent steps, </think>
  for (int k = 0; k < n; k++) {
    EXPECT_TRUE(recs[k].soft && recs[k].thinking);
    EXPECT_NE(res[0].tokens[k], tc);  // the shown token is never the end of thinking
  }
  // the training graph: prompt <think> L1 L2 L3 </think>
  const int T = (int)prompt.size() + n + 2;
  LatentBatch b;
  b.B = 1, b.T = T, b.n_latent = n;
  for (int t : prompt) b.inputs.push_back(StepInput::of_token(t));
  b.inputs.push_back(StepInput::of_token(to));
  for (int k = 0; k < n; k++) {
    b.latent_pos.push_back((int)b.inputs.size());
    b.inputs.push_back(StepInput::of_vector({}));
  }
  b.inputs.push_back(StepInput::of_token(tc));
  b.targets.assign(T, -1);
  LatentGraph lg = latent_graph_create(m, 1, T, n);
  SoftSamplerParams sp = p.soft.sampler;
  latent_forward(m, lg, b, kind, sp);
  TokenEmbedding emb = TokenEmbedding::of(m);
  for (int k = 0; k < n; k++) {
    std::vector<float> want(C);
    step_input_embed(emb, lg.latents[k], want.data());
    for (int c = 0; c < C; c++) EXPECT_NEAR(fed[k][c], want[c], 2e-5f) << "latent " << k;
    if (kind == LatentKind::kConcept) {
      EXPECT_EQ(recs[k].ids, lg.latents[k].ids) << k;
    }
  }
  const float* probs = lg.passes.back().a.logits + (size_t)(T - 1) * V;
  EXPECT_EQ(res[0].tokens[n + 1], (int)(std::max_element(probs, probs + V) - probs));
}

}  // namespace

TEST(SoftRecipes, HiddenLatentDecodingFeedsTheTrainingsHiddenStates) {
  expect_latent_inference_matches_training(LatentKind::kHidden);
}
TEST(SoftRecipes, ConceptLatentDecodingFeedsTheTrainingsConcepts) {
  expect_latent_inference_matches_training(LatentKind::kConcept);
}
// Greedy latent decoding of n steps fed `kind`, with the character tokenizer's specials.
static GenerateParams latent_params(int n, LatentKind kind, int max_new) {
  GenerateParams p;
  p.soft.mode = ThinkMode::kLatent;
  p.soft.latent_steps = n;
  p.soft.latent_input = kind;
  p.soft.sampler.after.temperature = 0;
  p.think_open_id = id(kThinkOpen);
  p.think_close_id = id(kThinkClose);
  p.eos_id = id(kEndOfText);
  p.max_new_tokens = max_new;
  return p;
}

TEST(SoftRecipes, LatentContinueThinksOnInTokensUntilTheEndTag) {
  const Tokenizer& tok = char_tok();
  Model m = recipe_model(tokenizer_vocab_size(tok));
  const int tc = id(kThinkClose), n = 2;
  GenerateParams p = latent_params(n, LatentKind::kHidden, n + 6);
  p.soft.latent_continue = true;
  std::vector<StepRecord> recs;
  auto res = generate(m, {ids("7+8=")}, p, [&](const StepRecord& r, const float*) { recs.push_back(r); });
  EXPECT_EQ(res[0].thinking_steps, n);  // n latent steps, then tokens
  ASSERT_GT(recs.size(), (size_t)n);
  for (size_t k = n; k < recs.size(); k++) {
    if (!recs[k].thinking) break;
    EXPECT_FALSE(recs[k].soft) << k;
    if (recs[k].token == tc) {  // the model ended thinking itself
      EXPECT_STREQ(recs[k].switch_reason, "end_tag");
      EXPECT_EQ(res[0].think_end, "end_tag");
    }
  }
  // the discrete steps after the latents are the model's own greedy tokens: forcing </think>
  // (continue off) gives </think> at step n instead, whatever the model prefers
  p.soft.latent_continue = false;
  auto forced = generate(m, {ids("7+8=")}, p);
  EXPECT_EQ(forced[0].tokens[n], tc);
  EXPECT_EQ(std::vector<int>(forced[0].tokens.begin(), forced[0].tokens.begin() + n),
            std::vector<int>(res[0].tokens.begin(), res[0].tokens.begin() + n));
}

TEST(SoftRecipes, TokenLatentDecodingFeedsEachStepsEmittedToken) {
  // the discrete counterpart: the same n thinking steps, each fed its shown token, which is
  // then exactly plain greedy decoding of that token sequence
  const Tokenizer& tok = char_tok();
  Model m = recipe_model(tokenizer_vocab_size(tok));
  const int tc = id(kThinkClose), n = 3;
  const GenerateParams p = latent_params(n, LatentKind::kToken, n + 2);
  std::vector<StepRecord> recs;
  const std::vector<int> prompt = ids("7+8=");
  auto res = generate(m, {prompt}, p, [&](const StepRecord& r, const float*) { recs.push_back(r); });
  ASSERT_EQ(res[0].tokens.size(), (size_t)n + 2);
  EXPECT_EQ(res[0].thinking_steps, n);
  EXPECT_EQ(res[0].tokens[n], tc);
  for (int k = 0; k < n; k++) {
    EXPECT_FALSE(recs[k].soft) << k;  // a token was fed
    EXPECT_EQ(recs[k].ids, std::vector<int>{res[0].tokens[k]}) << k;
  }
  // the answer equals greedy decoding after the prompt, <think>, the same n tokens, </think>
  std::vector<int> forced = prompt;
  forced.push_back(id(kThinkOpen));
  forced.insert(forced.end(), res[0].tokens.begin(), res[0].tokens.begin() + n + 1);
  GenerateParams g;
  g.soft.mode = ThinkMode::kOff;
  g.sampler.temperature = 0;
  g.eos_id = p.eos_id;
  g.max_new_tokens = 1;
  EXPECT_EQ(generate(m, {forced}, g)[0].tokens[0], res[0].tokens[n + 1]);
}

TEST(SoftRecipes, ATrainedModelRecordsItsDecoding) {
  const std::string dir = make_temp_dir();
  TrainOptions opt;
  opt.quiet = true;
  for (SoftRecipe r : {SoftRecipe::kLatent, SoftRecipe::kInternalize, SoftRecipe::kSelfFeed,
                       SoftRecipe::kNone}) {
    TrainConfig c = recipe_run_config(dir, r);
    c.steps = 8;
    c.soft.latent_input = LatentKind::kConcept;
    c.out_dir = dir + "/run" + std::to_string((int)r);
    train_run(c, opt);
    const std::string f = c.out_dir + "/" + kSoftThinkingFile;
    if (r == SoftRecipe::kNone) {
      EXPECT_FALSE(file_exists(f));
      continue;
    }
    SoftThinkingParams s;
    soft_config_load(s, f);
    EXPECT_EQ(s.sampler.after.temperature, 0.0f);  // greedy answers
    if (r == SoftRecipe::kLatent) {  // the last step's stage: 1 of 2, one thought per step
      EXPECT_EQ(s.mode, ThinkMode::kLatent);
      EXPECT_EQ(s.latent_steps, 1);
      EXPECT_EQ(s.latent_input, LatentKind::kConcept);
      EXPECT_TRUE(s.latent_continue);  // longer chains go on in text, as trained
      EXPECT_EQ(s.sampler.max_topk, c.soft.max_topk);
      EXPECT_EQ(decode_configs_resolve({"model"}, "", c.out_dir)[0].soft.latent_steps, 1);
      // the model's decoding with either noise, and as a base in a configs file
      auto noisy = decode_configs_resolve({"model-gumbel", "model-dirichlet"}, "", c.out_dir);
      EXPECT_TRUE(noisy[0].soft.sampler.gumbel && !noisy[0].soft.sampler.dirichlet);
      EXPECT_TRUE(noisy[1].soft.sampler.dirichlet && !noisy[1].soft.sampler.gumbel);
      EXPECT_EQ(noisy[1].soft.latent_steps, 1);
      auto discrete = decode_configs_resolve({"model-discrete"}, "", c.out_dir)[0].soft;
      EXPECT_EQ(discrete.mode, ThinkMode::kLatent);  // the same budget, tokens fed
      EXPECT_EQ(discrete.latent_input, LatentKind::kToken);
      EXPECT_EQ(discrete.latent_steps, 1);
      write_file_atomic(dir + "/cfg.yaml", "wide: {base: model, max_topk: 3}\n");
      auto wide = decode_configs_resolve({"wide"}, dir + "/cfg.yaml", c.out_dir);
      EXPECT_EQ(wide[0].soft.mode, ThinkMode::kLatent);
      EXPECT_EQ(wide[0].soft.sampler.max_topk, 3);
    } else if (r == SoftRecipe::kSelfFeed) {
      EXPECT_EQ(decode_configs_resolve({"model-discrete"}, "", c.out_dir)[0].soft.mode,
                ThinkMode::kOff);  // its soft thinking, decoded plainly
    } else {
      EXPECT_EQ(s.mode, ThinkMode::kOff);  // internalize: plain decoding of a shorter chain
    }
  }
  EXPECT_THROW(decode_configs_resolve({"model"}, "", dir + "/run0"), Error);  // none: no file
  EXPECT_THROW(decode_configs_resolve({"model-gumbel"}, "", dir + "/run0"), Error);
  EXPECT_EQ(decode_configs_resolve({"greedy"}, "", dir + "/run0").size(), 1u);  // others fine
  std::filesystem::remove_all(dir);
}
