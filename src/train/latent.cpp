#include "train/latent.h"

#include <cmath>
#include <cstring>

#include "base/error.h"

namespace softslm {

namespace {

void check_batch(const LatentGraph& lg, const LatentBatch& b) {
  check(!lg.passes.empty() && (int)lg.passes.size() == b.n_latent + 1 &&
            lg.passes[0].B == b.B && lg.passes[0].T == b.T,
        "latent batch [", b.B, ", ", b.T, "] with ", b.n_latent,
        " latent steps does not match its graph");
  check(b.inputs.size() == (size_t)b.B * b.T && b.targets.size() == (size_t)b.B * b.T &&
            b.latent_pos.size() == (size_t)b.B * b.n_latent,
        "latent batch: inputs, targets or latent positions of the wrong size");
  for (int r = 0; r < b.B; r++)
    for (int k = 0; k < b.n_latent; k++) {
      int p = b.latent_pos[(size_t)r * b.n_latent + k];
      int prev = k ? b.latent_pos[(size_t)r * b.n_latent + k - 1] : 0;
      check(p >= 1 && p < b.T && p > prev, "latent batch row ", r, ": latent position ", p,
            " must be in [1, T) and after the previous one");
    }
}

// The latent input read off a pass at row `row` (position p - 1 of that batch row).
StepInput latent_input(const Model& m, const TrainGraph& g, int row, LatentKind kind,
                       const SoftSamplerParams& p) {
  const int C = m.cfg.n_embd, V = m.cfg.vocab_size;
  check(kind != LatentKind::kToken, "latent training feeds hidden states or concept tokens");
  if (kind == LatentKind::kHidden) {
    const float* h = g.a.lnf + (size_t)row * C;
    return StepInput::of_vector(std::vector<float>(h, h + C));
  }
  // the pass's logits buffer holds probabilities after its (loss-free) softmax
  std::vector<float> scratch;
  SoftSample s;
  concept_from_probs(p, g.a.logits + (size_t)row * V, V, &scratch, &s);
  return StepInput::of_concept(s.w, s.ids);
}

}  // namespace

LatentGraph latent_graph_create(const Model& m, int B, int T, int n_latent) {
  check(n_latent >= 0, "latent steps must be >= 0 (got ", n_latent, ")");
  LatentGraph lg;
  for (int k = 0; k <= n_latent; k++) lg.passes.push_back(train_graph_create(m, B, T));
  return lg;
}

float latent_forward(const Model& m, LatentGraph& lg, const LatentBatch& b, LatentKind kind,
                     const SoftSamplerParams& p) {
  check_batch(lg, b);
  if (kind == LatentKind::kConcept)
    check(!p.dirichlet && !p.gumbel && p.thinking.temperature > 0,
          "latent concept steps need a positive thinking temperature and no noise");
  const int n = b.n_latent, BT = b.B * b.T, C = m.cfg.n_embd;
  std::vector<StepInput> in = b.inputs;
  for (int r = 0; r < b.B; r++)  // latents not computed yet: zeros (no earlier row sees them)
    for (int k = 0; k < n; k++)
      in[(size_t)r * b.T + b.latent_pos[(size_t)r * n + k]] =
          StepInput::of_vector(std::vector<float>(C, 0.0f));
  lg.latents.assign((size_t)b.B * n, StepInput{});
  std::vector<int> no_loss(BT, -1);
  float loss = 0;
  for (int k = 0; k <= n; k++) {
    loss = gpt2_forward_inputs(m, lg.passes[k], in.data(), k == n ? b.targets.data() : no_loss.data(),
                               b.B, b.T);
    if (k == n) break;
    for (int r = 0; r < b.B; r++) {  // latent k + 1 of every row, from this pass
      const int pos = b.latent_pos[(size_t)r * n + k];
      StepInput x = latent_input(m, lg.passes[k], r * b.T + pos - 1, kind, p);
      in[(size_t)r * b.T + pos] = x;
      lg.latents[(size_t)r * n + k] = std::move(x);
    }
  }
  return loss;
}

void latent_backward(const Model& m, LatentGraph& lg, const LatentBatch& b, LatentKind kind,
                     const SoftSamplerParams& p) {
  check_batch(lg, b);
  const int n = b.n_latent, BT = b.B * b.T, C = m.cfg.n_embd, V = m.cfg.vocab_size;
  lg.grads.assign(m.num_params, 0.0f);
  // d(loss)/d(latent k) accumulated from the passes that read it: [B, n] vectors [C] or
  // weights [K]
  std::vector<std::vector<float>> dlat((size_t)b.B * n);
  std::vector<float> dhidden, dlogits;
  for (int k = n; k >= 0; k--) {
    TrainGraph& g = lg.passes[k];
    const float *dh = nullptr, *dl = nullptr;
    if (k < n) {  // latent k + 1 was read off this pass
      if (kind == LatentKind::kHidden)
        dhidden.assign((size_t)BT * C, 0.0f), dh = dhidden.data();
      else
        dlogits.assign((size_t)BT * V, 0.0f), dl = dlogits.data();
      for (int r = 0; r < b.B; r++) {
        const int row = r * b.T + b.latent_pos[(size_t)r * n + k] - 1;
        const std::vector<float>& d = dlat[(size_t)r * n + k];
        if (d.empty()) continue;  // no later pass depends on it
        if (kind == LatentKind::kHidden) {
          std::memcpy(dhidden.data() + (size_t)row * C, d.data(), sizeof(float) * C);
        } else {
          const StepInput& x = lg.latents[(size_t)r * n + k];
          concept_backward(x.weights, x.ids, d.data(), p.thinking.temperature,
                           dlogits.data() + (size_t)row * V);
        }
      }
    }
    gpt2_backward(m, g, dl, dh);
    for (size_t i = 0; i < m.num_params; i++) lg.grads[i] += g.grad_memory[i];
    for (int r = 0; r < b.B; r++)  // the latents this pass was fed: 1..k
      for (int j = 0; j < k; j++) {
        const int row = r * b.T + b.latent_pos[(size_t)r * n + j];
        const std::vector<float> src =
            kind == LatentKind::kHidden
                ? std::vector<float>(g.dvectors.begin() + (size_t)row * C,
                                     g.dvectors.begin() + (size_t)(row + 1) * C)
                : g.dweights[row];
        std::vector<float>& acc = dlat[(size_t)r * n + j];
        if (acc.empty()) acc.assign(src.size(), 0.0f);
        for (size_t i = 0; i < src.size(); i++) acc[i] += src[i];
      }
  }
}

}  // namespace softslm
