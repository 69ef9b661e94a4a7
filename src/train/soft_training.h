// Training-time soft thinking recipes (TrainConfig::soft, YAML section soft_training).
//   self_feed (soft scheduled sampling): a first pass without gradient over the ground-truth
//   inputs gives, at every position, the concept token of its output distribution (the
//   inference filters and K, no noise); each thinking input is then replaced, with
//   probability p, by the concept of the previous position, and the step trains on these
//   mixed inputs against the ground-truth targets. Concept tokens become in-distribution.
#pragma once
#include <cstdint>
#include <vector>

#include "base/rng.h"
#include "model/embeddings.h"
#include "sampling/soft_sampler.h"
#include "train/train_config.h"

namespace softslm {

// The concept tokens' sampler parameters of a training config: the thinking filters and
// max_topk, no noise (what self_feed, soft_targets, concept latents and the decoding file use).
SoftSamplerParams soft_training_concept_params(const SoftTrainingConfig& s);

// p at `step` (0-based): linear from 0 to p_max over ramp_steps, then p_max.
double self_feed_probability(const SoftTrainingConfig& s, int64_t step);

// [B*T] 1 where the input token lies strictly inside <think> ... </think> of its window (a
// window that starts inside a span does not see its <think>: those positions count as plain).
std::vector<uint8_t> thinking_positions(const int* ids, int B, int T, int think_open,
                                        int think_close);

// self_feed's inputs for one batch: out[B*T] is ids as tokens, except that each thinking
// position t >= 1 becomes, with probability p (one uniform per thinking position, in order),
// the concept token of probs row t - 1 (probs [B*T, V]: the first pass's distributions).
// Returns the number of positions replaced.
int self_feed_inputs(const SoftTrainingConfig& s, double p, const float* probs, const int* ids,
                     const std::vector<uint8_t>& thinking, int B, int T, int V, Rng& rng,
                     std::vector<StepInput>* out);

}  // namespace softslm
