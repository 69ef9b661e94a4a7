// GPT-2 parameters: one allocation carved into named tensors (llm.c style).
// Linear weights are stored [in, out]: Hugging Face GPT-2's Conv1D layout, so checkpoints
// map tensor for tensor and forward passes multiply without transposes.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/buffer.h"
#include "model/config.h"

namespace softslm {

constexpr int kNumParamTensors = 16;

struct ParamTensors {
  float* wte;       // [V, C]    token embedding, tied to the LM head
  float* wpe;       // [maxT, C] learned positions
  float* ln1w;      // [L, C]
  float* ln1b;      // [L, C]
  float* qkvw;      // [L, C, 3C]
  float* qkvb;      // [L, 3C]
  float* attprojw;  // [L, C, C]   [in, out]
  float* attprojb;  // [L, C]
  float* ln2w;      // [L, C]
  float* ln2b;      // [L, C]
  float* fcw;       // [L, C, 4C]
  float* fcb;       // [L, 4C]
  float* fcprojw;   // [L, 4C, C]
  float* fcprojb;   // [L, C]
  float* lnfw;      // [C]
  float* lnfb;      // [C]
};

// Element counts of the 16 tensors, in ParamTensors order.
std::array<size_t, kNumParamTensors> param_sizes(const ModelConfig& cfg);
// Carves `memory` into tensors (pointers in ParamTensors order).
ParamTensors param_carve(float* memory, const ModelConfig& cfg);

struct Model {
  ModelConfig cfg;
  size_t num_params = 0;
  Buffer<float> memory;  // [num_params]
  ParamTensors p{};
};

// The parameter count of cfg, in floating point (no overflow for absurd sizes).
double param_count(const ModelConfig& cfg);
// Throws Error when cfg's parameters do not fit in memory, naming the sizes at fault: by
// config.json's names ("n_layer", "n_positions"), or the training config's ("model.n_layer").
void config_check_memory(const ModelConfig& cfg, bool train_keys = false);

// Allocates a zeroed model (validates cfg and its size against memory).
Model model_create(const ModelConfig& cfg);
// GPT-2 initialisation: N(0, 0.02) weights, residual projections scaled by 1/sqrt(2L),
// zero biases, unit LayerNorm gains. Same seed -> same weights.
void model_init_random(Model& m, uint64_t seed);

}  // namespace softslm
