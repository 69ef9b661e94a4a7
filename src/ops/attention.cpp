// Causal self-attention for training, one (batch, head) pair at a time as matrix products.
//
// A pair's q, k, v are 64-byte rows 3C floats apart in qkv: read row by row (the reference,
// attention_*_ref in ops.cpp) they map to a few cache sets and thrash L1 and L2. Here each
// pair is first gathered into dense per-thread blocks, then every step is a product on the
// matmul kernels (matmul_block), restricted to the causal triangle by row blocks of R (the
// products' row tile kMatmulRows: 8 with AVX-512, 6 with AVX2):
//
//   forward   S = Q K^T           rows [i0, i0+R) need key columns [0, i0+R)
//             P = softmax(S * scale) per row (saved in att)
//             O = P V             rows [i0, i0+R) sum over positions [0, i0+R)
//   backward  dP = dO V^T         (triangle as S)
//             dS = P * (dP - rowsum(P * dP)) * scale
//             dQ = dS K           (triangle as O)
//             dK = dS^T Q, dV = P^T dO   key rows [i0, i0+R) sum over queries [i0, T)
#include "ops/matmul.h"
#include "ops/ops.h"
#include "ops/vec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace softslm {

namespace {

constexpr int kRows = kMatmulRows;  // row block of the triangle sweeps (the GEMM's row tile)
constexpr int kCols = 32;  // score columns are computed in whole tiles of 32

int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Per-thread scratch, kept between calls (a training step runs attention twice per layer).
float* scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// dst[T, hs] = rows of src `stride` floats apart
void gather(float* dst, const float* src, int T, int hs, int stride) {
  for (int t = 0; t < T; t++) std::memcpy(dst + (size_t)t * hs, src + (size_t)t * stride, sizeof(float) * hs);
}

// dst[hs, Tp] = the same rows transposed; columns T..Tp-1 zero
void gather_transposed(float* dst, const float* src, int T, int hs, int stride, int Tp) {
  for (int d = 0; d < hs; d++) {
    float* row = dst + (size_t)d * Tp;
    for (int t = 0; t < T; t++) row[t] = src[(size_t)t * stride + d];
    for (int t = T; t < Tp; t++) row[t] = 0.0f;
  }
}

// Product rows [i0, i0 + mi) of a causal sweep.
struct RowBlock {
  int i0, mi;
  int end() const { return i0 + mi; }
};

template <typename F>
void for_row_blocks(int T, F f) {
  for (int i0 = 0; i0 < T; i0 += kRows) f(RowBlock{i0, std::min(kRows, T - i0)});
}

// A pair's dense blocks in per-thread scratch: three [T, hs] row blocks, one [hs, Tp]
// transposed block, one [T, Tp] block of scores.
struct PairBlocks {
  float* rows[3];
  float* cols;
  float* scores;
};

PairBlocks pair_blocks(int T, int hs, int Tp) {
  const size_t r = (size_t)T * hs;
  float* p = scratch(3 * r + (size_t)hs * Tp + (size_t)T * Tp);
  return PairBlocks{{p, p + r, p + 2 * r}, p + 3 * r, p + 3 * r + (size_t)hs * Tp};
}

// S[T, Tp] = X[T, hs] . Yt[hs, Tp] on the causal triangle: row block i0 gets the columns
// [0, i0 + mi) rounded up to whole score tiles (the rest of the row is left as it was).
void causal_product(float* S, const float* X, const float* Yt, int T, int hs, int Tp) {
  for_row_blocks(T, [&](RowBlock r) {
    matmul_block(S + (size_t)r.i0 * Tp, Tp, X + (size_t)r.i0 * hs, hs, false, Yt, Tp, r.mi, hs,
                 round_up(r.end(), kCols), false);
  });
}

}  // namespace

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
  const int hs = C / NH, C3 = 3 * C, Tp = round_up(T, kCols);
  const float scale = 1.0f / std::sqrt((float)hs);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++) {
      const PairBlocks blk = pair_blocks(T, hs, Tp);
      float *Q = blk.rows[0], *V = blk.rows[1], *Kt = blk.cols, *S = blk.scores;
      const float* base = qkv + (size_t)b * T * C3 + h * hs;
      gather(Q, base, T, hs, C3);
      gather_transposed(Kt, base + C, T, hs, C3, Tp);
      gather(V, base + 2 * C, T, hs, C3);
      float* P = att + ((size_t)b * NH + h) * T * T;  // [T, T]
      causal_product(S, Q, Kt, T, hs, Tp);
      for (int t = 0; t < T; t++) {
        float* p = P + (size_t)t * T;
        const float* s = S + (size_t)t * Tp;
        for (int t2 = 0; t2 <= t; t2++) p[t2] = s[t2] * scale;
        softmax_inplace(p, t + 1);
        for (int t2 = t + 1; t2 < T; t2++) p[t2] = 0.0f;
      }
      float* o = out + (size_t)b * T * C + h * hs;
      for_row_blocks(T, [&](RowBlock r) {
        matmul_block(o + (size_t)r.i0 * C, C, P + (size_t)r.i0 * T, T, false, V, hs, r.mi,
                     r.end(), hs, false);
      });
    }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH) {
  const int hs = C / NH, C3 = 3 * C, Tp = round_up(T, kCols);
  const float scale = 1.0f / std::sqrt((float)hs);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++) {
      const PairBlocks blk = pair_blocks(T, hs, Tp);
      float *Q = blk.rows[0], *K = blk.rows[1], *dO = blk.rows[2], *Vt = blk.cols;
      float* D = blk.scores;  // dP, then dS in place
      const float* base = qkv + (size_t)b * T * C3 + h * hs;
      gather(Q, base, T, hs, C3);
      gather(K, base + C, T, hs, C3);
      gather(dO, dout + (size_t)b * T * C + h * hs, T, hs, C);
      gather_transposed(Vt, base + 2 * C, T, hs, C3, Tp);
      const float* P = att + ((size_t)b * NH + h) * T * T;
      causal_product(D, dO, Vt, T, hs, Tp);
      for (int t = 0; t < T; t++) {
        const float* p = P + (size_t)t * T;
        float* d = D + (size_t)t * Tp;
        const float dot = dot16(p, d, t + 1);
        for (int t2 = 0; t2 <= t; t2++) d[t2] = p[t2] * (d[t2] - dot) * scale;
        // the products below read this row up to the end of its row block: zero past t
        const int end = std::min(T, (t / kRows + 1) * kRows);
        for (int t2 = t + 1; t2 < end; t2++) d[t2] = 0.0f;
      }
      float* dq = dqkv + (size_t)b * T * C3 + h * hs;
      float* dk = dq + C;
      float* dv = dq + 2 * C;
      for_row_blocks(T, [&](RowBlock r) {
        const size_t i0 = r.i0;
        matmul_block(dq + i0 * C3, C3, D + i0 * Tp, Tp, false, K, hs, r.mi, r.end(), hs, true);
        matmul_block(dk + i0 * C3, C3, D + i0 * Tp + i0, Tp, true, Q + i0 * hs, hs, r.mi,
                     T - r.i0, hs, true);
        matmul_block(dv + i0 * C3, C3, P + i0 * T + i0, T, true, dO + i0 * hs, hs, r.mi,
                     T - r.i0, hs, true);
      });
    }
}

}  // namespace softslm
