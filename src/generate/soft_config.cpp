#include "generate/soft_config.h"

#include "base/config_schema.h"
#include "base/io.h"

namespace softslm {

namespace {

#define KEY(NAME, KIND, FIELD) \
  KeyDef { NAME, KeyKind::KIND, [](void* c) -> void* { return &static_cast<SoftThinkingParams*>(c)->FIELD; } }
#define ENUM(NAME, FIELD, ...)                                                                  \
  KeyDef {                                                                                      \
    NAME, KeyKind::Enum, [](void* c) -> void* { return &static_cast<SoftThinkingParams*>(c)->FIELD; }, \
        false, { __VA_ARGS__ }                                                                  \
  }

static_assert(sizeof(ThinkMode) == sizeof(int) && sizeof(Mixing) == sizeof(int) &&
              sizeof(LatentKind) == sizeof(int));

const ConfigSchema& schema() {
  static const ConfigSchema s = {
      {
          ENUM("mode", mode, "off", "think_tags", "entropy_gate", "latent"),
          KEY("max_topk", Int, sampler.max_topk),
          KEY("thinking.temperature", Float, sampler.thinking.temperature),
          KEY("thinking.top_k", Int, sampler.thinking.top_k),
          KEY("thinking.top_p", Float, sampler.thinking.top_p),
          KEY("thinking.min_p", Float, sampler.thinking.min_p),
          KEY("after_thinking.temperature", Float, sampler.after.temperature),
          KEY("after_thinking.top_k", Int, sampler.after.top_k),
          KEY("after_thinking.top_p", Float, sampler.after.top_p),
          KEY("after_thinking.min_p", Float, sampler.after.min_p),
          KEY("dirichlet.enabled", Bool, sampler.dirichlet),
          KEY("dirichlet.alpha", Float, sampler.dirichlet_alpha),
          KEY("gumbel.enabled", Bool, sampler.gumbel),
          KEY("gumbel.tau", Float, sampler.gumbel_tau),
          ENUM("mixing", sampler.mixing, "topk", "moi"),
          KEY("moi_beta", Float, sampler.moi_beta),
          KEY("insert_think", Bool, insert_think),
          KEY("cold_stop.tau", Float, cold_stop_tau),
          KEY("cold_stop.steps", Int, cold_stop_steps),
          KEY("max_thinking_tokens", Int, max_thinking_tokens),
          KEY("after_cold_stop.enabled", Bool, after_cold_stop),
          KEY("after_cold_stop.tau", Float, after_cold_stop_tau),
          KEY("after_cold_stop.steps", Int, after_cold_stop_steps),
          KEY("entropy_gate.threshold", Float, gate_threshold),
          KEY("entropy_gate.steps", Int, gate_steps),
          KEY("entropy_gate.max_thinking_steps", Int, max_thinking_steps),
          KEY("latent.steps", Int, latent_steps),
          ENUM("latent.input", latent_input, "hidden", "concept", "token"),
          KEY("latent.continue", Bool, latent_continue),
      },
      {"thinking", "after_thinking", "dirichlet", "gumbel", "cold_stop", "after_cold_stop",
       "entropy_gate", "latent"}};
  return s;
}
#undef KEY
#undef ENUM

}  // namespace

void soft_config_parse(SoftThinkingParams& p, const std::string& yaml_text, const std::string& where) {
  config_parse(schema(), &p, yaml_text, where);
}

void soft_config_load(SoftThinkingParams& p, const std::string& path) {
  soft_config_parse(p, read_file(path), path);
}

void soft_config_set(SoftThinkingParams& p, const std::string& assignment) {
  config_set(schema(), &p, assignment);
}

std::string soft_config_to_yaml(const SoftThinkingParams& p) {
  SoftThinkingParams copy = p;
  return config_to_yaml(schema(), &copy, "# softslm soft-thinking config (resolved)\n");
}

std::vector<std::string> soft_config_keys() {
  std::vector<std::string> v;
  for (const KeyDef& d : schema().keys) v.push_back(d.name);
  return v;
}

const char* think_mode_name(ThinkMode m) {
  return schema().keys[0].choices.at((int)m);
}

}  // namespace softslm
