// Latent steps with gradient through time: a training example whose latent positions are fed
// from the model's own previous position, as Coconut's continuous thoughts (the last hidden
// state, after the final LayerNorm) or as self-fed concept tokens (the concept of the
// previous position's output distribution, differentiable through its weights).
//
// With n latent steps the inputs are computed by n + 1 forward passes over the whole batch:
// pass k has latents 1..k filled (latent k + 1 onwards are zero vectors, which no earlier
// position sees: attention is causal), and latent k + 1 at position p is read off pass k at
// position p - 1. Only the last pass, with every latent in place, carries the loss. The
// backward runs the passes in reverse: pass k gets, on top of its own loss (none for k < n),
// the gradient of latent k + 1 as an upstream gradient at the row that produced it, and hands
// the gradients of latents 1..k on to the earlier passes. Memory: n + 1 train graphs; time:
// n + 1 forwards and backwards per example (see LatentGraph).
#pragma once
#include <vector>

#include "model/gpt2_train.h"
#include "sampling/soft_sampler.h"

namespace softslm {

struct LatentBatch {
  int B = 0, T = 0, n_latent = 0;  // every row of the batch has n_latent latent steps
  std::vector<StepInput> inputs;   // [B*T]; the latent positions' entries are overwritten
  std::vector<int> targets;        // [B*T], -1 = no loss
  std::vector<int> latent_pos;     // [B, n_latent] positions, increasing, each >= 1
};

struct LatentGraph {
  std::vector<TrainGraph> passes;  // n_latent + 1 graphs of [B, T]
  std::vector<float> grads;        // [num_params] d(loss)/d(params) summed over the passes
  std::vector<StepInput> latents;  // [B, n_latent] the latent inputs of the last forward
};

LatentGraph latent_graph_create(const Model& m, int B, int T, int n_latent);

// The n + 1 passes; returns the last pass's mean loss. kConcept uses p's thinking filters and
// max_topk without noise (p.dirichlet and p.gumbel must be off; temperature > 0).
float latent_forward(const Model& m, LatentGraph& lg, const LatentBatch& batch, LatentKind kind,
                     const SoftSamplerParams& p = {});
// Fills lg.grads (and the last pass's dweights / dvectors for the non-latent soft inputs).
void latent_backward(const Model& m, LatentGraph& lg, const LatentBatch& batch, LatentKind kind,
                     const SoftSamplerParams& p = {});

}  // namespace softslm
