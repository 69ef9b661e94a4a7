// The token embedding seam: where a token id (or, later, a concept token) becomes a vector.
#pragma once
#include "model/model.h"

namespace softslm {

struct TokenEmbedding {
  const float* wte;  // [V, C]
  int vocab_size;    // V
  int n_embd;        // C

  static TokenEmbedding of(const Model& m) { return {m.p.wte, m.cfg.vocab_size, m.cfg.n_embd}; }
  // out[n, C] = wte[ids[n]]; throws Error on an id outside [0, V).
  void forward(const int* ids, int n, float* out) const;
};

}  // namespace softslm
