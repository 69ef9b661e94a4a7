// Shared helpers for the tests: random fills, temp dirs, running the CLI, finite differences.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "base/rng.h"

namespace softslm::testing {

inline std::vector<float> random_vec(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng r = rng_init(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * rng_normal(r);
  return v;
}

inline std::string make_temp_dir() {
  char tmpl[] = "/tmp/softslm_test_XXXXXX";
  char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? std::string(d) : std::string("/tmp");
}

struct RunResult {
  int exit_code;
  std::string out;  // stdout + stderr
};

// Runs a shell command line, appending what it writes to stdout to *out; returns the wait
// status (WIFEXITED / WIFSIGNALED), or -1 when it could not start.
inline int run_shell(const std::string& cmd, std::string* out) {
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out->append(buf, n);
  return pclose(f);
}

// Runs the softslm binary (or another build of it) with args (a shell fragment), capturing
// stdout and stderr.
inline RunResult run_cli(const std::string& args, const char* binary = SOFTSLM_BINARY) {
  RunResult r{-1, ""};
  int st = run_shell(std::string(binary) + " " + args + " 2>&1", &r.out);
  r.exit_code = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Central finite differences of loss() w.r.t. x[idx], compared with analytic[idx].
// Fails when |num - ana| > atol + rtol * max(|num|, |ana|).
inline void expect_grad_close(const std::function<double()>& loss, float* x,
                              const float* analytic, const std::vector<size_t>& idx,
                              const char* what, float eps = 1e-3f, double atol = 1e-3,
                              double rtol = 2e-2) {
  int bad = 0;
  for (size_t i : idx) {
    float old = x[i];
    x[i] = old + eps;
    double lp = loss();
    x[i] = old - eps;
    double lm = loss();
    x[i] = old;
    double num = (lp - lm) / (2.0 * eps);
    double ana = analytic[i];
    double tol = atol + rtol * std::max(std::fabs(num), std::fabs(ana));
    if (std::fabs(num - ana) > tol && bad++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: numeric " << num << " vs analytic " << ana;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << idx.size() << " gradients off";
}

inline std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = i;
  return v;
}

inline std::vector<size_t> sample_indices(size_t n, size_t k, uint64_t seed) {
  if (n <= k) return all_indices(n);
  Rng r = rng_init(seed);
  std::vector<size_t> v(k);
  for (auto& i : v) i = rng_below(r, n);
  return v;
}

}  // namespace softslm::testing
