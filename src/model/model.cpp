#include "model/model.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/rng.h"

namespace softslm {

void config_validate(const ModelConfig& c) {
  check(c.vocab_size > 0, "config: vocab_size must be > 0 (got ", c.vocab_size, ")");
  check(c.n_ctx > 0, "config: n_positions/n_ctx must be > 0 (got ", c.n_ctx, ")");
  check(c.n_embd > 0, "config: n_embd must be > 0 (got ", c.n_embd, ")");
  check(c.n_layer > 0, "config: n_layer must be > 0 (got ", c.n_layer, ")");
  check(c.n_head > 0, "config: n_head must be > 0 (got ", c.n_head, ")");
  check(c.n_embd % c.n_head == 0, "config: n_embd (", c.n_embd, ") must be divisible by n_head (",
        c.n_head, ")");
  check(c.layer_norm_epsilon > 0 && std::isfinite(c.layer_norm_epsilon),
        "config: layer_norm_epsilon must be > 0 (got ", c.layer_norm_epsilon, ")");
  check(c.bos_token_id >= -1 && c.bos_token_id < c.vocab_size, "config: bos_token_id ",
        c.bos_token_id, " outside the vocabulary [0, ", c.vocab_size, ") (-1: none)");
  check(c.eos_token_id >= -1 && c.eos_token_id < c.vocab_size, "config: eos_token_id ",
        c.eos_token_id, " outside the vocabulary [0, ", c.vocab_size, ") (-1: none)");
}

std::array<size_t, kNumParamTensors> param_sizes(const ModelConfig& cfg) {
  size_t V = cfg.vocab_size, T = cfg.n_ctx, C = cfg.n_embd, L = cfg.n_layer;
  return {V * C, T * C, L * C, L * C, L * 3 * C * C, L * 3 * C, L * C * C, L * C,
          L * C, L * C, L * 4 * C * C, L * 4 * C, L * C * 4 * C, L * C, C, C};
}

ParamTensors param_carve(float* memory, const ModelConfig& cfg) {
  auto sizes = param_sizes(cfg);
  ParamTensors p;
  float** ptrs[kNumParamTensors] = {&p.wte,  &p.wpe,     &p.ln1w,    &p.ln1b, &p.qkvw,    &p.qkvb,
                                    &p.attprojw, &p.attprojb, &p.ln2w, &p.ln2b, &p.fcw, &p.fcb,
                                    &p.fcprojw, &p.fcprojb, &p.lnfw, &p.lnfb};
  for (int i = 0; i < kNumParamTensors; i++) {
    *ptrs[i] = memory;
    memory += sizes[i];
  }
  return p;
}

double param_count(const ModelConfig& c) {
  const double V = c.vocab_size, T = c.n_ctx, C = c.n_embd, L = c.n_layer;
  return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
}

void config_check_memory(const ModelConfig& c, bool train_keys) {
  const double V = c.vocab_size, T = c.n_ctx, C = c.n_embd, L = c.n_layer;
  const double n = param_count(c);
  // the part that dominates: embeddings (vocab_size), positions (n_positions), layers
  const double parts[3] = {V * C, T * C, L * (12 * C * C + 13 * C)};
  const char* names[2][3] = {{"vocab_size", "n_positions", "n_layer"},
                             {"model.vocab_size", "model.n_ctx", "model.n_layer"}};
  const long vals[3] = {c.vocab_size, c.n_ctx, c.n_layer};
  int big = 0;
  for (int i = 1; i < 3; i++)
    if (parts[i] > parts[big]) big = i;
  char what[256];
  std::snprintf(what, sizeof what, "%sa model of %.3g parameters (most from %s = %ld with %s = %d)",
                train_keys ? "" : "config: ", n, names[train_keys][big], vals[big],
                train_keys ? "model.n_embd" : "n_embd", c.n_embd);
  buffer_check_fits(n * sizeof(float), what);
}

Model model_create(const ModelConfig& cfg) {
  config_validate(cfg);
  config_check_memory(cfg);
  Model m;
  m.cfg = cfg;
  for (size_t s : param_sizes(cfg)) m.num_params += s;
  m.memory = buffer_zeroed<float>(m.num_params);
  m.p = param_carve(m.memory.get(), cfg);
  return m;
}

void model_init_random(Model& m, uint64_t seed) {
  Rng rng = rng_init(seed);
  const ModelConfig& c = m.cfg;
  size_t C = c.n_embd, L = c.n_layer;
  auto normal = [&](float* w, size_t n, float std) {
    for (size_t i = 0; i < n; i++) w[i] = std * rng_normal(rng);
  };
  auto fill = [](float* w, size_t n, float v) {
    for (size_t i = 0; i < n; i++) w[i] = v;
  };
  float resid_std = 0.02f / std::sqrt(2.0f * (float)L);
  std::memset(m.memory.get(), 0, m.num_params * sizeof(float));
  normal(m.p.wte, (size_t)c.vocab_size * C, 0.02f);
  normal(m.p.wpe, (size_t)c.n_ctx * C, 0.01f);
  fill(m.p.ln1w, L * C, 1.0f);
  fill(m.p.ln2w, L * C, 1.0f);
  fill(m.p.lnfw, C, 1.0f);
  normal(m.p.qkvw, L * 3 * C * C, 0.02f);
  normal(m.p.attprojw, L * C * C, resid_std);
  normal(m.p.fcw, L * 4 * C * C, 0.02f);
  normal(m.p.fcprojw, L * 4 * C * C, resid_std);
}

}  // namespace softslm
