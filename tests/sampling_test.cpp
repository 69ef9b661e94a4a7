// Each sampler filter against a brute-force reference on random distributions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "sampling/sampling.h"
#include "test_util.h"

using namespace softslm;
using namespace softslm::testing;

// random distribution with some exact ties and zeros
static std::vector<float> random_dist(int V, uint64_t seed) {
  auto l = random_vec(V, seed, 2.0f);
  Rng r = rng_init(seed + 1000);
  for (int i = 0; i + 1 < V; i += 7) l[i + 1] = l[i];  // ties
  std::vector<float> p(V);
  softmax_temperature(l.data(), V, 1.0f, p.data());
  if (V > 5) p[rng_below(r, V)] = 0.0f;
  double s = 0;
  for (float x : p) s += x;
  for (float& x : p) x = (float)(x / s);
  return p;
}

// brute force: rank of id i = number of ids strictly better (higher p, or equal p and lower id)
static int rank_of(const std::vector<float>& p, int i) {
  int r = 0;
  for (int j = 0; j < (int)p.size(); j++)
    if (p[j] > p[i] || (p[j] == p[i] && j < i)) r++;
  return r;
}

static void expect_renormalised(const std::vector<float>& got, const std::vector<float>& orig,
                                const std::vector<bool>& keep) {
  double kept = 0;
  for (size_t i = 0; i < orig.size(); i++)
    if (keep[i]) kept += orig[i];
  for (size_t i = 0; i < orig.size(); i++) {
    double want = keep[i] ? orig[i] / kept : 0.0;
    ASSERT_NEAR(got[i], want, 1e-6) << "id " << i;
  }
}

TEST(Sampling, SoftmaxTemperatureAndEntropy) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f, -1.0f};
  for (float T : {0.5f, 1.0f, 2.0f}) {
    std::vector<float> p(4);
    softmax_temperature(logits.data(), 4, T, p.data());
    double z = 0;
    for (float l : logits) z += std::exp(l / T);
    double h = 0;
    for (int i = 0; i < 4; i++) {
      double q = std::exp(logits[i] / T) / z;
      EXPECT_NEAR(p[i], q, 1e-6);
      h -= q * std::log(q);
    }
    EXPECT_NEAR(entropy_nats(p.data(), 4), h, 1e-5);
  }
  // the entropy returned by the softmax pass equals the reference over the probabilities,
  // for flat and peaked distributions of a real vocabulary (and a size off the vector width)
  for (int V : {4096, 301})
    for (float spread : {0.1f, 3.0f, 40.0f})
      for (float T : {0.6f, 1.0f}) {
        auto l = random_vec(V, 7 + V, spread);
        std::vector<float> p(V);
        float h = softmax_temperature(l.data(), V, T, p.data());
        double sum = 0;
        for (float q : p) sum += q;
        EXPECT_NEAR(sum, 1.0, 1e-5);
        EXPECT_NEAR(h, entropy_nats(p.data(), V), 2e-5 * (1 + h)) << V << " " << spread << " " << T;
      }
  // tiny positive temperatures (1 / T overflows for a subnormal T) give the one-hot limit,
  // never NaN; on a vector-width multiple and off it
  for (int V : {32, 301})
    for (float T : {1e-40f, 1e-30f, 1e-20f}) {
      auto l = random_vec(V, 3, 2.0f);
      std::vector<float> p(V);
      float h = softmax_temperature(l.data(), V, T, p.data());
      EXPECT_TRUE(std::isfinite(h)) << T;
      EXPECT_NEAR(h, 0.0f, 1e-6) << T;
      const int best = argmax(l.data(), V);
      for (int v = 0; v < V; v++) EXPECT_NEAR(p[v], v == best ? 1.0f : 0.0f, 1e-30) << T << " " << v;
    }
  std::vector<float> uniform(8, 0.125f), onehot(8, 0.0f);
  onehot[3] = 1.0f;
  EXPECT_NEAR(entropy_nats(uniform.data(), 8), std::log(8.0), 1e-6);
  EXPECT_NEAR(entropy_nats(onehot.data(), 8), 0.0, 1e-7);
}

TEST(Sampling, TopKMatchesBruteForce) {
  for (int trial = 0; trial < 50; trial++) {
    int V = 1 + trial * 3;
    auto p = random_dist(V, trial);
    for (int k : {0, 1, 2, 5, V - 1, V, V + 3}) {
      auto got = p;
      top_k_renorm(got.data(), V, k);
      std::vector<bool> keep(V);
      for (int i = 0; i < V; i++) keep[i] = k <= 0 || rank_of(p, i) < k;
      expect_renormalised(got, p, keep);
    }
  }
}

TEST(Sampling, TopPMatchesBruteForce) {
  for (int trial = 0; trial < 50; trial++) {
    int V = 1 + trial * 3;
    auto p = random_dist(V, 100 + trial);
    for (float tp : {0.05f, 0.3f, 0.5f, 0.9f, 0.999f, 1.0f}) {
      auto got = p;
      top_p_renorm(got.data(), V, tp);
      // keep id i iff the mass of ids ranked strictly before it is < top_p
      std::vector<bool> keep(V);
      for (int i = 0; i < V; i++) {
        double before = 0;
        for (int j = 0; j < V; j++)
          if (rank_of(p, j) < rank_of(p, i)) before += p[j];
        keep[i] = tp >= 1.0f || before < tp;
      }
      expect_renormalised(got, p, keep);
    }
  }
}

TEST(Sampling, MinPMatchesBruteForce) {
  for (int trial = 0; trial < 50; trial++) {
    int V = 1 + trial * 3;
    auto p = random_dist(V, 200 + trial);
    for (float mp : {0.0f, 0.001f, 0.1f, 0.5f, 0.99f}) {
      auto got = p;
      min_p_renorm(got.data(), V, mp);
      float mx = *std::max_element(p.begin(), p.end());
      std::vector<bool> keep(V);
      for (int i = 0; i < V; i++) keep[i] = !(p[i] < mp * mx);
      expect_renormalised(got, p, keep);
    }
  }
}

TEST(Sampling, MultinomialFrequenciesMatchProbabilities) {
  std::vector<float> p = {0.5f, 0.0f, 0.2f, 0.3f};
  Rng rng = rng_init(1);
  int counts[4] = {0, 0, 0, 0};
  const int n = 200000;
  for (int i = 0; i < n; i++) counts[sample_multinomial(p.data(), 4, rng)]++;
  EXPECT_EQ(counts[1], 0);
  for (int i = 0; i < 4; i++) {
    double sd = std::sqrt(n * p[i] * (1 - p[i]));
    EXPECT_NEAR(counts[i], n * p[i], 5 * sd + 1) << i;
  }
}

TEST(Sampling, GreedyAndSeededSampling) {
  auto logits = random_vec(50, 9, 3.0f);
  std::vector<float> probs(50);
  SamplerParams g;
  g.temperature = 0;
  Rng r = rng_init(0);
  SampleResult s = sampler_sample(g, logits.data(), 50, r, probs.data());
  EXPECT_EQ(s.token, (int)(std::max_element(logits.begin(), logits.end()) - logits.begin()));
  EXPECT_GT(s.entropy, 0.0f);
  SamplerParams t;
  t.temperature = 0.8f;
  t.top_k = 10;
  t.top_p = 0.9f;
  Rng a = rng_init(42), b = rng_init(42);
  for (int i = 0; i < 20; i++) {
    int x = sampler_sample(t, logits.data(), 50, a, probs.data()).token;
    int y = sampler_sample(t, logits.data(), 50, b, probs.data()).token;
    ASSERT_EQ(x, y);
  }
  // top_k = 1 always gives the argmax
  t.top_k = 1;
  for (int i = 0; i < 20; i++) EXPECT_EQ(sampler_sample(t, logits.data(), 50, a, probs.data()).token, s.token);
}

TEST(Sampling, ParamsValidation) {
  auto bad = [](SamplerParams p, const char* field) {
    try {
      sampler_params_validate(p);
      ADD_FAILURE() << field << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  SamplerParams p;
  p.top_p = 0.0f;
  bad(p, "top_p");
  p = {};
  p.top_p = 1.5f;
  bad(p, "top_p");
  p = {};
  p.top_k = -1;
  bad(p, "top_k");
  p = {};
  p.min_p = 1.0f;
  bad(p, "min_p");
  p = {};
  p.temperature = -0.5f;
  bad(p, "temperature");
  EXPECT_NO_THROW(sampler_params_validate(SamplerParams{}));
}
