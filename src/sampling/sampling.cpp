#include "sampling/sampling.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "ops/vec.h"

namespace softslm {

float softmax_temperature(const float* logits, int V, float temperature, float* probs) {
  // 1 / T stays finite for a tiny T (1e-40 is subnormal: its inverse overflows), and z is
  // clamped at -88, where exp_fast already clamps: (l - max) * (1 / T) is then never NaN or
  // -inf, and a tiny T gives the one-hot (or tied) limit instead of garbage
  const float inv_t = std::min(1.0f / temperature, FLT_MAX), z_lo = -88.0f;
  // the maximum (exact in any order), then one pass: e_v = exp(z_v), z_v = (l_v - max) / T,
  // S = sum e_v and D = sum e_v z_v in 16 lanes each; H = log S - D / S
  const float mx = max_of(logits, V);
  int v = 0;
  v16 s16 = {}, d16 = {};
  const v16 lo16 = v16_set1(z_lo);
  for (v = 0; v + 16 <= V; v += 16) {
    v16 z = sel_max(lo16, (v16_load(logits + v) - mx) * inv_t), e = exp_fast(z);
    v16_store(probs + v, e);
    s16 += e;
    d16 += e * z;
  }
  float sum = v16_hsum(s16), dot = v16_hsum(d16);
  for (; v < V; v++) {
    float z = std::max(z_lo, (logits[v] - mx) * inv_t), e = exp_fast(z);
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

// After the first filter most of probs[V] is zero: the scans below skip blocks of 16 zeros
// with one vector compare (adding 0.0 changes no sum, so results equal a plain scan's).
static bool block_zero(const float* p) {
  v16 x = v16_load(p);
  for (int j = 0; j < 16; j++)
    if (x[j] != 0.0f) return false;
  return true;
}

// Calls f(v) for every v < V with probs[v] != 0, in increasing order.
template <typename F>
static void for_nonzero(const float* probs, int V, F f) {
  int v = 0;
  for (; v + 16 <= V; v += 16)
    if (!block_zero(probs + v))
      for (int j = v; j < v + 16; j++)
        if (probs[j] != 0.0f) f(j);
  for (; v < V; v++)
    if (probs[v] != 0.0f) f(v);
}

static void renormalise(float* probs, int V) {
  double sum = 0;
  for_nonzero(probs, V, [&](int v) { sum += probs[v]; });
  if (sum <= 0) return;
  float inv = (float)(1.0 / sum);
  for_nonzero(probs, V, [&](int v) { probs[v] *= inv; });
}

// The ids with p > 0 (zeros are already filtered out and stay out).
static std::vector<int>& support(const float* probs, int V) {
  static thread_local std::vector<int> ids;
  ids.clear();
  for_nonzero(probs, V, [&](int v) {
    if (probs[v] > 0) ids.push_back(v);
  });
  return ids;
}

// Strict order: higher probability first, ties by lower id (deterministic).
struct ByProb {
  const float* p;
  bool operator()(int a, int b) const { return p[a] > p[b] || (p[a] == p[b] && a < b); }
};

void top_k_renorm(float* probs, int V, int k) {
  if (k <= 0 || k >= V) return;
  // One scan in id order keeping the k best in a heap whose top is the worst kept: a later id
  // enters only with a strictly higher probability (an equal one ranks below: higher id).
  static thread_local std::vector<int> best;
  best.clear();
  int n_support = 0;
  float worst = 0;
  const ByProb by{probs};
  int v = 0;
  auto visit = [&](int u) {
    const float p = probs[u];
    if (!(p > 0)) return;
    n_support++;
    if ((int)best.size() < k) {
      best.push_back(u);
      std::push_heap(best.begin(), best.end(), by);
      worst = probs[best.front()];
    } else if (p > worst) {
      std::pop_heap(best.begin(), best.end(), by);
      best.back() = u;
      std::push_heap(best.begin(), best.end(), by);
      worst = probs[best.front()];
    }
  };
  for (; v + 16 <= V; v += 16) {
    v16 x = v16_load(probs + v);
    bool any = (int)best.size() < k;
    for (int j = 0; j < 16 && !any; j++) any = x[j] > worst;
    if (any) {
      for (int j = v; j < v + 16; j++) visit(j);
    } else {
      for (int j = 0; j < 16; j++) n_support += x[j] > 0;
    }
  }
  for (; v < V; v++) visit(v);
  if (n_support <= k) return;
  // keep the k (values restored after clearing), renormalise over them in id order
  std::sort(best.begin(), best.end());
  static thread_local std::vector<float> kept;
  kept.resize(best.size());
  for (size_t i = 0; i < best.size(); i++) kept[i] = probs[best[i]];
  std::fill(probs, probs + V, 0.0f);
  for (size_t i = 0; i < best.size(); i++) probs[best[i]] = kept[i];
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
  for_nonzero(probs, V, [&](int v) { mx = std::max(mx, probs[v]); });
  float thr = min_p * mx;
  for_nonzero(probs, V, [&](int v) {
    if (probs[v] < thr) probs[v] = 0.0f;
  });
  renormalise(probs, V);
}

int sample_multinomial(const float* probs, int V, Rng& rng) {
  double u = rng_uniform_double(rng), cum = 0;
  int last = 0, v = 0;
  for (; v + 16 <= V; v += 16) {
    if (block_zero(probs + v)) continue;
    for (int j = v; j < v + 16; j++) {
      if (probs[j] <= 0) continue;
      cum += probs[j];
      last = j;
      if (u < cum) return j;
    }
  }
  for (; v < V; v++) {
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
