#include "train/train_config.h"

#include <cmath>
#include <filesystem>

#include "base/config_schema.h"
#include "base/error.h"
#include "base/io.h"
#include "base/threads.h"
#include "train/data.h"

namespace softslm {

namespace {

static_assert(sizeof(SoftRecipe) == sizeof(int) && sizeof(LatentKind) == sizeof(int));

#define KEY(NAME, KIND, FIELD, HASHED) \
  KeyDef { NAME, KeyKind::KIND, [](void* c) -> void* { return &static_cast<TrainConfig*>(c)->FIELD; }, HASHED }

const ConfigSchema& schema() {
  static const ConfigSchema s = {{
      KEY("model.vocab_size", Int, model.vocab_size, true),
      KEY("model.n_ctx", Int, model.n_ctx, true),
      KEY("model.n_embd", Int, model.n_embd, true),
      KEY("model.n_layer", Int, model.n_layer, true),
      KEY("model.n_head", Int, model.n_head, true),
      KEY("model.layer_norm_epsilon", Float, model.layer_norm_epsilon, true),
      KEY("init_from", String, init_from, true),
      KEY("tokenizer.path", String, tokenizer_path, true),
      KEY("tokenizer.merge_digits", Bool, tokenizer_merge_digits, true),
      KEY("tokenizer.names", Int, tokenizer_names, true),
      KEY("data.train", StrList, train_files, true),
      KEY("data.val", StrList, val_files, true),
      KEY("data.val_fraction", Double, val_fraction, true),
      KEY("data.format", String, format, true),
      KEY("data.completion_only_loss", Bool, completion_only_loss, true),
      KEY("data.align_documents", Bool, align_documents, true),
      KEY("batch_size", Int, batch_size, true),
      KEY("seq_len", Int, seq_len, true),
      KEY("lr", Double, lr, true),
      KEY("min_lr", OptDouble, min_lr, true),
      KEY("min_lr_ratio", Double, min_lr_ratio, true),
      KEY("warmup_steps", Int64, warmup_steps, true),
      KEY("weight_decay", Double, weight_decay, true),
      KEY("grad_clip", Double, grad_clip, true),
      KEY("beta1", Double, beta1, true),
      KEY("beta2", Double, beta2, true),
      KEY("adam_eps", Double, adam_eps, true),
      KEY("steps", Int64, steps, false),
      KEY("eval_interval", Int64, eval_interval, false),
      KEY("eval_batches", Int, eval_batches, false),
      KEY("checkpoint_interval", Int64, checkpoint_interval, false),
      KEY("log_interval", Int64, log_interval, false),
      KEY("seed", U64, seed, true),
      KEY("threads", Int, threads, false),
      KEY("out_dir", String, out_dir, false),
      KeyDef{"soft_training.recipe", KeyKind::Enum,
             [](void* c) -> void* { return &static_cast<TrainConfig*>(c)->soft.recipe; }, true,
             {"none", "self_feed", "latent", "soft_targets", "internalize"}},
      KEY("soft_training.p_max", Double, soft.p_max, true),
      KEY("soft_training.ramp_steps", Int64, soft.ramp_steps, true),
      KEY("soft_training.temperature", Float, soft.temperature, true),
      KEY("soft_training.top_k", Int, soft.top_k, true),
      KEY("soft_training.top_p", Float, soft.top_p, true),
      KEY("soft_training.min_p", Float, soft.min_p, true),
      KEY("soft_training.max_topk", Int, soft.max_topk, true),
      KEY("soft_training.stage_steps", Int64, soft.stage_steps, true),
      KEY("soft_training.stage_epochs", Double, soft.stage_epochs, true),
      KEY("soft_training.reset_optimizer", Bool, soft.reset_optimizer, true),
      KeyDef{"soft_training.latent_input", KeyKind::Enum,
             [](void* c) -> void* { return &static_cast<TrainConfig*>(c)->soft.latent_input; },
             true, {"hidden", "concept"}},
      KEY("soft_training.thoughts_per_step", Int, soft.thoughts_per_step, true),
      KEY("soft_training.max_stage", Int, soft.max_stage, true),
      KEY("soft_training.remove_per_stage", Int, soft.remove_per_stage, true),
      KEY("soft_training.min_chain", Int, soft.min_chain, true),
      KEY("soft_training.min_chain_fraction", Double, soft.min_chain_fraction, true),
  }, {"model", "tokenizer", "data", "soft_training"}};
  return s;
}
#undef KEY


void check_file(const std::string& key, const std::string& path, bool dir_ok) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  check(std::filesystem::exists(st), "config key '", key, "': file '", path, "' not found");
  check(dir_ok || std::filesystem::is_regular_file(st), "config key '", key, "': '", path,
        "' is not a regular file");
}

}  // namespace

double train_config_min_lr(const TrainConfig& cfg) {
  return cfg.min_lr >= 0 ? cfg.min_lr : cfg.lr * cfg.min_lr_ratio;
}

void train_config_parse(TrainConfig& cfg, const std::string& yaml_text, const std::string& where) {
  config_parse(schema(), &cfg, yaml_text, where);
}

TrainConfig train_config_load(const std::string& path) {
  TrainConfig cfg;
  train_config_parse(cfg, read_file(path), path);
  return cfg;
}

void train_config_set(TrainConfig& cfg, const std::string& assignment) {
  config_set(schema(), &cfg, assignment);
}

void train_config_validate(const TrainConfig& c) {
  auto positive = [](const char* key, int64_t v) {
    check(v >= 1, "config key '", key, "' must be >= 1 (got ", v, ")");
  };
  auto non_negative = [](const char* key, double v) {
    check(v >= 0, "config key '", key, "' must be >= 0 (got ", v, ")");
  };
  const ModelConfig& m = c.model;
  positive("model.vocab_size", m.vocab_size);
  positive("model.n_ctx", m.n_ctx);
  positive("model.n_embd", m.n_embd);
  positive("model.n_layer", m.n_layer);
  positive("model.n_head", m.n_head);
  check(m.n_embd % m.n_head == 0, "config key 'model.n_embd' (", m.n_embd,
        ") must be divisible by 'model.n_head' (", m.n_head, ")");
  check(m.layer_norm_epsilon > 0, "config key 'model.layer_norm_epsilon' must be > 0 (got ",
        m.layer_norm_epsilon, ")");
  check(c.tokenizer_names >= 0 && c.tokenizer_names <= 3,
        "config key 'tokenizer.names' must be in 0..3 (0 = off; got ", c.tokenizer_names, ")");
  check(c.tokenizer_names == 0 || c.tokenizer_path.empty(), "config keys 'tokenizer.names' and "
        "'tokenizer.path' exclude each other: give one");
  if (c.tokenizer_names > 0) {
    int names = 0;
    for (int k = 2, n = 26 * 26; k <= c.tokenizer_names; k++, n *= 26) names += n;
    check(m.vocab_size >= 256 + names + 3, "config key 'model.vocab_size' must be >= ",
          256 + names + 3, " for tokenizer.names = ", c.tokenizer_names, " (256 bytes, one-letter names among them, + ",
          names, " longer names + 3 special tokens), got ", m.vocab_size);
  } else if (c.tokenizer_path.empty())
    check(m.vocab_size >= 256 + 3, "config key 'model.vocab_size' must be >= 259 to train a "
          "byte-level BPE tokenizer (256 bytes + 3 special tokens), got ", m.vocab_size);
  positive("batch_size", c.batch_size);
  positive("seq_len", c.seq_len);
  check(c.seq_len <= m.n_ctx, "config key 'seq_len' (", c.seq_len,
        ") must be <= 'model.n_ctx' (", m.n_ctx, ")");
  check(c.lr > 0, "config key 'lr' must be > 0 (got ", c.lr, ")");
  if (c.min_lr >= 0)
    check(c.min_lr <= c.lr, "config key 'min_lr' (", c.min_lr, ") must be <= 'lr' (", c.lr, ")");
  check(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1,
        "config key 'min_lr_ratio' must be in [0, 1] (got ", c.min_lr_ratio, ")");
  non_negative("warmup_steps", (double)c.warmup_steps);
  non_negative("weight_decay", c.weight_decay);
  non_negative("grad_clip", c.grad_clip);
  check(c.beta1 >= 0 && c.beta1 < 1, "config key 'beta1' must be in [0, 1) (got ", c.beta1, ")");
  check(c.beta2 >= 0 && c.beta2 < 1, "config key 'beta2' must be in [0, 1) (got ", c.beta2, ")");
  check(c.adam_eps > 0, "config key 'adam_eps' must be > 0 (got ", c.adam_eps, ")");
  positive("steps", c.steps);
  non_negative("eval_interval", (double)c.eval_interval);
  positive("eval_batches", c.eval_batches);
  non_negative("checkpoint_interval", (double)c.checkpoint_interval);
  positive("log_interval", c.log_interval);
  threads_resolve(c.threads, "config key 'threads'");
  check(!c.out_dir.empty(), "config key 'out_dir' must not be empty");
  check(c.format == "auto" || c.format == "text" || c.format == "jsonl",
        "config key 'data.format' must be auto, text or jsonl (got '", c.format, "')");
  check(!c.train_files.empty(), "config key 'data.train' must list at least one file");
  for (const auto& f : c.train_files) check_file("data.train", f, false);
  for (const auto& f : c.val_files) check_file("data.val", f, false);
  if (c.val_files.empty())
    check(c.val_fraction > 0 && c.val_fraction < 1,
          "config key 'data.val_fraction' must be in (0, 1) when 'data.val' is empty (got ",
          c.val_fraction, ")");
  if (!c.tokenizer_path.empty()) check_file("tokenizer.path", c.tokenizer_path, true);
  if (!c.init_from.empty()) {
    check(c.tokenizer_path.empty() && c.tokenizer_names == 0, "config key 'init_from' brings "
          "its model's tokenizer: leave 'tokenizer.path' and 'tokenizer.names' unset");
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
      check(std::filesystem::is_regular_file(c.init_from + "/" + f), "config key 'init_from': '",
            c.init_from, "' is not a model directory (no ", f, ")");
  }
  const SoftTrainingConfig& s = c.soft;
  check(s.p_max >= 0 && s.p_max <= 1, "config key 'soft_training.p_max' must be in [0, 1] (got ",
        s.p_max, ")");
  non_negative("soft_training.ramp_steps", (double)s.ramp_steps);
  check(std::isfinite(s.temperature) && s.temperature > 0,
        "config key 'soft_training.temperature' must be > 0 (got ", s.temperature, ")");
  check(s.top_k >= 0, "config key 'soft_training.top_k' must be >= 0 (0 = off; got ", s.top_k,
        ")");
  check(s.top_p > 0 && s.top_p <= 1, "config key 'soft_training.top_p' must be in (0, 1] (got ",
        s.top_p, ")");
  check(s.min_p >= 0 && s.min_p < 1, "config key 'soft_training.min_p' must be in [0, 1) (got ",
        s.min_p, ")");
  check(s.max_topk >= 1 && s.max_topk <= c.model.vocab_size,
        "config key 'soft_training.max_topk' must be in [1, model.vocab_size] (got ", s.max_topk,
        ")");
  positive("soft_training.stage_steps", s.stage_steps);
  check(std::isfinite(s.stage_epochs) && s.stage_epochs >= 0 && s.stage_epochs <= 1e6,
        "config key 'soft_training.stage_epochs' must be in [0, 1e6] (0 = use stage_steps; got ",
        s.stage_epochs, ")");
  positive("soft_training.thoughts_per_step", s.thoughts_per_step);
  non_negative("soft_training.max_stage", s.max_stage);
  positive("soft_training.remove_per_stage", s.remove_per_stage);
  non_negative("soft_training.min_chain", s.min_chain);
  check(std::isfinite(s.min_chain_fraction) && s.min_chain_fraction >= 0 &&
            s.min_chain_fraction <= 1,
        "config key 'soft_training.min_chain_fraction' must be in [0, 1] (got ",
        s.min_chain_fraction, ")");
  if (soft_recipe_structured(s.recipe)) {
    const char* name = s.recipe == SoftRecipe::kLatent        ? "latent"
                       : s.recipe == SoftRecipe::kSoftTargets ? "soft_targets"
                                                              : "internalize";
    for (const auto& f : c.train_files)
      check(data_file_format(f, c.format) == "jsonl", "soft_training.recipe ", name,
            " trains on JSONL examples (prompt, completion", 
            s.recipe == SoftRecipe::kLatent ? ", steps" : "", "); '", f, "' is text");
  }
}

std::string train_config_to_yaml(const TrainConfig& cfg_in) {
  TrainConfig cfg = cfg_in;
  return config_to_yaml(schema(), &cfg,
                        "# softslm training config (resolved: every key, defaults included)\n");
}

uint64_t train_config_hash(const TrainConfig& cfg_in) {
  TrainConfig cfg = cfg_in;
  uint64_t h = fnv1a(std::string("softslm-train-config-v1"));
  for (const KeyDef& d : schema().keys)
    if (d.hashed) h = fnv1a(std::string(d.name) + "=" + config_value(d, &cfg), h);
  return h;
}

std::vector<std::string> train_config_keys() {
  std::vector<std::string> v;
  for (const KeyDef& d : schema().keys) v.push_back(d.name);
  return v;
}

}  // namespace softslm
