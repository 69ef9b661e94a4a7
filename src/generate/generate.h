// The generation loop: prefill every prompt, then decode all live sequences in one batched
// step per token. Each sequence has its own state and RNG, so results do not depend on
// which other sequences share the batch.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "sampling/sampling.h"

namespace softslm {

struct GenerateParams {
  SamplerParams sampler;
  int max_new_tokens = 128;
  uint64_t seed = 0;      // sequence i of a batch draws from rng_init(seed + i)
  int eos_id = -1;        // stop when this token is produced (-1: never)
};

struct SeqResult {
  std::vector<int> tokens;   // generated ids (the eos token included when produced)
  std::vector<float> entropy;  // [tokens] nats, per generated token
  std::string stop_reason;   // "eos" | "max_new_tokens" | "context"
};

// Called after each generated token of sequence `seq`.
using OnToken = std::function<void(int seq, int token)>;

// Throws Error on an empty prompt, a prompt that leaves no room in the context, bad params.
std::vector<SeqResult> generate(const Model& m, const std::vector<std::vector<int>>& prompts,
                                const GenerateParams& params, const OnToken& on_token = nullptr);

}  // namespace softslm
