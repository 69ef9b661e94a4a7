#include "sampling/soft_sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/error.h"

namespace softslm {

void soft_sampler_params_validate(const SoftSamplerParams& p, int vocab_size) {
  try {
    sampler_params_validate(p.thinking);
  } catch (const Error& e) {
    fail("thinking.", e.what());
  }
  try {
    sampler_params_validate(p.after);
  } catch (const Error& e) {
    fail("after_thinking.", e.what());
  }
  check(p.max_topk >= 1, "max_topk must be >= 1 (got ", p.max_topk, ")");
  check(vocab_size <= 0 || p.max_topk <= vocab_size, "max_topk must be <= the vocabulary size ",
        vocab_size, " (got ", p.max_topk, ")");
  check(std::isfinite(p.dirichlet_alpha) && p.dirichlet_alpha > 0,
        "dirichlet.alpha must be > 0 (got ", p.dirichlet_alpha, ")");
  check(std::isfinite(p.gumbel_tau) && p.gumbel_tau > 0, "gumbel.tau must be > 0 (got ",
        p.gumbel_tau, ")");
  check(std::isfinite(p.moi_beta) && p.moi_beta >= 0, "moi_beta must be >= 0 (got ", p.moi_beta,
        ")");
}

int topk_concept(const float* probs, int V, int K, std::vector<float>* w, std::vector<int>* ids) {
  static thread_local std::vector<int> order;
  order.clear();
  for (int v = 0; v < V; v++)
    if (probs[v] > 0) order.push_back(v);
  int k = std::min<int>(K, (int)order.size());
  auto better = [&](int a, int b) {  // higher probability first, ties by lower id
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  w->resize(k);
  ids->resize(k);
  double sum = 0;
  for (int j = 0; j < k; j++) sum += probs[order[j]];
  for (int j = 0; j < k; j++) {
    (*ids)[j] = order[j];
    (*w)[j] = (float)(probs[order[j]] / sum);
  }
  return k;
}

double log_gamma_sample(double shape, Rng& rng) {
  // Marsaglia-Tsang for shape >= 1; shape < 1 via Gamma(shape + 1) * U^(1 / shape), in logs.
  double boost = 0;
  if (shape < 1) {
    double u = std::max(rng_uniform_double(rng), 1e-300);
    boost = std::log(u) / shape;
    shape += 1;
  }
  double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = rng_normal(rng), v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = std::max(rng_uniform_double(rng), 1e-300);
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return std::log(d * v) + boost;
  }
}

void dirichlet_noise(float* probs, int V, float alpha, Rng& rng) {
  static thread_local std::vector<double> lg;
  lg.assign(V, -INFINITY);
  double mx = -INFINITY;
  for (int v = 0; v < V; v++) {
    if (probs[v] <= 0) continue;
    lg[v] = log_gamma_sample((double)alpha * probs[v], rng);
    mx = std::max(mx, lg[v]);
  }
  double sum = 0;
  for (int v = 0; v < V; v++) sum += probs[v] > 0 ? std::exp(lg[v] - mx) : 0.0;
  for (int v = 0; v < V; v++) probs[v] = probs[v] > 0 ? (float)(std::exp(lg[v] - mx) / sum) : 0.0f;
}

void gumbel_softmax(std::vector<float>* w, std::vector<int>* ids, float tau, Rng& rng) {
  const int k = (int)w->size();
  std::vector<double> z(k);
  double mx = -INFINITY;
  for (int j = 0; j < k; j++) {
    double u = std::max(rng_uniform_double(rng), 1e-300);
    double g = -std::log(-std::log(u) + 1e-300);
    z[j] = ((*w)[j] > 0 ? std::log((double)(*w)[j]) + g : -INFINITY) / tau;
    mx = std::max(mx, z[j]);
  }
  double sum = 0;
  for (int j = 0; j < k; j++) sum += std::exp(z[j] - mx);
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::vector<float> nw(k);
  for (int j = 0; j < k; j++) nw[j] = (float)(std::exp(z[j] - mx) / sum);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return nw[a] > nw[b]; });
  std::vector<int> nid(k);
  for (int j = 0; j < k; j++) {
    (*w)[j] = nw[order[j]];
    nid[j] = (*ids)[order[j]];
  }
  *ids = nid;
}

void concept_from_probs(const SoftSamplerParams& p, const float* probs, int V,
                        std::vector<float>* logp, SoftSample* out) {
  check(!p.dirichlet && !p.gumbel && p.thinking.temperature > 0,
        "a concept from probabilities needs a positive thinking temperature and no noise");
  logp->resize(2 * (size_t)V);  // the log-probabilities, then soft_sample's scratch
  float* l = logp->data();
  for (int v = 0; v < V; v++) l[v] = std::log(std::max(probs[v], 1e-30f));
  Rng unused = rng_init(0);  // no noise: soft_sample draws nothing
  soft_sample(p, /*thinking=*/true, l, V, unused, l + V, out);
}

void concept_backward(const std::vector<float>& w, const std::vector<int>& ids,
                      const float* dw, float temperature, float* dlogits) {
  check(w.size() == ids.size(), "concept_backward: ", w.size(), " weights but ", ids.size(),
        " ids");
  check(std::isfinite(temperature) && temperature > 0,
        "concept_backward: the temperature must be > 0 (got ", temperature, ")");
  double mix = 0;  // sum_k a_k dw_k
  for (size_t j = 0; j < w.size(); j++) mix += (double)w[j] * dw[j];
  for (size_t j = 0; j < w.size(); j++)
    dlogits[ids[j]] += (float)(w[j] * (dw[j] - mix) / temperature);
}

static void one_hot(SoftSample* out, int token) {
  out->token = token;
  out->w.assign(1, 1.0f);
  out->ids.assign(1, token);
}

void soft_sample(const SoftSamplerParams& p, bool thinking, const float* logits, int V, Rng& rng,
                 float* probs, SoftSample* out) {
  const SamplerParams& f = thinking ? p.thinking : p.after;
  if (!thinking) {  // discrete row: the ordinary sampler with the after-thinking filters
    SampleResult r = sampler_sample(f, logits, V, rng, probs);
    out->entropy = r.entropy;
    one_hot(out, r.token);
    return;
  }
  const bool greedy = f.temperature == 0.0f;
  out->entropy = softmax_temperature(logits, V, greedy ? 1.0f : f.temperature, probs);
  if (greedy) {  // greedy thinking: the argmax as a one-hot concept
    one_hot(out, argmax(logits, V));
    return;
  }
  top_k_renorm(probs, V, f.top_k);
  top_p_renorm(probs, V, f.top_p);
  min_p_renorm(probs, V, f.min_p);
  if (p.dirichlet) dirichlet_noise(probs, V, p.dirichlet_alpha, rng);
  topk_concept(probs, V, p.max_topk, &out->w, &out->ids);
  if (p.mixing == Mixing::kMoI) {
    // draw t from the concept, then mix: w_j ~ H p_j + max(0, beta + 1 - H) [ids_j == t]
    // (sum > 0: the drawn entry gets at least beta + 1 - H, or H p_t > 0 when that is 0)
    int j_t = sample_multinomial(out->w.data(), (int)out->w.size(), rng);
    float H = out->entropy, extra = std::max(0.0f, p.moi_beta + 1.0f - H);
    double sum = 0;
    for (size_t j = 0; j < out->w.size(); j++) {
      out->w[j] = H * out->w[j] + ((int)j == j_t ? extra : 0.0f);
      sum += out->w[j];
    }
    int t = out->ids[j_t];
    for (auto& x : out->w) x = (float)(x / sum);
    if (p.gumbel) gumbel_softmax(&out->w, &out->ids, p.gumbel_tau, rng);
    out->token = t;  // MoI emits the sampled token
    return;
  }
  if (p.gumbel) gumbel_softmax(&out->w, &out->ids, p.gumbel_tau, rng);
  out->token = out->ids[0];
}

}  // namespace softslm
