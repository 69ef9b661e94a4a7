// Training: config parsing/validation, AdamW, LR schedule, data loading and caching, the loop,
// and exact resume.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "base/io.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/data.h"
#include "train/train_config.h"
#include "train/trainer.h"

namespace softslm {
namespace {

using testing::make_temp_dir;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                         \
  do {                                                                      \
    std::string msg_ = error_of([&] { stmt; });                             \
    for (const char* s_ : {__VA_ARGS__})                                    \
      EXPECT_NE(msg_.find(s_), std::string::npos) << "message: " << msg_;   \
    EXPECT_EQ(msg_.find('\n'), std::string::npos) << "one line: " << msg_;  \
  } while (0)

const char* kStory =
    "Lily had a red ball. She loved it very much. One day, Lily went to the park. "
    "\"Where is my ball?\" she asked. Her mom said, \"Let us look for it together.\"\n";

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; i++) out += s;
  return out;
}

// A tiny, fast training config over `file` writing to `out`.
TrainConfig tiny_config(const std::string& file, const std::string& out) {
  TrainConfig c;
  c.model.vocab_size = 300;
  c.model.n_ctx = 32;
  c.model.n_embd = 16;
  c.model.n_layer = 2;
  c.model.n_head = 2;
  c.train_files = {file};
  c.val_fraction = 0.1;
  c.batch_size = 4;
  c.seq_len = 16;
  c.lr = 1e-2;
  c.warmup_steps = 4;
  c.steps = 20;
  c.eval_interval = 5;
  c.eval_batches = 2;
  c.checkpoint_interval = 0;
  c.log_interval = 1;
  c.threads = 1;
  c.out_dir = out;
  return c;
}

Tokenizer tiny_tokenizer() {
  return tokenizer_train({repeat(kStory, 4)}, 300, {kEndOfText, kThinkOpen, kThinkClose});
}

// ---------------------------------------------------------------- config

TEST(TrainConfig, ParsesNestedYamlOnTopOfDefaults) {
  TrainConfig c;
  train_config_parse(c,
                     "model:\n  n_layer: 3\n  n_embd: 48\n  n_head: 4\n"
                     "tokenizer: {path: ''}\n"
                     "data:\n  train: [a.txt, b.jsonl]\n  completion_only_loss: yes\n"
                     "lr: 3e-4\nmin_lr: 1e-5\nseed: 7\nout_dir: runs/x\n",
                     "t.yaml");
  EXPECT_EQ(c.model.n_layer, 3);
  EXPECT_EQ(c.model.n_embd, 48);
  EXPECT_EQ(c.model.n_head, 4);
  EXPECT_EQ(c.model.vocab_size, 4096);  // default kept
  EXPECT_EQ(c.train_files, (std::vector<std::string>{"a.txt", "b.jsonl"}));
  EXPECT_TRUE(c.completion_only_loss);
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_DOUBLE_EQ(train_config_min_lr(c), 1e-5);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.out_dir, "runs/x");
  train_config_parse(c, "min_lr: null\nmin_lr_ratio: 0.5\n", "t.yaml");
  EXPECT_DOUBLE_EQ(train_config_min_lr(c), 1.5e-4);
}

TEST(TrainConfig, DottedOverrides) {
  TrainConfig c;
  train_config_set(c, "lr=3e-4");
  train_config_set(c, "model.n_layer=2");
  train_config_set(c, "data.train=[x.txt, y.txt]");
  train_config_set(c, "data.val=v1.txt,v2.txt");
  train_config_set(c, "data.completion_only_loss=true");
  train_config_set(c, "out_dir=runs/a=b");
  EXPECT_DOUBLE_EQ(c.lr, 3e-4);
  EXPECT_EQ(c.model.n_layer, 2);
  EXPECT_EQ(c.train_files, (std::vector<std::string>{"x.txt", "y.txt"}));
  EXPECT_EQ(c.val_files, (std::vector<std::string>{"v1.txt", "v2.txt"}));
  EXPECT_TRUE(c.completion_only_loss);
  EXPECT_EQ(c.out_dir, "runs/a=b");
  // every key is reachable by its dotted name
  for (const auto& k : train_config_keys()) {
    TrainConfig d;
    std::string v = k.rfind("data.train", 0) == 0 || k == "data.val" ? "f.txt"
                    : k == "data.format"                           ? "text"
                    : k == "data.completion_only_loss"             ? "false"
                    : k == "soft_training.recipe"                  ? "self_feed"
                    : k == "soft_training.latent_input"            ? "concept"
                    : k == "tokenizer.path" || k == "out_dir"      ? "p"
                                                                   : "1";
    EXPECT_NO_THROW(train_config_set(d, k + "=" + v)) << k;
  }
}

TEST(TrainConfig, TheDefaultConfigDocumentsEveryKeyWithItsDefault) {
  const std::string path = std::string(SOFTSLM_SOURCE_DIR) + "/configs/train-default.yaml";
  const std::string text = read_file(path);
  for (const auto& k : train_config_keys()) {
    const std::string leaf = k.substr(k.rfind('.') + 1);
    const bool found = text.find(" " + leaf + ": ") != std::string::npos ||
                       text.find("\n" + leaf + ": ") != std::string::npos;
    EXPECT_TRUE(found) << k << " is not documented in configs/train-default.yaml";
  }
  // and its values are the built-in defaults (but the data files and the run's length)
  TrainConfig file = train_config_load(path), defaults;
  file.train_files = defaults.train_files;
  file.steps = defaults.steps;
  file.warmup_steps = defaults.warmup_steps;
  file.eval_interval = defaults.eval_interval;
  EXPECT_EQ(train_config_to_yaml(file), train_config_to_yaml(defaults));
}

TEST(TrainConfig, EveryShippedConfigLoadsAndValidates) {
  const std::string dir = testing::make_temp_dir();
  write_file_atomic(dir + "/d.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SOFTSLM_SOURCE_DIR) +
                                                           "/configs")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("train-", 0) != 0) continue;
    TrainConfig c = train_config_load(e.path().string());
    for (auto* files : {&c.train_files, &c.val_files})  // the data may not be generated yet
      for (auto& f : *files) f = dir + "/d.jsonl";
    if (!c.init_from.empty())  // a shipped model (models/cot): relative to the source tree
      c.init_from = std::string(SOFTSLM_SOURCE_DIR) + "/" + c.init_from;
    EXPECT_NO_THROW(train_config_validate(c)) << name;
    n++;
  }
  EXPECT_GE(n, 11);  // default, sample, tasks, the four soft recipes and the four on the mix
  std::filesystem::remove_all(dir);
}

TEST(TrainConfig, UnknownKeysAreErrorsNamingTheKey) {
  TrainConfig c;
  EXPECT_ERROR_HAS(train_config_parse(c, "model:\n  n_layr: 2\n", "cfg.yaml"), "cfg.yaml",
                   "unknown config key 'model.n_layr'", "did you mean 'model.n_layer'");
  EXPECT_ERROR_HAS(train_config_parse(c, "learning_rate: 0.1\n", "cfg.yaml"),
                   "unknown config key 'learning_rate'");
  EXPECT_ERROR_HAS(train_config_parse(c, "optim:\n  lr: 0.1\n", "cfg.yaml"),
                   "unknown config key 'optim'");
  EXPECT_ERROR_HAS(train_config_set(c, "model.bogus=1"), "unknown config key 'model.bogus'");
  EXPECT_ERROR_HAS(train_config_set(c, "n_layer=1"), "unknown config key 'n_layer'",
                   "did you mean 'model.n_layer'");
  EXPECT_ERROR_HAS(train_config_set(c, "lr"), "key=value", "'lr'");
  EXPECT_ERROR_HAS(train_config_set(c, "model=2"), "'model' is a section");
  EXPECT_ERROR_HAS(train_config_parse(c, "model: 3\n", "cfg.yaml"), "'model' must be a section");
  EXPECT_ERROR_HAS(train_config_parse(c, "lr: [1\n", "cfg.yaml"), "cfg.yaml", "invalid YAML");
}

TEST(TrainConfig, IllTypedValuesNameKeyAndValue) {
  TrainConfig c;
  EXPECT_ERROR_HAS(train_config_parse(c, "lr: abc\n", "cfg.yaml"), "cfg.yaml", "'lr'", "'abc'",
                   "number");
  EXPECT_ERROR_HAS(train_config_parse(c, "model: {n_layer: 2.5}\n", "cfg.yaml"),
                   "'model.n_layer'", "'2.5'", "integer");
  EXPECT_ERROR_HAS(train_config_parse(c, "data: {completion_only_loss: maybe}\n", "c.yaml"),
                   "'data.completion_only_loss'", "'maybe'");
  EXPECT_ERROR_HAS(train_config_parse(c, "steps: [1, 2]\n", "c.yaml"), "'steps'");
  EXPECT_ERROR_HAS(train_config_set(c, "batch_size=eight"), "'batch_size'", "'eight'");
  EXPECT_ERROR_HAS(train_config_set(c, "seed=-1"), "'seed'", "'-1'");
  EXPECT_ERROR_HAS(train_config_set(c, "lr=nan"), "'lr'", "'nan'");
  EXPECT_ERROR_HAS(train_config_set(c, "lr="), "'lr'");
}

TEST(TrainConfig, OutOfRangeValuesAreRejected) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/d.txt", "hello");
  struct Case {
    const char* set;
    std::vector<const char*> expect;
  };
  std::vector<Case> cases = {
      {"batch_size=0", {"'batch_size'", "(got 0)"}},
      {"seq_len=33", {"'seq_len' (33)", "'model.n_ctx' (32)"}},
      {"lr=0", {"'lr' must be > 0"}},
      {"lr=-1e-3", {"'lr' must be > 0"}},
      {"grad_clip=-1", {"'grad_clip' must be >= 0"}},
      {"weight_decay=-0.1", {"'weight_decay' must be >= 0"}},
      {"beta1=1", {"'beta1' must be in [0, 1)"}},
      {"beta2=-0.5", {"'beta2' must be in [0, 1)"}},
      {"model.n_head=3", {"'model.n_embd' (16)", "'model.n_head' (3)"}},
      {"model.n_layer=0", {"'model.n_layer' must be >= 1"}},
      {"model.vocab_size=100", {"'model.vocab_size'", ">= 259"}},
      {"steps=0", {"'steps'"}},
      {"eval_batches=0", {"'eval_batches'"}},
      {"min_lr=1", {"'min_lr'"}},
      {"data.format=xml", {"'data.format'", "'xml'"}},
      {"data.val_fraction=0", {"'data.val_fraction'"}},
      {"data.train=[]", {"'data.train' must list"}},
      {"data.train=/nonexistent/x.txt", {"'data.train'", "'/nonexistent/x.txt' not found"}},
      {"data.val=missing.jsonl", {"'data.val'", "'missing.jsonl' not found"}},
      {"tokenizer.path=/nonexistent/tok.json", {"'tokenizer.path'", "not found"}},
  };
  TrainConfig base = tiny_config(dir + "/d.txt", dir + "/out");
  EXPECT_NO_THROW(train_config_validate(base));
  for (const auto& cs : cases) {
    TrainConfig c = base;
    train_config_set(c, cs.set);
    std::string msg = error_of([&] { train_config_validate(c); });
    for (const char* s : cs.expect)
      EXPECT_NE(msg.find(s), std::string::npos) << cs.set << " -> " << msg;
  }
  EXPECT_FALSE(file_exists(dir + "/out"));
  std::filesystem::remove_all(dir);
}

TEST(TrainConfig, YamlDumpRoundTripsAndHashIgnoresRunLength) {
  TrainConfig c;
  train_config_set(c, "lr=3e-4");
  train_config_set(c, "data.train=[a b.txt, \"q.jsonl\"]");
  train_config_set(c, "model.layer_norm_epsilon=1e-6");
  std::string y = train_config_to_yaml(c);
  TrainConfig d;
  train_config_parse(d, y, "dump");
  EXPECT_EQ(train_config_to_yaml(d), y);
  EXPECT_NE(y.find("lr: 3e-04\n"), std::string::npos) << y;
  EXPECT_NE(y.find("layer_norm_epsilon: 1e-06\n"), std::string::npos) << y;
  EXPECT_EQ(train_config_hash(c), train_config_hash(d));
  d.steps = 99999;
  d.out_dir = "elsewhere";
  d.threads = 3;
  EXPECT_EQ(train_config_hash(c), train_config_hash(d));
  d.lr = 1e-3;
  EXPECT_NE(train_config_hash(c), train_config_hash(d));
}

// ---------------------------------------------------------------- optimiser

TEST(TrainAdamW, OneStepMatchesHandComputedValues) {
  AdamWParams hp;
  hp.lr = 0.1f;
  hp.beta1 = 0.9f;
  hp.beta2 = 0.999f;
  hp.eps = 1e-8f;
  hp.weight_decay = 0.1f;
  float p[2] = {1.0f, 1.0f}, g[2] = {0.5f, 0.5f}, m[2] = {0, 0}, v[2] = {0, 0};
  // t=1: m=0.05, v=0.00025, mhat=0.5, vhat=0.25 -> step 1; decay: p -= 0.1*(1 + 0.1*1)
  adamw_update(p, g, m, v, 1, hp, 1, /*decay=*/true);
  adamw_update(p + 1, g + 1, m + 1, v + 1, 1, hp, 1, /*decay=*/false);
  EXPECT_NEAR(p[0], 0.89f, 1e-6);
  EXPECT_NEAR(p[1], 0.90f, 1e-6);
  EXPECT_NEAR(m[1], 0.05f, 1e-7);
  EXPECT_NEAR(v[1], 0.00025f, 1e-8);
  // t=2, g=-0.5: m=-0.005, v=0.00049975, mhat=-0.005/0.19, vhat=0.00049975/0.001999=0.25
  float g2 = -0.5f;
  adamw_update(p + 1, &g2, m + 1, v + 1, 1, hp, 2, false);
  EXPECT_NEAR(p[1], 0.9 + 0.1 * (0.005 / 0.19) / 0.5, 2e-6);
  // grad_scale (clipping) scales g before the moments
  float q = 1.0f, gq = 2.0f, mq = 0, vq = 0;
  adamw_update(&q, &gq, &mq, &vq, 1, hp, 1, false, 0.25f);
  EXPECT_NEAR(mq, 0.05f, 1e-7);
}

TEST(TrainAdamW, DecaysOnlyMatricesAndClipsGlobalNorm) {
  ModelConfig mc;
  mc.vocab_size = 20;
  mc.n_ctx = 8;
  mc.n_embd = 8;
  mc.n_layer = 1;
  mc.n_head = 2;
  Model m = model_create(mc);
  model_init_random(m, 1);
  Model before = model_create(mc);
  std::copy(m.memory.get(), m.memory.get() + m.num_params, before.memory.get());
  AdamW opt = adamw_create(m.num_params);
  std::vector<float> zero(m.num_params, 0.0f);
  AdamWParams hp;
  hp.lr = 0.1f;
  hp.weight_decay = 0.5f;
  EXPECT_EQ(adamw_step(opt, m, zero.data(), hp, 1.0f), 0.0f);
  EXPECT_EQ(opt.t, 1);
  // zero gradients: decayed tensors shrink by (1 - lr*wd), the others stay put
  EXPECT_FLOAT_EQ(m.p.wte[3], before.p.wte[3] * 0.95f);
  EXPECT_FLOAT_EQ(m.p.wpe[3], before.p.wpe[3] * 0.95f);
  EXPECT_FLOAT_EQ(m.p.qkvw[5], before.p.qkvw[5] * 0.95f);
  EXPECT_FLOAT_EQ(m.p.fcprojw[5], before.p.fcprojw[5] * 0.95f);
  EXPECT_EQ(m.p.ln1w[0], 1.0f);
  EXPECT_EQ(m.p.lnfw[0], 1.0f);
  const char* decays = "1100101000101000";
  for (int i = 0; i < kNumParamTensors; i++) EXPECT_EQ(param_tensor_decays(i), decays[i] == '1');

  // global norm, and clipping: a norm-10 gradient clipped to 1 moves m by 0.1 * g / 10
  std::vector<float> g(m.num_params, 0.0f);
  g[0] = 6.0f;
  g[m.num_params - 1] = 8.0f;
  EXPECT_DOUBLE_EQ(grad_norm(g.data(), g.size()), 10.0);
  AdamW o2 = adamw_create(m.num_params);
  hp.beta1 = 0.9f;
  EXPECT_FLOAT_EQ(adamw_step(o2, m, g.data(), hp, 1.0f), 10.0f);
  EXPECT_NEAR(o2.m[0], 0.1f * 0.6f, 1e-7);
  EXPECT_NEAR(o2.m[m.num_params - 1], 0.1f * 0.8f, 1e-7);
}

TEST(TrainLrSchedule, WarmupPeakAndCosineEnd) {
  const double lr = 1e-3, mn = 1e-4;
  EXPECT_DOUBLE_EQ(lr_at(0, 100, 10, lr, mn), 1e-4);
  EXPECT_DOUBLE_EQ(lr_at(4, 100, 10, lr, mn), 5e-4);
  EXPECT_DOUBLE_EQ(lr_at(9, 100, 10, lr, mn), lr);   // end of warm-up: peak
  EXPECT_DOUBLE_EQ(lr_at(10, 100, 10, lr, mn), lr);  // cosine starts at the peak
  EXPECT_NEAR(lr_at(10 + 89 / 2.0, 100, 10, lr, mn), (lr + mn) / 2, 1e-5);
  EXPECT_NEAR(lr_at(99, 100, 10, lr, mn), mn, 1e-15);  // last step: min_lr
  EXPECT_DOUBLE_EQ(lr_at(0, 100, 0, lr, mn), lr);      // no warm-up
  for (int s = 11; s < 100; s++) EXPECT_LT(lr_at(s, 100, 10, lr, mn), lr_at(s - 1, 100, 10, lr, mn));
}

// ---------------------------------------------------------------- data

TEST(TrainData, TextFilesAreDocumentsWithSpecials) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/a.txt", "Lily had a ball.");
  write_file_atomic(dir + "/b.txt", "<think>Where?</think> In the park.");
  Tokenizer tok = tiny_tokenizer();
  // completion-only loss on plain text would train on every token: refused, naming the file
  EXPECT_ERROR_HAS(data_load_stream({dir + "/a.txt", dir + "/b.txt"}, "auto", true, tok, ""),
                   "data.completion_only_loss", "a.txt", "no {\"prompt\"");
  TokenStream s = data_load_stream({dir + "/a.txt", dir + "/b.txt"}, "auto", false, tok, "");
  EXPECT_EQ(tokenizer_decode(tok, s.tokens),
            "Lily had a ball.<|endoftext|><think>Where?</think> In the park.<|endoftext|>");
  ASSERT_EQ(s.doc_ends.size(), 2u);
  EXPECT_EQ(s.tokens[s.doc_ends[0] - 1], tokenizer_special_id(tok, kEndOfText));
  EXPECT_EQ(s.tokens[s.doc_ends[0]], tokenizer_special_id(tok, kThinkOpen));
  for (uint8_t x : s.mask) EXPECT_EQ(x, 1);  // text files are all completion
  EXPECT_FALSE(s.from_cache);
  std::filesystem::remove_all(dir);
}

TEST(TrainData, JsonlTextAndPromptCompletionWithLossMask) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/d.jsonl",
                    "{\"prompt\": \"Q: where? \", \"completion\": \"A: park.\"}\n\n"
                    "{\"text\": \"Lily ran.\"}\n");
  Tokenizer tok = tiny_tokenizer();
  int eot = tokenizer_special_id(tok, kEndOfText);
  TokenStream all = data_load_stream({dir + "/d.jsonl"}, "auto", false, tok, "");
  EXPECT_EQ(tokenizer_decode(tok, all.tokens),
            "Q: where? A: park.<|endoftext|>Lily ran.<|endoftext|>");
  for (uint8_t x : all.mask) EXPECT_EQ(x, 1);
  TokenStream s = data_load_stream({dir + "/d.jsonl"}, "jsonl", true, tok, "");
  ASSERT_EQ(s.tokens, all.tokens);
  std::vector<int> counted;
  for (size_t i = 0; i < s.tokens.size(); i++)
    if (s.mask[i]) counted.push_back(s.tokens[i]);
  EXPECT_EQ(tokenizer_decode(tok, counted), "A: park.<|endoftext|>Lily ran.<|endoftext|>");
  size_t n_prompt = tokenizer_encode(tok, "Q: where? ", true).size();
  for (size_t i = 0; i < n_prompt; i++) EXPECT_EQ(s.mask[i], 0) << i;
  // targets: -1 where the next token's mask is off
  std::vector<int> in, tgt;
  eval_batches(s, 1, (int)s.tokens.size() - 1, 1, &in, &tgt);
  for (size_t t = 0; t + 1 < s.tokens.size(); t++) {
    EXPECT_EQ(in[t], s.tokens[t]);
    EXPECT_EQ(tgt[t], s.mask[t + 1] ? s.tokens[t + 1] : -1);
  }
  EXPECT_EQ(tgt.back(), eot);
  std::filesystem::remove_all(dir);
}

TEST(TrainData, ADocumentEndingWithEndOfTextGetsNoSecondOne) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/d.jsonl",
                    "{\"prompt\": \"1+2=\", \"completion\": \"<think>3</think>3<|endoftext|>\"}\n"
                    "{\"prompt\": \"2+2=\", \"completion\": \"<think>4</think>4\"}\n");
  Tokenizer tok = tiny_tokenizer();
  TokenStream s = data_load_stream({dir + "/d.jsonl"}, "auto", true, tok, "");
  EXPECT_EQ(tokenizer_decode(tok, s.tokens),
            "1+2=<think>3</think>3<|endoftext|>2+2=<think>4</think>4<|endoftext|>");
  std::filesystem::remove_all(dir);
}

TEST(TrainData, AlignedWindowsStartAtDocuments) {
  TokenStream s;
  for (int d = 0; d < 6; d++) {
    for (int t = 0; t < 3 + d; t++) s.tokens.push_back(100 * d + t), s.mask.push_back(1);
    s.doc_ends.push_back(s.tokens.size());
  }
  BatchSampler a = batch_sampler_create(s, 2, 4, 7, /*align=*/true);
  std::set<int> firsts;
  for (int step = 0; step < 9; step++) {
    std::vector<int> in(8), tgt(8);
    batch_sampler_next(a, in.data(), tgt.data());
    for (int b = 0; b < 2; b++) {
      EXPECT_EQ(in[b * 4] % 100, 0) << "window starts at a document start";
      firsts.insert(in[b * 4]);
    }
  }
  EXPECT_EQ(firsts.size(), 6u) << "every document starts a window within an epoch";
  std::vector<int> ein, etgt;
  eval_batches(s, 2, 4, 2, &ein, &etgt, /*align=*/true);
  for (int w = 0; w < 4; w++) EXPECT_EQ(ein[w * 4] % 100, 0) << "eval window " << w;
  EXPECT_EQ(ein[0], 0);
  EXPECT_EQ(ein[12], 500);
  // the last document's window runs past the end: padding carries no loss
  BatchSampler b = batch_sampler_create(s, 1, 12, 1, true);
  for (int i = 0; i < 6; i++) {
    std::vector<int> in(12), tgt(12);
    batch_sampler_next(b, in.data(), tgt.data());
    if (in[0] == 500) {
      for (int t = 7; t < 12; t++) EXPECT_EQ(tgt[t], -1) << t;
    }
  }
}

TEST(TrainData, BadJsonlLinesNameFileAndLine) {
  std::string dir = make_temp_dir();
  std::string f = dir + "/bad.jsonl";
  write_file_atomic(f, "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
  EXPECT_ERROR_HAS(data_read_documents(f, "auto"), "bad.jsonl:2", "invalid JSON");
  write_file_atomic(f, "{\"text\": \"ok\"}\n\n{\"prompt\": \"p\"}\n");
  EXPECT_ERROR_HAS(data_read_documents(f, "auto"), "bad.jsonl:3", "completion");
  write_file_atomic(f, "[1, 2]\n");
  EXPECT_ERROR_HAS(data_read_documents(f, "auto"), "bad.jsonl:1", "object");
  write_file_atomic(f, "{\"text\": 5}\n");
  EXPECT_ERROR_HAS(data_read_documents(f, "auto"), "bad.jsonl:1", "\"text\" must be a string");
  // format: text reads the same file as plain text
  EXPECT_EQ(data_read_documents(f, "text").size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(TrainData, CacheIsReusedAndInvalidated) {
  std::string dir = make_temp_dir();
  std::string f = dir + "/a.txt", cache = dir + "/tokens.bin";
  write_file_atomic(f, repeat(kStory, 3));
  Tokenizer tok = tiny_tokenizer();
  TokenStream s1 = data_load_stream({f}, "auto", false, tok, cache);
  EXPECT_FALSE(s1.from_cache);
  ASSERT_TRUE(file_exists(cache));
  TokenStream s2 = data_load_stream({f}, "auto", false, tok, cache);
  EXPECT_TRUE(s2.from_cache);  // nothing re-tokenized
  EXPECT_EQ(s2.tokens, s1.tokens);
  EXPECT_EQ(s2.mask, s1.mask);
  EXPECT_EQ(s2.doc_ends, s1.doc_ends);
  // the file changes -> rebuilt
  write_file_atomic(f, repeat(kStory, 3) + "The end.");
  TokenStream s3 = data_load_stream({f}, "auto", false, tok, cache);
  EXPECT_FALSE(s3.from_cache);
  EXPECT_GT(s3.tokens.size(), s1.tokens.size());
  EXPECT_TRUE(data_load_stream({f}, "auto", false, tok, cache).from_cache);
  // other options or another tokenizer -> rebuilt (completion-only loss needs prompts)
  const std::string g = dir + "/p.jsonl";
  write_file_atomic(g, "{\"prompt\": \"Where? \", \"completion\": \"In the park.\"}\n");
  EXPECT_FALSE(data_load_stream({g}, "auto", false, tok, cache).from_cache);
  EXPECT_TRUE(data_load_stream({g}, "auto", false, tok, cache).from_cache);
  EXPECT_FALSE(data_load_stream({g}, "auto", true, tok, cache).from_cache);
  Tokenizer tok2 = tokenizer_train({repeat(kStory, 4)}, 280, {kEndOfText});
  EXPECT_FALSE(data_load_stream({g}, "auto", true, tok2, cache).from_cache);
  // a corrupt cache is rebuilt, not trusted
  write_file_atomic(cache, "SSLMTOK1garbage");
  EXPECT_FALSE(data_load_stream({g}, "auto", true, tok2, cache).from_cache);
  std::filesystem::remove_all(dir);
}

TEST(TrainData, SplitAndDeterministicShuffledChunks) {
  TokenStream s;
  for (int i = 0; i < 1000; i++) s.tokens.push_back(i % 250), s.mask.push_back(1);
  for (int d = 1; d <= 10; d++) s.doc_ends.push_back(d * 100);
  DataSplits sp = data_split(s, 0.2);  // 10 documents -> the last 2 held out
  EXPECT_EQ(sp.train.tokens.size(), 800u);
  EXPECT_EQ(sp.val.tokens.size(), 200u);
  EXPECT_EQ(sp.val.doc_ends, (std::vector<uint64_t>{100, 200}));
  TokenStream one = s;
  one.doc_ends = {1000};
  DataSplits sp1 = data_split(one, 0.05);  // one long document -> the last 5% of tokens
  EXPECT_EQ(sp1.train.tokens.size(), 950u);
  EXPECT_EQ(sp1.val.tokens[0], 950 % 250);

  const int B = 3, T = 16;
  BatchSampler a = batch_sampler_create(sp.train, B, T, 42), b = batch_sampler_create(sp.train, B, T, 42);
  std::vector<int> ia(B * T), ta(B * T), ib(B * T), tb(B * T);
  std::vector<std::vector<int>> seen;
  for (int k = 0; k < 40; k++) {  // crosses several epochs (49 chunks / 3 per batch)
    batch_sampler_next(a, ia.data(), ta.data());
    batch_sampler_next(b, ib.data(), tb.data());
    EXPECT_EQ(ia, ib);
    for (int i = 0; i < B * T; i++) EXPECT_EQ(ta[i], (ia[i] + 1) % 250);
    seen.push_back(ia);
  }
  EXPECT_GE(a.epoch, 2u);
  // restoring a saved position continues the same sequence
  BatchSampler c = batch_sampler_create(sp.train, B, T, 42);
  batch_sampler_restore(c, a.epoch_rng, a.epoch, a.cursor);
  for (int k = 0; k < 20; k++) {
    batch_sampler_next(a, ia.data(), ta.data());
    batch_sampler_next(c, ib.data(), tb.data());
    EXPECT_EQ(ia, ib);
  }
  BatchSampler other = batch_sampler_create(sp.train, B, T, 43);
  batch_sampler_next(other, ib.data(), tb.data());
  EXPECT_NE(ib, seen[0]);
}

// ---------------------------------------------------------------- loop

std::vector<nlohmann::json> read_metrics(const std::string& path, const char* type) {
  std::vector<nlohmann::json> v;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) {
      auto j = nlohmann::json::parse(line);
      if (j["type"] == type) v.push_back(j);
    }
  return v;
}

TEST(TrainLoop, LossFallsOnRepetitiveCorpus) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/d.txt", repeat("the cat sat on the mat. the dog ran to the log. ", 150));
  TrainConfig c = tiny_config(dir + "/d.txt", dir + "/out");
  c.steps = 100;
  c.eval_interval = 50;
  TrainOptions opt;
  opt.quiet = true;
  TrainResult r = train_run(c, opt);
  ASSERT_EQ(r.losses.size(), 100u);
  ASSERT_EQ(r.val_losses.size(), 3u);  // steps 0, 50, 100
  EXPECT_EQ(r.val_losses.front().first, 0);
  EXPECT_GT(r.val_losses.front().second, 5.0f);  // ~log(300) at init
  EXPECT_LT(r.val_losses.back().second, 1.5f) << r.val_losses.back().second;  // ~0.6
  EXPECT_LT(r.val_losses.back().second, r.val_losses[1].second);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl",
                        "train_config.yaml", "train_state.bin", "tokens-train.bin"})
    EXPECT_TRUE(file_exists(dir + "/out/" + f)) << f;
  auto train = read_metrics(dir + "/out/metrics.jsonl", "train");
  ASSERT_EQ(train.size(), 100u);
  for (const char* k : {"step", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"})
    EXPECT_TRUE(train[0].contains(k)) << k;
  EXPECT_EQ(read_metrics(dir + "/out/metrics.jsonl", "eval").size(), 3u);
  // the saved model is a loadable GPT-2 directory with the tokenizer's EOT as bos/eos
  Model m = model_load(dir + "/out");
  Tokenizer tok = tokenizer_load(dir + "/out");
  EXPECT_EQ(m.cfg.n_layer, 2);
  EXPECT_EQ(m.cfg.eos_token_id, tokenizer_special_id(tok, kEndOfText));
  // a second run in the same directory is refused (it would overwrite the checkpoint)...
  const size_t saved_size = read_file(dir + "/out/model.safetensors").size();
  c.steps = 1;
  c.eval_batches = 1;
  EXPECT_ERROR_HAS(train_run(c, opt), "already holds a checkpoint", "--resume", "--overwrite");
  EXPECT_EQ(read_file(dir + "/out/model.safetensors").size(), saved_size);
  // ... unless asked to start afresh, and then it reuses the data cache
  opt.overwrite = true;
  EXPECT_TRUE(train_run(c, opt).data_from_cache);
  std::filesystem::remove_all(dir);
}

TEST(TrainLoop, JsonlCompletionOnlyWithValFileAndReusedTokenizer) {
  std::string dir = make_temp_dir();
  std::string train, val;
  for (int i = 0; i < 40; i++) {
    std::string line = "{\"prompt\": \"Q: where is the ball? \", \"completion\": "
                       "\"<think>look</think> A: in the park.\"}\n";
    (i % 8 == 7 ? val : train) += line;
  }
  write_file_atomic(dir + "/train.jsonl", train);
  write_file_atomic(dir + "/val.jsonl", val);
  Tokenizer tok = tiny_tokenizer();
  tokenizer_save(tok, dir + "/tokenizer.json");
  TrainConfig c = tiny_config(dir + "/train.jsonl", dir + "/out");
  c.val_files = {dir + "/val.jsonl"};
  c.completion_only_loss = true;
  c.tokenizer_path = dir + "/tokenizer.json";
  c.steps = 5;
  TrainOptions opt;
  opt.quiet = true;
  TrainResult r = train_run(c, opt);
  EXPECT_EQ(r.end_step, 5);
  EXPECT_TRUE(file_exists(dir + "/out/tokens-val.bin"));
  EXPECT_EQ(tokenizer_load(dir + "/out/tokenizer.json").id_to_bytes, tok.id_to_bytes);
  EXPECT_LT(r.val_losses.back().second, r.val_losses.front().second);
  // a reused tokenizer larger than the model's vocabulary is an error before any file is written
  c.model.vocab_size = tokenizer_vocab_size(tok) - 1;
  c.out_dir = dir + "/small";
  EXPECT_ERROR_HAS(train_run(c, opt), "tokenizer has", "'model.vocab_size'");
  EXPECT_FALSE(file_exists(dir + "/small"));
  std::filesystem::remove_all(dir);
}

TEST(TrainLoop, InitFromStartsFromAModelsWeightsAndTokenizer) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/c.txt", repeat("the cat sat on the mat. ", 300));
  TrainConfig a = tiny_config(dir + "/c.txt", dir + "/a");
  a.steps = 30;
  TrainOptions opt;
  opt.quiet = true;
  TrainResult ra = train_run(a, opt);
  // b starts where a ended: its first validation loss is a's last (same held-out windows)
  TrainConfig b = tiny_config(dir + "/c.txt", dir + "/b");
  b.init_from = dir + "/a";
  b.seed = 99;  // the weights come from a, not from the seed
  b.steps = 3;
  TrainResult rb = train_run(b, opt);
  EXPECT_EQ(rb.val_losses.front().second, ra.val_losses.back().second);
  EXPECT_EQ(read_file(dir + "/b/tokenizer.json"), read_file(dir + "/a/tokenizer.json"));
  // a shape that differs, a directory that is no model, and a tokenizer given as well
  TrainConfig bad = b;
  bad.out_dir = dir + "/bad";
  bad.model.n_layer += 1;
  EXPECT_ERROR_HAS(train_run(bad, opt), "init_from", "model.n_layer");
  bad = b;
  bad.out_dir = dir + "/bad";
  bad.init_from = dir;
  EXPECT_ERROR_HAS(train_config_validate(bad), "init_from", "not a model directory");
  bad = b;
  bad.tokenizer_names = 1;
  EXPECT_ERROR_HAS(train_config_validate(bad), "init_from", "tokenizer.names");
  EXPECT_FALSE(file_exists(dir + "/bad"));
  std::filesystem::remove_all(dir);
}

TEST(TrainLoop, ResumeIsBitIdenticalToAnUninterruptedRun) {
  std::string dir = make_temp_dir();
  write_file_atomic(dir + "/d.txt", repeat(kStory, 12));
  TrainOptions opt;
  opt.quiet = true;
  TrainConfig a = tiny_config(dir + "/d.txt", dir + "/straight");
  TrainResult ra = train_run(a, opt);

  TrainConfig b = a;
  b.out_dir = dir + "/split";
  opt.stop_at = 10;
  TrainResult rb1 = train_run(b, opt);
  EXPECT_EQ(rb1.end_step, 10);
  opt.stop_at = 0;
  opt.resume = true;
  TrainResult rb2 = train_run(b, opt);
  EXPECT_EQ(rb2.start_step, 10);
  EXPECT_EQ(rb2.end_step, 20);

  std::vector<float> split = rb1.losses;
  split.insert(split.end(), rb2.losses.begin(), rb2.losses.end());
  ASSERT_EQ(split.size(), ra.losses.size());
  for (size_t i = 0; i < split.size(); i++)
    EXPECT_EQ(split[i], ra.losses[i]) << "step " << i + 1;  // bit-identical
  // metrics.jsonl of the resumed run: the same train records, the same final eval
  auto ma = read_metrics(dir + "/straight/metrics.jsonl", "train");
  auto mb = read_metrics(dir + "/split/metrics.jsonl", "train");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); i++) {
    EXPECT_EQ(ma[i]["step"], mb[i]["step"]);
    EXPECT_EQ(ma[i]["loss"], mb[i]["loss"]);
    EXPECT_EQ(ma[i]["lr"], mb[i]["lr"]);
    EXPECT_EQ(ma[i]["grad_norm"], mb[i]["grad_norm"]);
  }
  EXPECT_EQ(ra.val_losses.back(), rb2.val_losses.back());
  // identical final weights and optimiser moments
  EXPECT_EQ(read_file(dir + "/straight/model.safetensors"),
            read_file(dir + "/split/model.safetensors"));
  TrainState sa = train_state_load(dir + "/straight/train_state.bin");
  TrainState sb = train_state_load(dir + "/split/train_state.bin");
  EXPECT_EQ(sa.step, 20);
  EXPECT_EQ(sb.step, 20);
  EXPECT_EQ(sa.m, sb.m);
  EXPECT_EQ(sa.v, sb.v);
  EXPECT_EQ(sa.cursor, sb.cursor);

  // resuming with other model dims is an error, and changes nothing
  TrainConfig bad = b;
  bad.model.n_layer = 3;
  bad.steps = 30;
  EXPECT_ERROR_HAS(train_run(bad, opt), "cannot resume", "'model.n_layer' is 3",
                   "checkpoint has 2");
  EXPECT_EQ(train_state_load(dir + "/split/train_state.bin").step, 20);
  // resuming a directory without a checkpoint
  TrainConfig none = a;
  none.out_dir = dir + "/nothing";
  EXPECT_ERROR_HAS(train_run(none, opt), "cannot resume", "train_state.bin");
  // a damaged state (parameters that do not match their hash) is reported
  TrainState torn = train_state_load(dir + "/split/train_state.bin");
  torn.params_hash ^= 1;
  train_state_save(torn, dir + "/split/train_state.bin");
  TrainConfig more = b;
  more.steps = 25;
  EXPECT_ERROR_HAS(train_run(more, opt), "train_state.bin", "do not match their hash");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace softslm
