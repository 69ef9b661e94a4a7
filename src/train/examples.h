// Whole reasoning examples for the structured recipes (soft_training.recipe latent,
// soft_targets, internalize): every batch row holds one example, laid out for the recipe's
// current stage and padded with <|endoftext|> (no loss) to seq_len.
//
// An example comes from a JSONL document whose completion is "<think>" chain "</think>" rest:
//   prompt  the prompt's tokens
//   chain   the chain's tokens (encoded as a whole)
//   steps   each reasoning step's tokens (each step encoded alone; "steps" must concatenate to
//           the chain exactly); empty when the document has none
//   tail    the tokens of "</think>" rest, ending with <|endoftext|>
//   soft    the document's soft_targets: per hop, (token id, weight) with weights summing to 1;
//           each target text must be exactly one token
//
// Layouts at stage s (S = prompt <think>; a row's inputs are the layout's entries but the last,
// its targets the layout shifted by one):
//   full          S chain tail  (recipe none; stage 0 of latent and internalize)
//   internalize   S chain[r:] tail with r = min(s * remove_per_stage, max(0, |chain| - keep)),
//                 keep = max(min_chain, ceil(min_chain_fraction * |chain|))
//   latent        S [n latent positions] steps[min(s, |steps|):] tail, n = min(s, max_stage) * c;
//                 every row has the same n (an example with fewer steps loses them all)
//   soft_targets  S [H soft positions] tail, H = |soft|: soft position j is fed hop j's target
//                 mixture (or, with probability p, the model's own concept of the previous
//                 position); the output before it (at <think> for j = 0) is trained toward hop
//                 j's distribution, the last soft position's toward </think>. Examples without
//                 soft targets use the full layout.
// Targets are -1 where the next entry is a latent position, and, under completion_only_loss,
// over the prompt (the target <think> counts, as in data_tokenize).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/rng.h"
#include "model/embeddings.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"
#include "train/train_config.h"

namespace softslm {

struct Example {
  std::vector<int> prompt, chain, tail;
  std::vector<std::vector<int>> steps;
  std::vector<std::vector<std::pair<int, float>>> soft;
  std::string where;  // file:line
};

// The examples of documents (errors name file:line): completions must hold <think> ...
// </think>; with need_steps every document must have "steps"; soft targets are read (and must
// be single tokens) only with use_soft (recipe soft_targets).
std::vector<Example> examples_from_documents(const Tokenizer& tok, const std::vector<Document>& docs,
                                             bool need_steps, bool use_soft = true);

struct ExampleSplits {
  std::vector<Example> train, val;
  int max_steps = 0;  // the most steps of a training example
  int max_chain = 0;  // the longest training chain, in tokens
  int64_t stage_steps = 0;  // a curriculum stage's steps (stage_steps, or from stage_epochs)
};
// The config's train and val examples (val: data.val, else the last val_fraction of the
// training examples, at least one). Checks that every example's full layout fits seq_len;
// resolves the stage length (soft_training.stage_epochs x examples / batch_size, rounded up,
// when stage_epochs > 0).
ExampleSplits examples_load(const TrainConfig& cfg, const Tokenizer& tok);

// Where the curriculum stands at a step.
struct StageLayout {
  SoftRecipe recipe = SoftRecipe::kNone;
  int stage = 0;      // min(step / ExampleSplits::stage_steps, last stage)
  int last_stage = 0;  // latent: max_stage (resolved); internalize: the stage removing the most
  int n_latent = 0;   // latent positions per row
  int removed = 0;    // internalize: chain tokens removed from the left (at most)
  int min_chain = 0;
  double min_chain_fraction = 0;
  int steps_replaced = 0;  // latent: steps replaced by latents (min(stage, |steps|) per row)
};
StageLayout stage_layout(const SoftTrainingConfig& s, int64_t step, const ExampleSplits& ex);

// Checks, before a run, that every example fits seq_len + 1 at every stage of the curriculum
// (latent: the latent positions may outnumber the tokens of the steps they replace), naming
// the first that does not and its stage.
void examples_check_stages(const ExampleSplits& ex, const SoftTrainingConfig& s, int seq_len);

struct ExampleBatch {
  int B = 0, T = 0, n_latent = 0;
  std::vector<StepInput> inputs;  // [B*T]
  std::vector<int> targets;       // [B*T], -1 = no hard target
  std::vector<int> latent_pos;    // [B, n_latent] row positions (recipe latent)
  // soft_targets: the rows bt (b * T + t) trained toward a distribution, with it
  std::vector<int> soft_rows;
  std::vector<std::vector<std::pair<int, float>>> soft_dists;
  std::vector<int> soft_inputs;  // rows bt fed a target mixture (self-feedable: bt - 1 precedes)
};

// The positions the longest of rows takes at the stage (its layout less one: inputs and targets
// are the layout shifted by one). A batch of T = this many positions trains exactly as one padded
// to seq_len: padding comes after every row's last target, and causal attention never reads it.
int example_batch_length(const StageLayout& L, const std::vector<const Example*>& rows);

// Lays out rows[b] (B examples) at the stage into out; an example that does not fit T fails,
// naming it.
void example_batch_fill(const StageLayout& L, const std::vector<const Example*>& rows, int T,
                        bool completion_only_loss, int think_open, int eot, ExampleBatch* out);

// Shuffled examples, a new permutation per epoch; the state saved with checkpoints is the same
// as BatchSampler's (the RNG state at the epoch start, the epoch, the cursor).
struct ExampleSampler {
  size_t n = 0;
  Rng rng{};
  uint64_t epoch_rng = 0, epoch = 0, cursor = 0;
  std::vector<uint32_t> perm;
};
ExampleSampler example_sampler_create(size_t n, uint64_t seed);
void example_sampler_restore(ExampleSampler& sp, uint64_t epoch_rng, uint64_t epoch,
                             uint64_t cursor);
// The next B example indices.
std::vector<size_t> example_sampler_next(ExampleSampler& sp, int B);

}  // namespace softslm
