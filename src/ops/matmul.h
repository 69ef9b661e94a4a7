// Matrix products. The one fast kernel is matmul_nn; everything else is built on it.
// Linear weights are stored [in, out] (Hugging Face Conv1D layout), so forward passes are
// out = inp . w with both operands row-major and no transposes on the hot path.
#pragma once
#include <cstdint>

namespace softslm {

// out[M, N] (+)= a[M, K] . b[K, N], all row-major. Every output element is the sequential
// fused multiply-add chain over k = 0..K-1 whatever the shapes and threads, so a row's
// result does not depend on how many other rows share the call (batch == alone, bitwise).
// accumulate=false overwrites out.
void matmul_nn(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);
// The simple reference the fast kernel is tested against (double accumulation).
void matmul_nn_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);

// Columns [j0, j1) of matmul_nn's product, computed by the calling thread alone (no OpenMP):
// for callers that split the columns over a thread team of their own. The same FMA chains
// as matmul_nn. Split points at multiples of matmul_col_unit(M) keep its widest tiles.
void matmul_nn_cols(float* out, const float* a, const float* b, int M, int K, int N, int j0,
                    int j1, bool accumulate);
int matmul_col_unit(int M);
// The same with b in bfloat16 (the upper half of a float's bits), widened exactly on load:
// equal, bit for bit, to matmul_nn_cols with b widened to float. Halves the bytes streamed.
void matmul_nn_cols_bf16(float* out, const float* a, const uint16_t* b, int M, int K, int N,
                         int j0, int j1, bool accumulate);

// out[M, N] (+)= a^T . b with a stored [K, M] (the weight-gradient product), same guarantees.
void matmul_tn(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);
void matmul_tn_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);

// out[N, OC] = inp[N, C] . w[C, OC] + bias[OC]   (bias may be null)
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int C,
                    int OC);
// dinp[N, C] += dout . w^T;  dw[C, OC] += inp^T . dout;  dbias[OC] += sum_n dout
// (dinp, dbias may be null)
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int N, int C, int OC);

// out[cols, rows] = in[rows, cols]^T
void transpose(float* out, const float* in, int rows, int cols);

}  // namespace softslm
