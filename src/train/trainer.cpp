#include "train/trainer.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/buffer.h"
#include "base/error.h"
#include "base/io.h"
#include "base/progress.h"
#include "base/threads.h"
#include "model/checkpoint.h"
#include "model/gpt2_train.h"
#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/data.h"
#include "generate/soft_config.h"
#include "train/examples.h"
#include "train/recipes.h"
#include "train/soft_training.h"

namespace softslm {

namespace {

constexpr char kStateMagic[8] = {'S', 'S', 'L', 'M', 'T', 'R', 'N', '1'};
constexpr uint32_t kStateVersion = 2;

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
T get(const std::string& data, size_t& pos, const std::string& path) {
  T v;
  check(pos + sizeof v <= data.size(), path, ": truncated training state");
  std::memcpy(&v, data.data() + pos, sizeof v);
  pos += sizeof v;
  return v;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Restores the OpenMP thread count on scope exit.
struct ThreadScope {
  int saved;
  explicit ThreadScope(int threads) : saved(omp_get_max_threads()) {
    omp_set_num_threads(threads_resolve(threads, "config key 'threads'"));
  }
  ~ThreadScope() { omp_set_num_threads(saved); }
};

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

std::string fmt_count(double x) {
  if (x >= 1e6) return fmt("%.2fM", x / 1e6);
  if (x >= 1e3) return fmt("%.1fk", x / 1e3);
  return fmt("%.0f", x);
}

// Keeps the records of steps <= last_step (a resumed run re-does the later ones).
std::string metrics_keep_until(const std::string& path, int64_t last_step) {
  if (!file_exists(path)) return "";
  std::istringstream in(read_file(path));
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("step", (int64_t)0) > last_step) continue;
    } catch (const nlohmann::json::exception&) {
      continue;  // a torn last line
    }
    out += line + "\n";
  }
  return out;
}

// `what`: "cannot resume from DIR" or "cannot start from DIR (init_from)".
void check_shape_matches(const TrainConfig& cfg, const ModelConfig& ck, const std::string& what) {
  auto same = [&](const char* key, long a, long b) {
    check(a == b, what, ": config key '", key, "' is ", a, " but the checkpoint has ", b);
  };
  same("model.vocab_size", cfg.model.vocab_size, ck.vocab_size);
  same("model.n_ctx", cfg.model.n_ctx, ck.n_ctx);
  same("model.n_embd", cfg.model.n_embd, ck.n_embd);
  same("model.n_layer", cfg.model.n_layer, ck.n_layer);
  same("model.n_head", cfg.model.n_head, ck.n_head);
}

Tokenizer make_tokenizer(const TrainConfig& cfg) {
  Tokenizer tok;
  if (!cfg.tokenizer_path.empty()) {
    tok = tokenizer_load(cfg.tokenizer_path);
  } else if (cfg.tokenizer_names > 0) {
    tok = tokenizer_names(cfg.tokenizer_names, {kEndOfText, kThinkOpen, kThinkClose});
  } else {
    std::vector<std::string> texts;
    for (const auto& f : cfg.train_files)
      for (auto& d : data_read_documents(f, cfg.format)) texts.push_back(d.prompt + d.completion);
    tok = tokenizer_train(texts, cfg.model.vocab_size, {kEndOfText, kThinkOpen, kThinkClose},
                          cfg.tokenizer_merge_digits);
  }
  check(tokenizer_special_id(tok, kEndOfText) >= 0, "the tokenizer has no ", kEndOfText,
        " token");
  check(tokenizer_vocab_size(tok) <= cfg.model.vocab_size, "the tokenizer has ",
        tokenizer_vocab_size(tok), " ids but config key 'model.vocab_size' is ",
        cfg.model.vocab_size);
  return tok;
}

}  // namespace

std::string soft_training_decoding_yaml(const TrainConfig& cfg, const StageLayout& stage) {
  const SoftTrainingConfig& t = cfg.soft;
  SoftThinkingParams p;
  p.sampler = soft_training_concept_params(t);
  p.sampler.after.temperature = 0;  // greedy answers
  const char* recipe = "none";
  switch (t.recipe) {
    case SoftRecipe::kNone: break;
    case SoftRecipe::kSelfFeed: recipe = "self_feed", p.mode = ThinkMode::kThinkTags; break;
    case SoftRecipe::kSoftTargets: recipe = "soft_targets", p.mode = ThinkMode::kThinkTags; break;
    case SoftRecipe::kInternalize: recipe = "internalize", p.mode = ThinkMode::kOff; break;
    case SoftRecipe::kLatent:
      recipe = "latent";
      p.mode = stage.n_latent > 0 ? ThinkMode::kLatent : ThinkMode::kOff;
      p.latent_steps = std::max(1, stage.n_latent);
      p.latent_input = t.latent_input;
      p.latent_continue = true;  // chains longer than the stage's steps go on in text
      break;
  }
  std::string head = "# The decoding this model was trained for (soft_training.recipe " +
                     std::string(recipe);
  if (soft_recipe_structured(t.recipe))
    head += ", curriculum stage " + std::to_string(stage.stage) + "/" +
            std::to_string(stage.last_stage);
  head += "): softslm generate uses it by default, eval --decode model selects it.\n";
  return head + soft_config_to_yaml(p);
}

uint64_t params_hash(const float* p, size_t n) { return fnv1a(p, n * sizeof(float)); }

void check_training_memory(const TrainConfig& cfg) {
  config_check_memory(cfg.model, /*train_keys=*/true);
  const double params = param_count(cfg.model);
  // the parameters, AdamW's two moments, the train graph (gradients included), and at a
  // checkpoint the state's copies of parameters and moments and its serialised bytes (6 more)
  const double graph = train_graph_bytes(cfg.model, cfg.batch_size, cfg.seq_len);
  const double bytes = params * sizeof(float) * 9 + graph;
  buffer_check_fits(bytes, "training " + fmt_count(params) + " parameters on batches of "
                               "batch_size = " + std::to_string(cfg.batch_size) +
                               " x seq_len = " + std::to_string(cfg.seq_len) + " (activations " +
                               bytes_str(graph) + ")");
}

void train_state_save(const TrainState& s, const std::string& path) {
  check(s.params.size() == s.num_params && s.m.size() == s.num_params &&
            s.v.size() == s.num_params,
        "training state: parameter or moment sizes differ from num_params");
  std::string out;
  out.reserve(96 + 12 * s.num_params);
  out.append(kStateMagic, 8);
  put(out, kStateVersion);
  put(out, s.step);
  put(out, s.adam_t);
  put(out, s.epoch_rng);
  put(out, s.epoch);
  put(out, s.cursor);
  put(out, s.config_hash);
  put(out, s.num_params);
  put(out, s.params_hash);
  put(out, s.elapsed_s);
  out.append(reinterpret_cast<const char*>(s.params.data()), s.params.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(s.m.data()), s.m.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(s.v.data()), s.v.size() * sizeof(float));
  write_file_atomic(path, out);
}

TrainState train_state_load(const std::string& path) {
  std::string data = read_file(path, memory_available_bytes());
  check(data.size() >= 8 && std::memcmp(data.data(), kStateMagic, 8) == 0, path,
        ": not a softslm training state");
  size_t pos = 8;
  TrainState s;
  uint32_t version = get<uint32_t>(data, pos, path);
  check(version == kStateVersion, path, ": unsupported training state version ", version);
  s.step = get<int64_t>(data, pos, path);
  s.adam_t = get<int64_t>(data, pos, path);
  s.epoch_rng = get<uint64_t>(data, pos, path);
  s.epoch = get<uint64_t>(data, pos, path);
  s.cursor = get<uint64_t>(data, pos, path);
  s.config_hash = get<uint64_t>(data, pos, path);
  s.num_params = get<uint64_t>(data, pos, path);
  s.params_hash = get<uint64_t>(data, pos, path);
  s.elapsed_s = get<double>(data, pos, path);
  check(s.num_params <= data.size() / 12 && data.size() - pos == 3 * s.num_params * sizeof(float),
        path, ": size does not match its parameter count (a torn or foreign file)");
  for (std::vector<float>* x : {&s.params, &s.m, &s.v}) {
    x->resize(s.num_params);
    std::memcpy(x->data(), data.data() + pos, s.num_params * sizeof(float));
    pos += s.num_params * sizeof(float);
  }
  check(params_hash(s.params.data(), s.num_params) == s.params_hash, path,
        ": the parameters do not match their hash (a damaged file)");
  return s;
}

TrainResult train_run(const TrainConfig& cfg, const TrainOptions& opt) {
  train_config_validate(cfg);
  ThreadScope threads(cfg.threads);
  const std::string& dir = cfg.out_dir;
  const std::string state_path = dir + "/train_state.bin", metrics_path = dir + "/metrics.jsonl";
  ProgressLine progress(stderr, opt.tty, opt.quiet);
  TrainResult res;
  auto t_start = Clock::now();

  // ---- model, tokenizer, optimiser state ----
  Model m;
  Tokenizer tok;
  AdamW adam;
  TrainState st;
  check(opt.stop_at >= 0 && opt.stop_at <= cfg.steps, "--stop-at must be in [1, steps = ",
        cfg.steps, "] (got ", opt.stop_at, ")");
  check_training_memory(cfg);
  const std::string model_path = dir + "/model.safetensors";
  if (!opt.resume && (file_exists(state_path) || file_exists(model_path))) {
    check(opt.overwrite, dir, ": already holds a checkpoint (",
          file_exists(state_path) ? "train_state.bin" : "model.safetensors",
          "): continue it with --resume, or start afresh with --overwrite");
    std::error_code ec;  // a kill before the first new checkpoint must not resume the old run
    std::filesystem::remove(state_path, ec);
    std::filesystem::remove(dir + "/" + kSoftThinkingFile, ec);  // nor decode as the old one
  }
  if (std::filesystem::is_directory(dir)) {
    int n = remove_stale_temp_files(dir);
    if (n > 0)
      progress.message("removed " + std::to_string(n) + " temporary file" + (n > 1 ? "s" : "") +
                       " of an interrupted write in " + dir);
  }
  if (opt.resume) {
    check(file_exists(state_path), "cannot resume: ", state_path, " not found");
    ModelConfig ck = config_load_json(dir + "/config.json");
    check_shape_matches(cfg, ck, "cannot resume from " + dir);
    m = model_create(ck);
    tok = tokenizer_load(dir + "/tokenizer.json");
    st = train_state_load(state_path);
    check(st.num_params == m.num_params, "cannot resume: ", state_path, " holds ", st.num_params,
          " parameters but config.json's model has ", m.num_params);
    // the parameters come from the state: model.safetensors may be newer (a kill between the
    // two renames of a checkpoint), and the steps since are re-done exactly
    std::memcpy(m.memory.get(), st.params.data(), m.num_params * sizeof(float));
    check(st.step <= cfg.steps, "cannot resume: the checkpoint is at step ", st.step,
          ", beyond steps = ", cfg.steps, " (raise it with --steps)");
    check(opt.stop_at == 0 || opt.stop_at > st.step, "--stop-at ", opt.stop_at,
          " is not after the checkpoint's step ", st.step);
    if (st.config_hash != train_config_hash(cfg))
      progress.message("warning: the config differs from the checkpoint's; the run will not "
                       "match an uninterrupted one");
    adam.m = std::move(st.m);
    adam.v = std::move(st.v);
    adam.t = st.adam_t;
    res.start_step = st.step;
  } else if (!cfg.init_from.empty()) {  // the weights and tokenizer of a trained model
    const std::string& from = cfg.init_from;
    check_shape_matches(cfg, config_load_json(from + "/config.json"),
                        "cannot start from " + from + " (init_from)");
    tok = tokenizer_load(from + "/tokenizer.json");
    check(tokenizer_special_id(tok, kEndOfText) >= 0, from, "/tokenizer.json has no ",
          kEndOfText, " token");
    m = model_load(from);
    adam = adamw_create(m.num_params);
    progress.message("starting from the weights and tokenizer of " + from);
  } else {
    tok = make_tokenizer(cfg);
    ModelConfig mc = cfg.model;
    mc.bos_token_id = mc.eos_token_id = tokenizer_special_id(tok, kEndOfText);
    m = model_create(mc);
    model_init_random(m, cfg.seed);
    adam = adamw_create(m.num_params);
  }

  // ---- data (a fresh run's out_dir is removed again when the data is unusable) ----
  bool created_dir = !file_exists(dir);
  make_dirs(dir);
  // the structured recipes train on whole examples, one per row (train/examples.h); the
  // others on windows of the packed token stream
  const bool structured = soft_recipe_structured(cfg.soft.recipe);
  DataSplits data;
  ExampleSplits ex;
  try {
    if (structured) {
      ex = examples_load(cfg, tok);
      examples_check_stages(ex, cfg.soft, cfg.seq_len);
    }
    else
      data = data_load(cfg, tok, dir);
  } catch (...) {
    std::error_code ec;
    if (created_dir) std::filesystem::remove_all(dir, ec);
    throw;
  }
  const int B = cfg.batch_size, T = cfg.seq_len;
  BatchSampler sampler;
  ExampleSampler ex_sampler;
  std::vector<int> val_in, val_tgt;
  TrainGraph g;
  RecipeRunner runner;
  const int think_open = tokenizer_special_id(tok, kThinkOpen),
            think_close = tokenizer_special_id(tok, kThinkClose),
            eot = tokenizer_special_id(tok, kEndOfText);
  if (structured) {
    for (const auto* set : {&ex.train, &ex.val})
      for (const Example& e : *set)
        (set == &ex.train ? res.train_tokens : res.val_tokens) +=
            (int64_t)(e.prompt.size() + 1 + e.chain.size() + e.tail.size());
    ex_sampler = example_sampler_create(ex.train.size(), cfg.seed);
    if (opt.resume) example_sampler_restore(ex_sampler, st.epoch_rng, st.epoch, st.cursor);
    const StageLayout last = stage_layout(cfg.soft, INT64_MAX / 2, ex);
    recipe_check_memory(m.cfg, cfg, last.n_latent);
  } else {
    res.data_from_cache = data.train.from_cache && data.val.from_cache;
    res.train_tokens = (int64_t)data.train.tokens.size();
    res.val_tokens = (int64_t)data.val.tokens.size();
    sampler = batch_sampler_create(data.train, B, T, cfg.seed, cfg.align_documents);
    if (opt.resume) batch_sampler_restore(sampler, st.epoch_rng, st.epoch, st.cursor);
    eval_batches(data.val, B, T, cfg.eval_batches, &val_in, &val_tgt, cfg.align_documents);
    g = train_graph_create(m, B, T);
    // plain training reads no probabilities: the LM head runs on the targeted positions only
    // (self_feed's first pass needs every position's)
    g.head_rows_only = cfg.soft.recipe == SoftRecipe::kNone;
  }
  std::vector<int> inputs((size_t)B * T), targets((size_t)B * T);

  const int n_tok = tokenizer_vocab_size(tok);
  if (!opt.resume && n_tok < cfg.model.vocab_size)
    progress.message("note: the tokenizer has " + std::to_string(n_tok) + " ids and the model " +
                     std::to_string(cfg.model.vocab_size) + " rows: rows " +
                     std::to_string(n_tok) + ".." + std::to_string(cfg.model.vocab_size - 1) +
                     " belong to no token; they are trained toward zero probability and never "
                     "sampled");
  if (!opt.resume && cfg.warmup_steps > cfg.steps)
    progress.message("warning: warmup_steps (" + std::to_string(cfg.warmup_steps) +
                     ") > steps (" + std::to_string(cfg.steps) + "): the learning rate rises for "
                     "the whole run and never reaches lr");
  progress.message(
      (opt.resume ? "resuming at step " + std::to_string(res.start_step) + ": " : std::string()) +
      "model " + fmt_count((double)m.num_params) + " params (" +
      std::to_string(cfg.model.n_layer) + " layers, n_embd " + std::to_string(cfg.model.n_embd) +
      ", vocab " + std::to_string(tokenizer_vocab_size(tok)) + "/" +
      std::to_string(cfg.model.vocab_size) + "); data " +
      (structured ? std::to_string(ex.train.size()) + " + " + std::to_string(ex.val.size()) +
                        " examples, "
                  : std::string()) +
      fmt_count(res.train_tokens) + " train + " + fmt_count(res.val_tokens) + " val tokens" +
      (res.data_from_cache ? " (cached)" : "") + "; " + std::to_string(omp_get_max_threads()) +
      " threads");

  // ---- metrics log ----
  std::string kept = opt.resume ? metrics_keep_until(metrics_path, res.start_step) : "";
  write_file_atomic(metrics_path, kept);
  FILE* metrics = std::fopen(metrics_path.c_str(), "ab");
  check(metrics != nullptr, metrics_path, ": cannot open for appending");
  struct Closer {
    FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{metrics};
  auto log_record = [&](const nlohmann::json& j) {
    std::string line = j.dump() + "\n";
    std::fputs(line.c_str(), metrics);
    std::fflush(metrics);
  };
  const double elapsed0 = opt.resume ? st.elapsed_s : 0.0;
  auto elapsed = [&] { return elapsed0 + seconds_since(t_start); };

  auto evaluate = [&](int64_t step) {
    double total = 0, count = 0;
    // fixed val examples spread over the whole set (several tasks' files in a row), cycled
    const size_t n_eval = (size_t)std::max(1, cfg.eval_batches) * B;
    const size_t stride = structured ? std::max<size_t>(1, ex.val.size() / n_eval) : 1;
    for (int b = 0; b < cfg.eval_batches && structured; b++) {
      std::vector<const Example*> rows;
      for (int r = 0; r < B; r++)
        rows.push_back(&ex.val[((size_t)b * B + r) * stride % ex.val.size()]);
      // the stage of the last step trained
      const StageLayout L = stage_layout(cfg.soft, std::max<int64_t>(step - 1, 0), ex);
      RecipeStep rs = recipe_step(m, cfg, runner, L, rows,
                                  think_open, eot, 0.0, nullptr, false);
      total += (double)rs.loss * rs.counted;
      count += rs.counted;
    }
    for (int b = 0; b < cfg.eval_batches && !structured; b++) {
      size_t off = (size_t)b * B * T;
      float loss = gpt2_forward(m, g, val_in.data() + off, val_tgt.data() + off, B, T);
      total += (double)loss * g.n_counted;
      count += g.n_counted;
    }
    float vl = count > 0 ? (float)(total / count) : 0.0f;
    res.val_losses.push_back({step, vl});
    log_record({{"type", "eval"}, {"step", step}, {"val_loss", vl}, {"elapsed_s", elapsed()}});
    return vl;
  };

  auto checkpoint = [&](int64_t step) {
    model_save(m, dir);
    if (cfg.soft.recipe != SoftRecipe::kNone)  // the decoding the model was trained for
      write_file_atomic(dir + "/" + kSoftThinkingFile,
                        soft_training_decoding_yaml(
                            cfg, structured ? stage_layout(cfg.soft, std::max<int64_t>(step - 1, 0), ex)
                                            : StageLayout{}));
    tokenizer_save(tok, dir + "/tokenizer.json");
    write_file_atomic(dir + "/train_config.yaml", train_config_to_yaml(cfg));
    TrainState s;
    s.step = step;
    s.adam_t = adam.t;
    s.epoch_rng = structured ? ex_sampler.epoch_rng : sampler.epoch_rng;
    s.epoch = structured ? ex_sampler.epoch : sampler.epoch;
    s.cursor = structured ? ex_sampler.cursor : sampler.cursor;
    s.config_hash = train_config_hash(cfg);
    s.num_params = m.num_params;
    s.params_hash = params_hash(m.memory.get(), m.num_params);
    s.elapsed_s = elapsed();
    s.params.assign(m.memory.get(), m.memory.get() + m.num_params);
    s.m = adam.m;
    s.v = adam.v;
    train_state_save(s, state_path);
  };

  // ---- loop ----
  const int64_t end = opt.stop_at > 0 ? std::min(opt.stop_at, cfg.steps) : cfg.steps;
  const double min_lr = train_config_min_lr(cfg);
  AdamWParams hp;
  hp.beta1 = (float)cfg.beta1;
  hp.beta2 = (float)cfg.beta2;
  hp.eps = (float)cfg.adam_eps;
  hp.weight_decay = (float)cfg.weight_decay;

  float val_loss = NAN, first_val = NAN;
  if (res.start_step == 0) first_val = val_loss = evaluate(0);
  auto status = [&](int64_t step, float loss, double lr, double tok_s) {
    double per_step = step > res.start_step ? seconds_since(t_start) / (double)(step - res.start_step) : 0;
    std::string s = "step " + std::to_string(step) + "/" + std::to_string(cfg.steps) +
                    " | loss " + (std::isnan(loss) ? std::string("-") : fmt("%.4f", loss)) +
                    " | val " + (std::isnan(val_loss) ? std::string("-") : fmt("%.4f", val_loss)) +
                    " | lr " + fmt("%.2e", lr) + " | " + fmt_count(tok_s) + " tok/s | ETA " +
                    format_duration(per_step * (double)(end - step));
    return s;
  };
  progress.update(status(res.start_step, NAN, lr_at(res.start_step, cfg.steps, cfg.warmup_steps,
                                                      cfg.lr, min_lr), 0),
                  true);

  // training-time soft thinking (train/soft_training.h)
  const bool self_feed = cfg.soft.recipe == SoftRecipe::kSelfFeed;
  const bool feeds = self_feed || cfg.soft.recipe == SoftRecipe::kSoftTargets;
  check(!self_feed || (think_open >= 0 && think_close >= 0),
        "config key 'soft_training.recipe' is self_feed, but the tokenizer has no ", kThinkOpen,
        " / ", kThinkClose, " tokens to find the thinking positions by");
  std::vector<StepInput> soft_inputs;

  // tokens/s counts training steps only (evaluations and checkpoints excluded)
  double train_s_since_log = 0, tok_s = 0;
  int64_t positions_since_log = 0;  // B x each batch's length
  int64_t step = res.start_step;
  while (step < end) {
    auto t_step = Clock::now();
    float loss;
    const float* grads = nullptr;
    const double feed_p = feeds ? self_feed_probability(cfg.soft, step) : 0.0;
    int fed = 0;
    int64_t positions = (int64_t)B * T;  // a structured batch is as long as its longest row
    StageLayout stage;
    if (structured) {
      stage = stage_layout(cfg.soft, step, ex);
      if (step > 0 && stage_layout(cfg.soft, step - 1, ex).stage != stage.stage) {
        if (cfg.soft.reset_optimizer) {
          std::fill(adam.m.begin(), adam.m.end(), 0.0f);
          std::fill(adam.v.begin(), adam.v.end(), 0.0f);
          adam.t = 0;
        }
        progress.message("from step " + std::to_string(step + 1) + ": curriculum stage " +
                         std::to_string(stage.stage) + "/" + std::to_string(stage.last_stage) +
                         (cfg.soft.recipe == SoftRecipe::kLatent
                              ? ", " + std::to_string(stage.n_latent) + " latent steps"
                              : ", " + std::to_string(stage.removed) + " chain tokens removed") +
                         (cfg.soft.reset_optimizer ? " (optimizer reset)" : ""));
      }
      std::vector<const Example*> rows;
      for (size_t i : example_sampler_next(ex_sampler, B)) rows.push_back(&ex.train[i]);
      Rng rng = rng_init(cfg.seed ^ (0x5e1f'feedull + (uint64_t)step));  // a function of the step
      RecipeStep rs = recipe_step(m, cfg, runner, stage, rows, think_open, eot, feed_p, &rng, true);
      loss = rs.loss;
      grads = rs.grads;
      fed = rs.fed;
      positions = rs.positions;
    } else {
      batch_sampler_next(sampler, inputs.data(), targets.data());
      if (feed_p > 0) {  // self_feed: a first pass gives every position's concept token
        gpt2_forward(m, g, inputs.data(), nullptr, B, T);
        Rng rng = rng_init(cfg.seed ^ (0x5e1f'feedull + (uint64_t)step));  // a function of the step
        fed = self_feed_inputs(cfg.soft, feed_p, g.a.logits, inputs.data(),
                               thinking_positions(inputs.data(), B, T, think_open, think_close),
                               B, T, m.cfg.vocab_size, rng, &soft_inputs);
        loss = gpt2_forward_inputs(m, g, soft_inputs.data(), targets.data(), B, T);
      } else {
        loss = gpt2_forward(m, g, inputs.data(), targets.data(), B, T);
      }
      gpt2_backward(m, g);
      grads = g.grad_memory.get();
    }
    check(std::isfinite(loss), "training loss is ", loss, " at step ", step + 1,
          " (try a lower lr or a grad_clip)");
    double lr = lr_at(step, cfg.steps, cfg.warmup_steps, cfg.lr, min_lr);
    hp.lr = (float)lr;
    float gnorm = adamw_step(adam, m, grads, hp, (float)cfg.grad_clip);
    step++;
    positions_since_log += positions;
    res.losses.push_back(loss);
    bool stop = opt.interrupt && opt.interrupt->load();
    bool last = step == end || stop;
    train_s_since_log += seconds_since(t_step);
    if (train_s_since_log > 0) tok_s = (double)positions_since_log / train_s_since_log;
    bool log_now = step % cfg.log_interval == 0 || last;
    if (log_now) {
      nlohmann::json rec = {{"type", "train"}, {"step", step},         {"loss", loss},
                            {"lr", lr},        {"grad_norm", gnorm},   {"tokens_per_s", tok_s},
                            {"elapsed_s", elapsed()}};
      if (feeds) rec["self_feed_p"] = feed_p, rec["self_fed"] = fed;  // of this step
      if (structured && cfg.soft.recipe != SoftRecipe::kSoftTargets) {
        rec["stage"] = stage.stage;
        if (cfg.soft.recipe == SoftRecipe::kLatent) rec["latent_steps"] = stage.n_latent;
        if (cfg.soft.recipe == SoftRecipe::kInternalize) rec["chain_removed"] = stage.removed;
      }
      log_record(rec);
      train_s_since_log = 0;
      positions_since_log = 0;
    }
    bool eval_now = (cfg.eval_interval > 0 && step % cfg.eval_interval == 0) || last;
    if (eval_now) val_loss = evaluate(step);
    progress.update(status(step, loss, lr, tok_s), log_now || eval_now);
    if ((cfg.checkpoint_interval > 0 && step % cfg.checkpoint_interval == 0) || last)
      checkpoint(step);
    if (opt.on_step && !opt.on_step(step, loss, eval_now ? val_loss : NAN) && !last) {
      checkpoint(step);  // stopped by the caller: as an interrupt
      stop = true;
    }
    if (stop) {
      res.interrupted = true;
      break;
    }
  }
  if (step == res.start_step) checkpoint(step);  // nothing to do: still leave a full directory
  progress.finish();
  res.end_step = step;
  res.wall_s = seconds_since(t_start);
  std::string summary = res.interrupted ? "interrupted at step " : "done: step ";
  summary += std::to_string(step) + "/" + std::to_string(cfg.steps) + " in ";
  summary += format_duration(res.wall_s);
  summary += "; val loss";
  if (!std::isnan(first_val)) {
    summary += ' ';
    summary += fmt("%.4f", first_val);
    summary += " ->";
  }
  if (!res.val_losses.empty()) {
    summary += ' ';
    summary += fmt("%.4f", res.val_losses.back().second);
  }
  summary += "; checkpoint in ";
  summary += dir;
  if (step < cfg.steps) summary += " (continue with --resume)";
  progress.message(summary);
  return res;
}

}  // namespace softslm
