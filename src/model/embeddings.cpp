#include "model/embeddings.h"

#include <cmath>
#include <cstring>

#include "base/error.h"

namespace softslm {

void TokenEmbedding::forward(const int* ids, int n, float* out) const {
  for (int i = 0; i < n; i++) {
    check(ids[i] >= 0 && ids[i] < vocab_size, "token id ", ids[i], " outside the vocabulary [0, ",
          vocab_size, ")");
    std::memcpy(out + (size_t)i * n_embd, wte + (size_t)ids[i] * n_embd, sizeof(float) * n_embd);
  }
}

void TokenEmbedding::weighted_row(const float* w, const int* ids, int K, float* out) const {
  check(K >= 1, "a concept token needs at least one entry (K = ", K, ")");
  double sum = 0;
  for (int j = 0; j < K; j++) {
    check(ids[j] >= 0 && ids[j] < vocab_size, "concept token id ", ids[j],
          " outside the vocabulary [0, ", vocab_size, ")");
    check(std::isfinite(w[j]) && w[j] >= 0, "concept token weight ", w[j],
          " is not a finite non-negative number");
    sum += w[j];
  }
  check(sum > 0, "concept token weights sum to 0");
  for (int i = 0; i < n_embd; i++) out[i] = 0.0f;
  for (int j = 0; j < K; j++) {
    float a = (float)(w[j] / sum);
    if (a == 0.0f) continue;
    const float* e = wte + (size_t)ids[j] * n_embd;
    for (int i = 0; i < n_embd; i++) out[i] += a * e[i];
  }
}

void TokenEmbedding::weighted_forward(const std::vector<float>& w, const std::vector<int>& ids,
                                      int B, int K, float* out) const {
  check(B >= 0 && K >= 1, "weighted_forward: bad shape [", B, ", ", K, "]");
  check(w.size() == (size_t)B * K && ids.size() == (size_t)B * K,
        "weighted_forward: weights hold ", w.size(), " and ids ", ids.size(),
        " entries; shape [", B, ", ", K, "] needs ", (size_t)B * K, " each");
  for (int b = 0; b < B; b++)
    weighted_row(w.data() + (size_t)b * K, ids.data() + (size_t)b * K, K, out + (size_t)b * n_embd);
}

void step_input_embed(const TokenEmbedding& e, const StepInput& in, float* out) {
  switch (in.kind) {
    case StepInput::Kind::kToken:
      e.forward(&in.token, 1, out);
      break;
    case StepInput::Kind::kConcept:
      check(in.weights.size() == in.ids.size(), "concept token has ", in.weights.size(),
            " weights but ", in.ids.size(), " ids");
      e.weighted_row(in.weights.data(), in.ids.data(), (int)in.ids.size(), out);
      break;
    case StepInput::Kind::kVector:
      check(in.vec.size() == (size_t)e.n_embd, "input vector has ", in.vec.size(),
            " entries; the model's width is ", e.n_embd);
      for (float x : in.vec) check(std::isfinite(x), "input vector holds a non-finite value");
      std::memcpy(out, in.vec.data(), sizeof(float) * e.n_embd);
      break;
  }
}

}  // namespace softslm
