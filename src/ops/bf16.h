// bfloat16: the upper 16 bits of a float (same sign and exponent, 7 mantissa bits).
#pragma once
#include <cstdint>
#include <cstring>

namespace softslm {

// bfloat16 -> float: exact (subnormals, inf and NaN preserved).
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// float -> bfloat16, round to nearest, ties to even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

}  // namespace softslm
