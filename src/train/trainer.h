// The training loop: data, AdamW, evaluation, metrics log, checkpoints and exact resume.
//
// out_dir after a checkpoint is a Hugging Face GPT-2 directory plus the training files:
//   config.json, model.safetensors   model_save
//   tokenizer.json                   tokenizer_save
//   train_config.yaml                the resolved config (train_config_to_yaml)
//   train_state.bin                  step, sampler position, AdamW moments, hashes (below)
//   metrics.jsonl                    {"type":"train",step,loss,lr,grad_norm,tokens_per_s,elapsed_s}
//                                    and {"type":"eval",step,val_loss,elapsed_s} records
//   tokens-train.bin, tokens-val.bin the tokenized data cache (see train/data.h)
// train_state.bin: "SSLMTRN1" | u32 version (2) | i64 step | i64 adam_t | u64 sampler
//   epoch_rng | u64 sampler epoch | u64 sampler cursor | u64 config hash | u64 num_params |
//   u64 params hash | f64 elapsed_s | f32 params[num_params] | f32 m[num_params] |
//   f32 v[num_params]
// A checkpoint is all-or-nothing: every file is written atomically (temporary file, then
// rename), train_state.bin last, and train_state.bin alone holds everything a resume needs
// (the parameters included). A kill at any point leaves the previous train_state.bin whole,
// and --resume continues from it (re-doing the steps since) to the same losses as an
// uninterrupted run; model.safetensors is always a complete model, possibly a newer one.
// Temporary files of a killed write are removed when training starts in the directory.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <functional>
#include <utility>
#include <vector>

#include "train/examples.h"
#include "train/train_config.h"

namespace softslm {

struct TrainOptions {
  bool resume = false;        // continue from out_dir's checkpoint
  bool overwrite = false;     // start afresh even if out_dir holds a checkpoint (else: error)
  int64_t stop_at = 0;        // > 0: stop (with a checkpoint) after this step; schedule unchanged
  bool quiet = false;         // no progress output on stderr
  int tty = -1;               // progress display: -1 detect, 0 plain lines, 1 '\r' redraws
  const std::atomic<bool>* interrupt = nullptr;  // set -> checkpoint and stop after this step
  // Called after every step (after its evaluation, when it had one) with the step, its
  // training loss and the validation loss (NaN when not evaluated at this step); returning
  // false stops the run like an interrupt (checkpoint saved). The Python bindings' progress.
  std::function<bool(int64_t step, float loss, float val_loss)> on_step;
};

struct TrainResult {
  int64_t start_step = 0, end_step = 0;
  std::vector<float> losses;  // training loss of steps start_step+1 .. end_step
  std::vector<std::pair<int64_t, float>> val_losses;  // (step, loss) of this call's evaluations
  double wall_s = 0;
  bool interrupted = false;
  bool data_from_cache = false;
  int64_t train_tokens = 0, val_tokens = 0;
};

// Validates cfg, then trains (or resumes) as described above. Throws Error on any problem.
TrainResult train_run(const TrainConfig& cfg, const TrainOptions& opt = {});

struct TrainState {
  int64_t step = 0, adam_t = 0;
  uint64_t epoch_rng = 0, epoch = 0, cursor = 0;
  uint64_t config_hash = 0, num_params = 0, params_hash = 0;
  double elapsed_s = 0;
  std::vector<float> params, m, v;
};

void train_state_save(const TrainState& s, const std::string& path);
TrainState train_state_load(const std::string& path);
// Throws Error when training cfg (model, optimiser state, batch activations) would not fit
// in memory, naming the keys at fault; checked before anything is allocated.
void check_training_memory(const TrainConfig& cfg);

// A trained model directory's record of its thinking protocol, beside config.json (written at
// every checkpoint of a soft_training recipe other than none): the soft-thinking keys
// (configs/soft-thinking.yaml) of the decoding it was trained for at `stage` (self_feed,
// soft_targets: think_tags with the training's concept filters; latent: latent mode with the
// stage's latent steps and input; internalize, or latent at stage 0: plain decoding), with
// greedy answers.
std::string soft_training_decoding_yaml(const TrainConfig& cfg, const StageLayout& stage);
// Hash of a parameter array's bits.
uint64_t params_hash(const float* p, size_t n);

}  // namespace softslm
