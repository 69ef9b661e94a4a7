#include "ops/matmul.h"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace softslm {

namespace {

// 16 floats; aligned(4) lets us load/store at any float address.
typedef float v16 __attribute__((vector_size(64), aligned(4)));

inline float hsum(v16 v) {
  float s = 0;
  for (int i = 0; i < 16; i++) s += v[i];
  return s;
}

// Every output element is summed in the same order (16-wide partial sums over k, a
// horizontal sum, then the scalar tail) whatever block it falls in, so a row's result does
// not depend on how many other rows share the call (batch == one-by-one, bit for bit).
inline float dot(const float* a, const float* b, int K) {
  v16 acc = {};
  int k = 0;
  for (; k + 16 <= K; k += 16) acc += *(const v16*)(a + k) * *(const v16*)(b + k);
  float s = hsum(acc);
  for (; k < K; k++) s += a[k] * b[k];
  return s;
}

// MI rows of a x NJ rows of b; MI * NJ vector accumulators.
template <int MI, int NJ>
inline void kernel(float* out, int ldo, const float* a, const float* b, int K, bool acc_out) {
  v16 c[MI][NJ] = {};
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    v16 av[MI], bv[NJ];
    for (int i = 0; i < MI; i++) av[i] = *(const v16*)(a + (size_t)i * K + k);
    for (int j = 0; j < NJ; j++) bv[j] = *(const v16*)(b + (size_t)j * K + k);
    for (int i = 0; i < MI; i++)
      for (int j = 0; j < NJ; j++) c[i][j] += av[i] * bv[j];
  }
  for (int i = 0; i < MI; i++)
    for (int j = 0; j < NJ; j++) {
      float s = hsum(c[i][j]);
      for (int kk = k; kk < K; kk++) s += a[(size_t)i * K + kk] * b[(size_t)j * K + kk];
      float* o = out + (size_t)i * ldo + j;
      *o = acc_out ? *o + s : s;
    }
}

std::vector<float>& scratch(int which, size_t n) {
  static thread_local std::vector<float> bufs[3];
  if (bufs[which].size() < n) bufs[which].resize(n);
  return bufs[which];
}

}  // namespace

void matmul_nt_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)a[(size_t)i * K + k] * b[(size_t)j * K + k];
      float* o = out + (size_t)i * N + j;
      *o = accumulate ? *o + (float)s : (float)s;
    }
}

void matmul_nt(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate) {
  const int MB = (M + 3) / 4, NB = (N + 3) / 4;
  const long work = (long)M * N * K;
#pragma omp parallel for collapse(2) schedule(static) if (work > (1 << 16))
  for (int ib = 0; ib < MB; ib++)
    for (int jb = 0; jb < NB; jb++) {
      int i0 = ib * 4, j0 = jb * 4;
      const float* ap = a + (size_t)i0 * K;
      const float* bp = b + (size_t)j0 * K;
      float* op = out + (size_t)i0 * N + j0;
      const int mi = std::min(4, M - i0);
      if (j0 + 4 <= N && mi == 4) {
        kernel<4, 4>(op, N, ap, bp, K, accumulate);
      } else if (j0 + 4 <= N && mi == 1) {
        kernel<1, 4>(op, N, ap, bp, K, accumulate);
      } else if (j0 + 4 <= N && mi == 2) {
        kernel<2, 4>(op, N, ap, bp, K, accumulate);
      } else if (j0 + 4 <= N && mi == 3) {
        kernel<3, 4>(op, N, ap, bp, K, accumulate);
      } else {
        for (int i = 0; i < std::min(4, M - i0); i++)
          for (int j = 0; j < std::min(4, N - j0); j++) {
            float s = dot(ap + (size_t)i * K, bp + (size_t)j * K, K);
            float* o = op + (size_t)i * N + j;
            *o = accumulate ? *o + s : s;
          }
      }
    }
}

void transpose(float* out, const float* in, int rows, int cols) {
  const int BS = 32;
#pragma omp parallel for collapse(2) schedule(static) if ((long)rows * cols > (1 << 16))
  for (int r0 = 0; r0 < rows; r0 += BS)
    for (int c0 = 0; c0 < cols; c0 += BS)
      for (int r = r0; r < std::min(rows, r0 + BS); r++)
        for (int c = c0; c < std::min(cols, c0 + BS); c++)
          out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int C,
                    int OC) {
  matmul_nt(out, inp, w, N, C, OC, false);
  if (bias) {
#pragma omp parallel for schedule(static) if ((long)N * OC > (1 << 16))
    for (int n = 0; n < N; n++)
      for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += bias[o];
  }
}

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int N, int C, int OC) {
  // dinp[N, C] += dout[N, OC] . wT[C, OC]^T
  std::vector<float>& wT = scratch(0, (size_t)C * OC);
  transpose(wT.data(), w, OC, C);
  matmul_nt(dinp, dout, wT.data(), N, OC, C, true);
  // dw[OC, C] += doutT[OC, N] . inpT[C, N]^T
  std::vector<float>& doutT = scratch(1, (size_t)OC * N);
  std::vector<float>& inpT = scratch(2, (size_t)C * N);
  transpose(doutT.data(), dout, N, OC);
  transpose(inpT.data(), inp, N, C);
  matmul_nt(dw, doutT.data(), inpT.data(), OC, N, C, true);
  if (dbias) {
#pragma omp parallel for schedule(static) if ((long)N * OC > (1 << 16))
    for (int o = 0; o < OC; o++) {
      const float* row = doutT.data() + (size_t)o * N;
      float s = 0;
      for (int n = 0; n < N; n++) s += row[n];
      dbias[o] += s;
    }
  }
}

}  // namespace softslm
