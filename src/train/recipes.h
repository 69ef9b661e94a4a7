// One training (or evaluation) step of the structured recipes on a batch of whole examples
// (train/examples.h): latent (n + 1 passes with gradient through time, train/latent.h),
// soft_targets (cross-entropy against target distributions, teacher-forced mixtures, and with
// probability p the model's own concepts from a first pass without gradient) and internalize
// (ordinary tokens with a shortened chain).
#pragma once
#include <cstdint>
#include <vector>

#include "train/examples.h"
#include "train/latent.h"

namespace softslm {

struct RecipeRunner {
  LatentGraph lg;       // n_latent + 1 passes (one for soft_targets and internalize)
  int n_latent = -1;    // the graph's; -1 = none yet
  ExampleBatch batch;
  std::vector<float> dsoft;  // [B*T, V] the soft targets' dlogits, zero outside their rows
  // false: a batch is as long as its longest row; true: padded to seq_len (the same losses and
  // gradients at more cost; the reference the short batches are tested against)
  bool full_length = false;
};

struct RecipeStep {
  float loss = 0;       // mean over the counted targets (hard and soft)
  int64_t counted = 0;  // targets counted (hard + soft)
  int fed = 0;          // soft_targets: inputs replaced by the model's own concepts
  int64_t positions = 0;  // B x the batch's length (its longest row's)
  const float* grads = nullptr;  // [num_params] after a training step
};

// Checks that n_latent + 1 train graphs fit in memory (before a run starts), naming the keys.
void recipe_check_memory(const ModelConfig& mc, const TrainConfig& cfg, int n_latent);

// The soft targets' loss: the sum over rows of -sum_v q_v log p_v (probs [BT, V] the
// forward's softmax); when dlogits is given, adds scale * (p - q) to its rows.
double soft_target_loss(const float* probs, int V, const std::vector<int>& rows,
                        const std::vector<std::vector<std::pair<int, float>>>& dists, float scale,
                        float* dlogits);

// Lays out rows at stage L, runs the forward and, with train, the backward. feed_p and rng:
// soft_targets' self-feeding (p = 0: none, rng unused). The graph is (re)made for L's latent
// count, after a memory check that names the curriculum keys.
RecipeStep recipe_step(const Model& m, const TrainConfig& cfg, RecipeRunner& r,
                       const StageLayout& L, const std::vector<const Example*>& rows,
                       int think_open, int eot, double feed_p, Rng* rng, bool train);

}  // namespace softslm
