// Matrix products. The one fast kernel is matmul_nt; everything else is built on it.
#pragma once

namespace softslm {

// out[M, N] (+)= a[M, K] . b[N, K]^T   (both operands row-major, K contiguous)
// Threads over (M, N) blocks with OpenMP. accumulate=false overwrites out.
void matmul_nt(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);
// The simple reference the fast kernel is tested against.
void matmul_nt_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);

// out[N, OC] = inp[N, C] . w[OC, C]^T + bias[OC]   (bias may be null)
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int C,
                    int OC);
// dinp[N, C] += dout . w;  dw[OC, C] += dout^T . inp;  dbias[OC] += sum_n dout  (dbias may be null)
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int N, int C, int OC);

// out[cols, rows] = in[rows, cols]^T
void transpose(float* out, const float* in, int rows, int cols);

}  // namespace softslm
