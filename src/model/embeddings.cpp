#include "model/embeddings.h"

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

}  // namespace softslm
