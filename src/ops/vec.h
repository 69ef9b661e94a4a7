// SIMD helpers for the kernels: a 16-float vector type (GCC vector extensions, compiled for
// the build machine's ISA) and a fast exp whose scalar and vector forms give identical bits,
// so a value never depends on whether it fell in a vector lane or the scalar tail.
//
// v16 is 16 lanes on every ISA, so every partial sum kept in lanes (softmax, LayerNorm,
// entropy) has the same order, and results the same bits, on AVX-512 and AVX2 machines. With
// AVX-512 it is one register. Without it, GCC keeps a 64-byte vector extension in memory
// (every operation through the stack: products ran ~30x slower on an AVX2 EPYC), so there it
// is a pair of 8-float halves with the same operators.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace softslm {

typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  // loads at any float address
typedef int32_t vi8 __attribute__((vector_size(32)));

#if defined(__AVX512F__)
constexpr bool kWideVectors = true;  // 16-float registers (32 of them)
typedef float v16 __attribute__((vector_size(64), aligned(4)));   // loads at any float address
typedef int32_t vi16 __attribute__((vector_size(64), aligned(4)));

inline v16 v16_load(const float* p) { return *(const v16*)p; }
inline void v16_store(float* p, v16 v) { *(v16*)p = v; }
inline v8 v16_low(v16 v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7); }
inline v8 v16_high(v16 v) { return __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15); }
// a > b ? a : b and a < b ? a : b, lane by lane
inline v16 sel_max(v16 a, v16 b) { return a > b ? a : b; }
inline v16 sel_min(v16 a, v16 b) { return a < b ? a : b; }
// 2^n for integral n in [-126, 127] (the float with exponent n)
inline v16 v16_pow2i(v16 n) { return (v16)((__builtin_convertvector(n, vi16) + 127) << 23); }
#else
constexpr bool kWideVectors = false;  // 8-float registers (16 of them)
struct v16 {
  v8u lo, hi;  // lanes 0-7, 8-15
  float operator[](int j) const { return j < 8 ? lo[j] : hi[j - 8]; }
};
inline v16 v16_load(const float* p) { return {*(const v8u*)p, *(const v8u*)(p + 8)}; }
inline void v16_store(float* p, v16 v) { *(v8u*)p = v.lo, *(v8u*)(p + 8) = v.hi; }
inline v8 v16_low(v16 v) { return v.lo; }
inline v8 v16_high(v16 v) { return v.hi; }
#define SOFTSLM_V16_OP(op)                                                                     \
  inline v16 operator op(v16 a, v16 b) { return {a.lo op b.lo, a.hi op b.hi}; }                \
  inline v16 operator op(v16 a, float b) { return {a.lo op b, a.hi op b}; }                    \
  inline v16 operator op(float a, v16 b) { return {a op b.lo, a op b.hi}; }                    \
  inline v16& operator op##=(v16& a, v16 b) { return a = a op b; }                             \
  inline v16& operator op##=(v16& a, float b) { return a = a op b; }
SOFTSLM_V16_OP(+)
SOFTSLM_V16_OP(-)
SOFTSLM_V16_OP(*)
SOFTSLM_V16_OP(/)
#undef SOFTSLM_V16_OP
inline v16 operator-(v16 a) { return {-a.lo, -a.hi}; }
inline v16 sel_max(v16 a, v16 b) { return {a.lo > b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi}; }
inline v16 sel_min(v16 a, v16 b) { return {a.lo < b.lo ? a.lo : b.lo, a.hi < b.hi ? a.hi : b.hi}; }
inline v16 v16_pow2i(v16 n) {
  return {(v8)((__builtin_convertvector((v8)n.lo, vi8) + 127) << 23),
          (v8)((__builtin_convertvector((v8)n.hi, vi8) + 127) << 23)};
}
#endif

inline v16 v16_set1(float x) { return v16{} + x; }
inline float sel_max(float a, float b) { return a > b ? a : b; }
inline float sel_min(float a, float b) { return a < b ? a : b; }
// Pairwise tree sum of the 16 lanes (a fixed order, so results are reproducible).
inline float v16_hsum(v16 v) {
  v8 a = v16_low(v) + v16_high(v);
  v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

template <typename T>
inline T splat(float v) {
  if constexpr (sizeof(T) == sizeof(float))
    return v;
  else
    return v16_set1(v);
}

// exp(x) for float or v16 (Cephes-style range reduction + degree-6 polynomial, ~1 ulp on
// [-87, 88]; inputs are clamped there, so exp(-inf) gives ~1e-38 rather than 0).
template <typename T>
inline T exp_fast(T x) {
  const float kLog2e = 1.44269504088896341f, kC1 = 0.693359375f, kC2 = -2.12194440e-4f;
  const float kMagic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to an integer
  T lo = splat<T>(-87.3f), hi = splat<T>(88.3f);
  x = sel_max(lo, x);  // x < lo ? lo : x
  x = sel_min(hi, x);  // x > hi ? hi : x
  T n = (x * kLog2e + kMagic) - kMagic;  // round(x / ln 2)
  T r = x - n * kC1 - n * kC2;
  T y = splat<T>(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  if constexpr (sizeof(T) == sizeof(float)) {
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return y * scale;
  } else {
    return y * v16_pow2i(n);
  }
}

// att[t] = exp(att[t] - mx) for t < n, returning the sum (vector exp; 16 partial sums, one
// per lane, then the lanes and the tail in order)
inline float exp_shift(float* att, int n, float mx) {
  v16 s16 = {};
  int t = 0;
  for (; t + 16 <= n; t += 16) {
    v16 e = exp_fast(v16_load(att + t) - mx);
    v16_store(att + t, e);
    s16 += e;
  }
  float sum = v16_hsum(s16);
  for (; t < n; t++) sum += att[t] = exp_fast(att[t] - mx);
  return sum;
}

// max_i x[i] (-inf for n = 0) in 16 lanes: the maximum is exact in any order
inline float max_of(const float* x, int n) {
  v16 m16 = v16_set1(-INFINITY);
  int t0 = 0;
  for (; t0 + 16 <= n; t0 += 16) {
    v16 a = v16_load(x + t0);
    m16 = sel_max(a, m16);
  }
  float mx = -INFINITY;
  for (int j = 0; j < 16; j++) mx = m16[j] > mx ? m16[j] : mx;
  for (int t = t0; t < n; t++) mx = x[t] > mx ? x[t] : mx;
  return mx;
}

// x[n] = softmax(x[n]) in place: the maximum, exp_shift, then one multiply by the inverse sum
inline void softmax_inplace(float* x, int n) {
  float inv = 1.0f / exp_shift(x, n, max_of(x, n));
  for (int t = 0; t < n; t++) x[t] *= inv;
}

// sum_i a[i] * b[i] with 16-wide partial sums (n a multiple of 16 takes no scalar tail)
inline float dot16(const float* a, const float* b, int n) {
  v16 acc = {};
  int i = 0;
  for (; i + 16 <= n; i += 16) acc += v16_load(a + i) * v16_load(b + i);
  float s = v16_hsum(acc);
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

// y[i] += a * x[i]
inline void axpy16(float* y, float a, const float* x, int n) {
  int i = 0;
  for (; i + 16 <= n; i += 16) v16_store(y + i, v16_load(y + i) + a * v16_load(x + i));
  for (; i < n; i++) y[i] += a * x[i];
}

}  // namespace softslm
