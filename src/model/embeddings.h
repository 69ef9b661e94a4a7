// The token embedding seam: where a token id, or a concept token (a probability-weighted
// mixture of token embeddings), becomes the model's input vector.
#pragma once
#include <vector>

#include "model/model.h"

namespace softslm {

struct TokenEmbedding {
  const float* wte;  // [V, C]
  int vocab_size;    // V
  int n_embd;        // C

  static TokenEmbedding of(const Model& m) { return {m.p.wte, m.cfg.vocab_size, m.cfg.n_embd}; }
  // out[n, C] = wte[ids[n]]; throws Error on an id outside [0, V).
  void forward(const int* ids, int n, float* out) const;
  // out[B, C] = sum_j (w[b, j] / sum_j w[b, j]) * wte[ids[b, j]]  (weights renormalised per row).
  // w and ids are [B, K] row-major and must both hold B*K entries. Rejects mismatched sizes,
  // ids outside [0, V), negative / NaN / infinite weights and rows whose weights sum to 0.
  void weighted_forward(const std::vector<float>& w, const std::vector<int>& ids, int B, int K,
                        float* out) const;
  // One row, K entries (the building block of weighted_forward).
  void weighted_row(const float* w, const int* ids, int K, float* out) const;
};

// One decode step's input for one sequence: a token, a concept token, or a raw vector.
struct StepInput {
  enum class Kind { kToken, kConcept, kVector };
  Kind kind = Kind::kToken;
  int token = 0;               // kToken
  std::vector<float> weights;  // kConcept: [K]
  std::vector<int> ids;        // kConcept: [K]
  std::vector<float> vec;      // kVector: [C], added to the position embedding like a token's

  static StepInput of_token(int t) { return {Kind::kToken, t, {}, {}, {}}; }
  static StepInput of_concept(std::vector<float> w, std::vector<int> ids) {
    return {Kind::kConcept, 0, std::move(w), std::move(ids), {}};
  }
  static StepInput of_vector(std::vector<float> v) { return {Kind::kVector, 0, {}, {}, std::move(v)}; }
};

// What a latent thinking step is fed (training: train/latent.h; inference: generate's latent
// mode): the previous position's final hidden state (after the last LayerNorm: Coconut's
// continuous thought), as a kVector input, or the concept token of its output distribution;
// kToken (inference only) feeds the step's emitted token instead: the discrete decoding of a
// latent model at the same thinking budget.
enum class LatentKind { kHidden, kConcept, kToken };

// out[C] = the input vector of `in` (before the positional embedding).
void step_input_embed(const TokenEmbedding& e, const StepInput& in, float* out);

}  // namespace softslm
