#include "train/recipes.h"

#include <cfloat>
#include <algorithm>
#include <cmath>

#include "base/buffer.h"
#include "base/error.h"
#include "base/io.h"
#include "train/soft_training.h"

namespace softslm {

namespace {

void ensure_graph(const Model& m, const TrainConfig& cfg, RecipeRunner& r, int n) {
  if (r.n_latent == n) return;
  r.lg = LatentGraph{};  // free the old passes first
  r.n_latent = -1;
  recipe_check_memory(m.cfg, cfg, n);
  r.lg = latent_graph_create(m, cfg.batch_size, cfg.seq_len, n);
  r.n_latent = n;
}

}  // namespace

void recipe_check_memory(const ModelConfig& mc, const TrainConfig& cfg, int n) {
  const double bytes = train_graph_bytes(mc, cfg.batch_size, cfg.seq_len) * (n + 1) +
                       param_count(mc) * sizeof(float) * 9;
  buffer_check_fits(bytes, std::to_string(n) + " latent steps (" + std::to_string(n + 1) +
                               " train graphs of batch_size x seq_len; lower batch_size, "
                               "soft_training.max_stage or thoughts_per_step)");
}

double soft_target_loss(const float* probs, int V, const std::vector<int>& rows,
                        const std::vector<std::vector<std::pair<int, float>>>& dists, float scale,
                        float* dlogits) {
  check(rows.size() == dists.size(), "soft targets: rows and distributions differ in number");
  double total = 0;
  for (size_t i = 0; i < rows.size(); i++) {
    const float* p = probs + (size_t)rows[i] * V;
    for (const auto& [id, q] : dists[i]) total -= (double)q * std::log(std::max(p[id], FLT_MIN));
    if (!dlogits) continue;
    float* d = dlogits + (size_t)rows[i] * V;
    for (int v = 0; v < V; v++) d[v] += scale * p[v];
    for (const auto& [id, q] : dists[i]) d[id] -= scale * q;
  }
  return total;
}

RecipeStep recipe_step(const Model& m, const TrainConfig& cfg, RecipeRunner& r,
                       const StageLayout& L, const std::vector<const Example*>& rows,
                       int think_open, int eot, double feed_p, Rng* rng, bool train) {
  const int B = cfg.batch_size, V = m.cfg.vocab_size;
  check((int)rows.size() == B, "recipe step: ", rows.size(), " examples for batch_size ", B);
  // the batch is as long as its longest row (padding to seq_len would add only untargeted rows)
  const int T = r.full_length ? cfg.seq_len : std::min(cfg.seq_len, example_batch_length(L, rows));
  ExampleBatch& b = r.batch;
  example_batch_fill(L, rows, T, cfg.completion_only_loss, think_open, eot, &b);
  ensure_graph(m, cfg, r, b.n_latent);
  for (TrainGraph& pass : r.lg.passes) train_graph_set_length(m, pass, T);
  RecipeStep out;
  out.positions = (int64_t)B * T;
  const SoftSamplerParams sp = soft_training_concept_params(cfg.soft);

  if (L.recipe == SoftRecipe::kLatent) {
    LatentBatch lb;
    lb.B = B, lb.T = T, lb.n_latent = b.n_latent;
    lb.inputs = std::move(b.inputs);  // the rows are laid out afresh at every step
    lb.targets = std::move(b.targets);
    lb.latent_pos = std::move(b.latent_pos);
    const LatentKind kind = cfg.soft.latent_input;
    out.loss = latent_forward(m, r.lg, lb, kind, sp);
    out.counted = r.lg.passes.back().n_counted;
    if (train) {
      latent_backward(m, r.lg, lb, kind, sp);
      out.grads = r.lg.grads.data();
    }
    return out;
  }

  TrainGraph& g = r.lg.passes[0];
  // internalize reads no probabilities: the LM head runs on the targeted positions only
  g.head_rows_only = L.recipe == SoftRecipe::kInternalize;
  if (feed_p > 0 && !b.soft_inputs.empty()) {  // a first pass gives the model's own concepts
    gpt2_forward_inputs(m, g, b.inputs.data(), nullptr, B, T);
    std::vector<float> scratch;
    for (int bt : b.soft_inputs) {
      if (rng_uniform_double(*rng) >= feed_p) continue;
      SoftSample c;
      concept_from_probs(sp, g.a.logits + (size_t)(bt - 1) * V, V, &scratch, &c);
      b.inputs[bt] = StepInput::of_concept(c.w, c.ids);
      out.fed++;
    }
  }
  const float hard = gpt2_forward_inputs(m, g, b.inputs.data(), b.targets.data(), B, T);
  const int n_hard = g.n_counted, n_soft = (int)b.soft_rows.size();
  out.counted = n_hard + n_soft;
  std::vector<float>& dsoft = r.dsoft;
  const bool extra = train && n_soft > 0;
  if (extra && dsoft.size() < (size_t)B * T * V) dsoft.assign((size_t)B * cfg.seq_len * V, 0.0f);
  const double soft = soft_target_loss(g.a.logits, V, b.soft_rows, b.soft_dists,
                                       out.counted ? 1.0f / (float)out.counted : 0.0f,
                                       extra ? dsoft.data() : nullptr);
  out.loss = out.counted ? (float)(((double)hard * n_hard + soft) / (double)out.counted) : 0.0f;
  if (train) {
    g.loss_count = (int)out.counted;
    gpt2_backward(m, g, extra ? dsoft.data() : nullptr);
    out.grads = g.grad_memory.get();
    if (extra)
      for (int bt : b.soft_rows) std::fill_n(dsoft.data() + (size_t)bt * V, V, 0.0f);
  }
  return out;
}

}  // namespace softslm
