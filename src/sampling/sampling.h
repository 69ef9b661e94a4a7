// The sampler as small composable filters over a probability vector, plus entropy.
// Every filter works in place on probs[V] and leaves a renormalised distribution.
#pragma once
#include "base/rng.h"

namespace softslm {

// probs[V] = softmax(logits / temperature); temperature must be > 0. Returns the entropy of
// probs in nats, from the same pass: H = log S - sum_v p_v z_v with z_v = (l_v - max) / T and
// S = sum_v exp(z_v) (no logarithm per id); equals entropy_nats(probs) to ~1e-6.
float softmax_temperature(const float* logits, int V, float temperature, float* probs);
// H = -sum p log p over a distribution, in nats (terms with p < 1e-12 clamp like the
// reference: p * log(max(p, 1e-12))). The reference for softmax_temperature's entropy.
float entropy_nats(const float* probs, int V);
// Keep the k largest (ties: lower id first); k <= 0 or k >= V keeps all.
void top_k_renorm(float* probs, int V, int k);
// Keep the smallest set of most probable ids whose mass reaches top_p (at least one id).
void top_p_renorm(float* probs, int V, float top_p);
// Zero ids with p < min_p * max(p); min_p = 0 keeps all.
void min_p_renorm(float* probs, int V, float min_p);
// Draws an id from probs (must sum to ~1) with one uniform from rng.
int sample_multinomial(const float* probs, int V, Rng& rng);
int argmax(const float* x, int V);  // lowest id among ties

struct SamplerParams {
  float temperature = 1.0f;  // 0 = greedy (argmax)
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // (0, 1]
  float min_p = 0.0f;        // [0, 1)
};

// Throws Error naming the bad field: temperature < 0, top_k < 0, top_p outside (0, 1],
// min_p outside [0, 1). `what` prefixes the message (e.g. "--top-p").
void sampler_params_validate(const SamplerParams& p);

struct SampleResult {
  int token;
  float entropy;  // nats, of softmax(logits / T) (T = 1 when greedy), before filtering
};

// logits[V] -> one token: softmax with temperature, entropy, top-k, top-p, min-p, draw.
// probs[V] is scratch (left holding the filtered distribution; one-hot when greedy).
SampleResult sampler_sample(const SamplerParams& p, const float* logits, int V, Rng& rng,
                            float* probs);

}  // namespace softslm
