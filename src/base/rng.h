// A small, fast, seedable RNG whose whole state is one uint64 (saved in training state).
#pragma once
#include <cmath>
#include <cstdint>

namespace softslm {

struct Rng {
  uint64_t state;
};

inline Rng rng_init(uint64_t seed) { return Rng{seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull}; }

// splitmix64: every seed (0 included) gives a full-period, well-mixed stream.
inline uint64_t rng_u64(Rng& r) {
  uint64_t z = (r.state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// uniform in [0, 1)
inline float rng_uniform(Rng& r) { return (rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
inline double rng_uniform_double(Rng& r) { return (rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

// standard normal (Box-Muller)
inline float rng_normal(Rng& r) {
  double u1 = rng_uniform_double(r), u2 = rng_uniform_double(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return (float)(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// uniform integer in [0, n)
inline uint64_t rng_below(Rng& r, uint64_t n) { return rng_u64(r) % n; }

}  // namespace softslm
