// Training configuration: one YAML loader, dotted-key overrides, validation, a canonical dump.
//
// YAML layout (nested sections for the model, tokenizer and data; flat optimisation keys):
//   model:     {vocab_size, n_ctx, n_embd, n_layer, n_head, layer_norm_epsilon}
//   tokenizer: {path, merge_digits, names}  path = tokenizer.json / directory to reuse; empty =
//                              train a new byte-level BPE of model.vocab_size on the training
//                              data (merge_digits: false keeps one token per digit); names =
//                              N in 1..3: instead, the fixed vocabulary with one token per
//                              lowercase name of 1..N letters (tokenizer_names)
//   data:      {train: [files], val: [files], val_fraction, format: auto|text|jsonl,
//               completion_only_loss, align_documents}
//   batch_size, seq_len, lr, min_lr | min_lr_ratio, warmup_steps, weight_decay, grad_clip,
//   beta1, beta2, adam_eps, steps, eval_interval, eval_batches, checkpoint_interval,
//   log_interval, seed, threads, out_dir
//   soft_training: {recipe: none | self_feed | latent | soft_targets | internalize, p_max,
//                   ramp_steps, temperature, top_k, top_p, min_p, max_topk, stage_steps,
//                   stage_epochs,
//                   reset_optimizer, latent_input, thoughts_per_step, max_stage,
//                   remove_per_stage, min_chain, min_chain_fraction}
// Every leaf has a dotted name ("model.n_layer", "data.train", "lr") used by overrides and in
// error messages. Relative paths are relative to the current directory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/embeddings.h"  // LatentKind

namespace softslm {

// Training-time soft thinking (YAML section soft_training; train/soft_training.h).
enum class SoftRecipe { kNone, kSelfFeed, kLatent, kSoftTargets, kInternalize };

// True for the recipes that train on whole examples, one per batch row (train/examples.h).
inline bool soft_recipe_structured(SoftRecipe r) {
  return r == SoftRecipe::kLatent || r == SoftRecipe::kSoftTargets || r == SoftRecipe::kInternalize;
}

struct SoftTrainingConfig {
  SoftRecipe recipe = SoftRecipe::kNone;
  // self_feed: each thinking input (a token inside <think> ... </think>) is replaced, with
  // probability p, by the concept token of the previous position's output distribution
  // (from a first pass without gradient over the ground-truth inputs); p ramps linearly from
  // 0 at step 0 to p_max at ramp_steps, then stays. soft_targets: the same p for its soft
  // positions (the model's own concept instead of the target mixture).
  double p_max = 0.5;          // [0, 1]
  int64_t ramp_steps = 1000;   // >= 0 (0: p_max from the first step)
  // the concept tokens' filters, as at inference (configs/soft-thinking.yaml's thinking.*)
  float temperature = 0.6f;    // > 0
  int top_k = 30;              // >= 0, 0 = off
  float top_p = 0.95f;         // (0, 1]
  float min_p = 0.001f;        // [0, 1)
  int max_topk = 10;           // >= 1: entries per concept token
  // latent and internalize: a curriculum of stages, stage s = min(step / stage_steps, last)
  int64_t stage_steps = 500;   // >= 1
  double stage_epochs = 0;     // > 0: instead, a stage lasts this many passes over the training
                               // examples (stage_steps = ceil(stage_epochs * examples / batch))
  bool reset_optimizer = true;  // AdamW's moments restart at each new stage (as both papers)
  // latent (Coconut): at stage s the first s reasoning steps of every example are replaced by
  // min(s, max_stage) * thoughts_per_step latent positions; the loss covers the rest
  LatentKind latent_input = LatentKind::kHidden;  // hidden | concept
  int thoughts_per_step = 1;   // >= 1 (c)
  int max_stage = 0;           // >= 0; 0 = the most steps of any training example
  // internalize (iCoT): at stage s the first s * remove_per_stage chain tokens are removed,
  // keeping at least max(min_chain, ceil(min_chain_fraction x the chain's length)) of them
  int remove_per_stage = 8;    // >= 1
  int min_chain = 0;           // >= 0
  double min_chain_fraction = 0;  // in [0, 1]
};

struct TrainConfig {
  ModelConfig model;  // vocab_size, n_ctx, n_embd, n_layer, n_head, layer_norm_epsilon
  // A model directory (config.json, model.safetensors, tokenizer.json) whose weights and
  // tokenizer a fresh run starts from instead of random weights and a new tokenizer (e.g. a
  // recipe's curriculum from the chain-of-thought model); its shape must equal `model`'s.
  std::string init_from;

  std::string tokenizer_path;  // "" = train a new BPE on the training data
  bool tokenizer_merge_digits = true;  // false: a trained BPE keeps one token per digit
  int tokenizer_names = 0;  // 1..3: tokenizer_names(N) instead of a trained BPE; 0 = off

  std::vector<std::string> train_files;
  std::vector<std::string> val_files;  // empty = hold out val_fraction of the training data
  double val_fraction = 0.05;
  std::string format = "auto";  // auto | text | jsonl (auto: *.jsonl / *.json are JSONL)
  bool completion_only_loss = false;
  bool align_documents = false;  // training windows start at document starts (see BatchSampler)

  int batch_size = 16;
  int seq_len = 256;
  double lr = 6e-4;
  double min_lr = -1;  // < 0: unset, use lr * min_lr_ratio
  double min_lr_ratio = 0.1;
  int64_t warmup_steps = 100;
  double weight_decay = 0.1;
  double grad_clip = 1.0;  // 0 = no clipping
  double beta1 = 0.9;
  double beta2 = 0.95;
  double adam_eps = 1e-8;
  int64_t steps = 1000;
  int64_t eval_interval = 100;        // 0 = evaluate only at the start and the end
  int eval_batches = 8;
  int64_t checkpoint_interval = 500;  // 0 = checkpoint only at the end
  int64_t log_interval = 10;
  uint64_t seed = 1337;
  int threads = 0;  // 0 = all cores
  std::string out_dir = "runs/default";
  SoftTrainingConfig soft;
};

// The minimum learning rate the cosine schedule decays to (min_lr, or lr * min_lr_ratio).
double train_config_min_lr(const TrainConfig& cfg);

// Parses YAML text on top of `cfg` (keys absent from the text keep their values). `where`
// (a file name) prefixes errors. Unknown keys and ill-typed values throw Error naming the key.
void train_config_parse(TrainConfig& cfg, const std::string& yaml_text, const std::string& where);
// Reads and parses a YAML file on top of the defaults.
TrainConfig train_config_load(const std::string& path);
// Applies one "dotted.key=value" override; the value is read as a YAML scalar / flow sequence
// (e.g. data.train=[a.txt,b.txt]; a comma-separated list also works for file lists).
void train_config_set(TrainConfig& cfg, const std::string& assignment);

// Range and consistency checks (sizes, seq_len <= n_ctx, lr > 0, betas in [0, 1), ...) and
// existence of the data / tokenizer files. Throws Error naming the key and value.
void train_config_validate(const TrainConfig& cfg);

// Canonical YAML of every key (the resolved config written to out_dir/train_config.yaml).
std::string train_config_to_yaml(const TrainConfig& cfg);
// Hash of the keys that shape the training trajectory (model, tokenizer, data, batch, optimiser,
// seed); excludes steps, intervals, threads and out_dir, which a resumed run may change.
uint64_t train_config_hash(const TrainConfig& cfg);

// The dotted names of every key, in canonical order (for help texts and tests).
std::vector<std::string> train_config_keys();

// FNV-1a 64-bit hash helpers (used for config, data cache and checkpoint checksums).
inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
inline uint64_t fnv1a(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  // length first, so ("ab","c") and ("a","bc") hash differently when chained
  uint64_t n = s.size();
  return fnv1a(s.data(), s.size(), fnv1a(&n, sizeof n, h));
}

}  // namespace softslm
