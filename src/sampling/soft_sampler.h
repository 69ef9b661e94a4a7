// Soft Thinking's sampler step: from logits to a concept token (top-K weights + ids) on
// thinking rows, or to one sampled token on discrete rows, with the entropy always reported.
// Follows the reference step (shared/SOFT_THINKING.md) with per-phase temperatures, greedy
// (T = 0) in both phases, Dirichlet / Gumbel-softmax noise and Mixture-of-Inputs mixing.
#pragma once
#include <vector>

#include "base/rng.h"
#include "sampling/sampling.h"

namespace softslm {

enum class Mixing { kTopK, kMoI };

struct SoftSamplerParams {
  SamplerParams thinking{0.6f, 30, 0.95f, 0.001f};  // filters on thinking rows
  SamplerParams after{0.6f, 30, 0.95f, 0.001f};     // filters after thinking (discrete rows)
  int max_topk = 10;                                // K: entries of a concept token
  bool dirichlet = false;                           // thinking rows: p <- Dir(alpha * p)
  float dirichlet_alpha = 1.0f;                     // > 0
  bool gumbel = false;                              // w <- softmax((log w + G) / tau_g)
  float gumbel_tau = 0.5f;                          // > 0
  Mixing mixing = Mixing::kTopK;
  float moi_beta = 1.0f;  // Mixture of Inputs: w = (H p + (beta + 1 - H) onehot(t)) / (beta + 1)
};

// Throws Error naming the bad field. vocab_size bounds max_topk (pass 0 to skip that check).
void soft_sampler_params_validate(const SoftSamplerParams& p, int vocab_size);

struct SoftSample {
  int token = -1;            // the emitted (recorded) token: the concept's top entry, or the draw
  float entropy = 0;         // nats, of softmax(logits / T) over the full vocabulary (T = 1 if greedy)
  std::vector<float> w;      // [k] concept weights, descending, summing to 1 (one-hot if discrete)
  std::vector<int> ids;      // [k] token ids
};

// One row. thinking selects the phase's filters and whether a concept (true) or one sampled
// token (false) comes out. probs[V] is scratch.
void soft_sample(const SoftSamplerParams& p, bool thinking, const float* logits, int V, Rng& rng,
                 float* probs, SoftSample* out);

// Building blocks (each unit-tested):
// the top K entries of probs with p > 0 (descending, ties by id), renormalised; returns k <= K.
int topk_concept(const float* probs, int V, int K, std::vector<float>* w, std::vector<int>* ids);
// probs <- one draw of Dirichlet(alpha * probs) over the support (zeros stay zero).
void dirichlet_noise(float* probs, int V, float alpha, Rng& rng);
// w <- softmax((log w + Gumbel(0, 1)) / tau) over the k entries, then (w, ids) re-sorted.
void gumbel_softmax(std::vector<float>* w, std::vector<int>* ids, float tau, Rng& rng);
// Gamma(shape, 1) draw, returned as its logarithm (exact for tiny shapes).
double log_gamma_sample(double shape, Rng& rng);

// The noise-free concept token (p's thinking filters and max_topk) of a distribution given as
// probabilities, e.g. a training pass's softmax output: log p is the logits up to a constant,
// which neither the concept nor concept_backward sees. logp[V] is scratch.
void concept_from_probs(const SoftSamplerParams& p, const float* probs, int V,
                        std::vector<float>* logp, SoftSample* out);

// The backward of a noise-free concept token w.r.t. the logits that produced it (for training
// through self-fed concepts). After the filters and the top-K renormalisation the weights are
// a softmax over the K selected ids alone: a_j = exp(l_j / T) / sum_k exp(l_k / T), so
//   dlogits[id_j] += (1 / T) a_j (dw_j - sum_k a_k dw_k)
// for the K ids, and nothing elsewhere (which ids are selected has no gradient). w [K] are the
// concept's weights (summing to 1), dw [K] d(loss)/d(w); T > 0 the thinking temperature.
void concept_backward(const std::vector<float>& w, const std::vector<int>& ids,
                      const float* dw, float temperature, float* dlogits);

}  // namespace softslm
