#include "train/soft_training.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "sampling/soft_sampler.h"

namespace softslm {

SoftSamplerParams soft_training_concept_params(const SoftTrainingConfig& s) {
  SoftSamplerParams sp;
  sp.thinking = {s.temperature, s.top_k, s.top_p, s.min_p};
  sp.max_topk = s.max_topk;
  return sp;
}

double self_feed_probability(const SoftTrainingConfig& s, int64_t step) {
  if (s.ramp_steps <= 0 || step >= s.ramp_steps) return s.p_max;
  return s.p_max * (double)step / (double)s.ramp_steps;
}

std::vector<uint8_t> thinking_positions(const int* ids, int B, int T, int think_open,
                                        int think_close) {
  std::vector<uint8_t> out((size_t)B * T, 0);
  for (int b = 0; b < B; b++) {
    bool inside = false;
    for (int t = 0; t < T; t++) {
      const int id = ids[(size_t)b * T + t];
      if (id == think_open) {
        inside = true;
      } else if (id == think_close) {
        inside = false;
      } else {
        out[(size_t)b * T + t] = inside;
      }
    }
  }
  return out;
}

int self_feed_inputs(const SoftTrainingConfig& s, double p, const float* probs, const int* ids,
                     const std::vector<uint8_t>& thinking, int B, int T, int V, Rng& rng,
                     std::vector<StepInput>* out) {
  check(thinking.size() == (size_t)B * T, "self_feed: thinking mask of the wrong size");
  const SoftSamplerParams sp = soft_training_concept_params(s);
  out->clear();
  out->reserve((size_t)B * T);
  std::vector<float> scratch;
  int replaced = 0;
  for (int bt = 0; bt < B * T; bt++) {
    out->push_back(StepInput::of_token(ids[bt]));
    if (!thinking[bt] || bt % T == 0) continue;
    if (rng_uniform_double(rng) >= p) continue;
    SoftSample c;
    concept_from_probs(sp, probs + (size_t)(bt - 1) * V, V, &scratch, &c);
    out->back() = StepInput::of_concept(c.w, c.ids);
    replaced++;
  }
  return replaced;
}

}  // namespace softslm
