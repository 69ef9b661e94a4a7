#include "sampling/sampling.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "ops/vec.h"

namespace softslm {

float softmax_temperature(const float* logits, int V, float temperature, float* probs) {
  const float inv_t = 1.0f / temperature;
  // the maximum (exact in any order), then one pass: e_v = exp(z_v), z_v = (l_v - max) / T,
  // S = sum e_v and D = sum e_v z_v in 16 lanes each; H = log S - D / S
  v16 m16 = v16_set1(-INFINITY);
  int v = 0;
  for (; v + 16 <= V; v += 16) {
    v16 l = v16_load(logits + v);
    m16 = l > m16 ? l : m16;
  }
  float mx = -INFINITY;
  for (int j = 0; j < 16; j++) mx = std::max(mx, m16[j]);
  for (; v < V; v++) mx = std::max(mx, logits[v]);
  v16 s16 = {}, d16 = {};
  for (v = 0; v + 16 <= V; v += 16) {
    v16 z = (v16_load(logits + v) - mx) * inv_t, e = exp_fast(z);
    v16_store(probs + v, e);
    s16 += e;
    d16 += e * z;
  }
  float sum = v16_hsum(s16), dot = v16_hsum(d16);
  for (; v < V; v++) {
    float z = (logits[v] - mx) * inv_t, e = exp_fast(z);
    probs[v] = e;
    sum += e;
    dot += e * z;
  }
  const float inv = 1.0f / sum;
  for (v = 0; v < V; v++) probs[v] *= inv;
  return std::max(0.0f, std::log(sum) - dot * inv);
}

float entropy_nats(const float* probs, int V) {
  double h = 0;
  for (int v = 0; v < V; v++) h -= probs[v] * std::log(std::max(probs[v], 1e-12f));
  return (float)h;
}

static void renormalise(float* probs, int V) {
  double sum = 0;
  for (int v = 0; v < V; v++) sum += probs[v];
  if (sum <= 0) return;
  float inv = (float)(1.0 / sum);
  for (int v = 0; v < V; v++) probs[v] *= inv;
}

// The ids with p > 0 (zeros are already filtered out and stay out).
static std::vector<int>& support(const float* probs, int V) {
  static thread_local std::vector<int> ids;
  ids.clear();
  for (int v = 0; v < V; v++)
    if (probs[v] > 0) ids.push_back(v);
  return ids;
}

// Strict order: higher probability first, ties by lower id (deterministic).
struct ByProb {
  const float* p;
  bool operator()(int a, int b) const { return p[a] > p[b] || (p[a] == p[b] && a < b); }
};

void top_k_renorm(float* probs, int V, int k) {
  if (k <= 0 || k >= V) return;
  std::vector<int>& ids = support(probs, V);
  if ((int)ids.size() <= k) return;
  std::nth_element(ids.begin(), ids.begin() + k, ids.end(), ByProb{probs});  // O(V)
  for (size_t i = k; i < ids.size(); i++) probs[ids[i]] = 0.0f;
  renormalise(probs, V);
}

void top_p_renorm(float* probs, int V, float top_p) {
  if (top_p >= 1.0f) return;
  std::vector<int>& ids = support(probs, V);  // after top-k: at most k ids to sort
  std::sort(ids.begin(), ids.end(), ByProb{probs});
  double cum = 0;
  size_t keep = 0;
  while (keep < ids.size()) {
    cum += probs[ids[keep++]];
    if (cum >= top_p) break;
  }
  for (size_t i = keep; i < ids.size(); i++) probs[ids[i]] = 0.0f;
  renormalise(probs, V);
}

void min_p_renorm(float* probs, int V, float min_p) {
  if (min_p <= 0.0f) return;
  float mx = 0;
  for (int v = 0; v < V; v++) mx = std::max(mx, probs[v]);
  float thr = min_p * mx;
  for (int v = 0; v < V; v++)
    if (probs[v] < thr) probs[v] = 0.0f;
  renormalise(probs, V);
}

int sample_multinomial(const float* probs, int V, Rng& rng) {
  double u = rng_uniform_double(rng), cum = 0;
  int last = 0;
  for (int v = 0; v < V; v++) {
    if (probs[v] <= 0) continue;
    cum += probs[v];
    last = v;
    if (u < cum) return v;
  }
  return last;  // rounding: u beyond the accumulated mass
}

int argmax(const float* x, int V) {
  int best = 0;
  for (int v = 1; v < V; v++)
    if (x[v] > x[best]) best = v;
  return best;
}

void sampler_params_validate(const SamplerParams& p) {
  check(std::isfinite(p.temperature) && p.temperature >= 0, "temperature must be >= 0 (got ",
        p.temperature, ")");
  check(p.top_k >= 0, "top_k must be >= 0 (0 = off; got ", p.top_k, ")");
  check(p.top_p > 0 && p.top_p <= 1, "top_p must be in (0, 1] (got ", p.top_p, ")");
  check(p.min_p >= 0 && p.min_p < 1, "min_p must be in [0, 1) (got ", p.min_p, ")");
}

SampleResult sampler_sample(const SamplerParams& p, const float* logits, int V, Rng& rng,
                            float* probs) {
  SampleResult r;
  bool greedy = p.temperature == 0.0f;
  r.entropy = softmax_temperature(logits, V, greedy ? 1.0f : p.temperature, probs);
  if (greedy) {
    r.token = argmax(logits, V);
    std::fill(probs, probs + V, 0.0f);
    probs[r.token] = 1.0f;
    return r;
  }
  top_k_renorm(probs, V, p.top_k);
  top_p_renorm(probs, V, p.top_p);
  min_p_renorm(probs, V, p.min_p);
  r.token = sample_multinomial(probs, V, rng);
  return r;
}

}  // namespace softslm
