// Matrix products. The one fast kernel is matmul_nn; everything else is built on it.
// Linear weights are stored [in, out] (Hugging Face Conv1D layout), so forward passes are
// out = inp . w with both operands row-major and no transposes on the hot path.
#pragma once
#include <cstdint>
#include <vector>

namespace softslm {

// Rows of the products' register tile (see tile_block in matmul.cpp): 8 with AVX-512, 6 with
// AVX2. Callers that sweep row blocks (the training attention) use the same.
#if defined(__AVX512F__)
constexpr int kMatmulRows = 8;
#else
constexpr int kMatmulRows = 6;
#endif

// out[M, N] (+)= a[M, K] . b[K, N], all row-major. Every output element is one sequential
// fused multiply-add chain over k = 0..K-1, starting from out's value when accumulating and
// from zero otherwise, whatever the shapes and threads: a row's result does not depend on how
// many other rows share the call (batch == alone, bitwise).
void matmul_nn(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);
// The simple reference the fast kernel is held equal to, bit for bit: the same chains, one
// element at a time.
void matmul_nn_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);

// Weights packed for the forward at inference: column panels of kPanel columns. Panel p
// (columns [p*kPanel, min(N, (p+1)*kPanel))) is a row-major [K, width] block at offset
// p*kPanel*K, so a product over a panel reads one contiguous stream instead of K short runs
// a row apart (the hardware prefetchers follow it; they stop at page ends on the strided
// form). A permutation of the row-major matrix: same size. The bf16 form rounds each weight
// to bfloat16 (nearest even), the upper half of a float's bits, and pairs columns in a row
// (bf16_panel_slot).
constexpr int kPanel = 128;
std::vector<float> pack_panels(const float* w, int K, int N);          // w: [K, N] row-major
std::vector<uint16_t> pack_panels_bf16(const float* w, int K, int N);
// Where column j of a bf16 panel of `width` columns sits in its row: every full group of 32
// columns is stored as pairs (column i, column 16 + i) so that one load widens to both
// halves of the group; a last partial group keeps its order.
int bf16_panel_slot(int j, int width);

// Columns [j0, j1) of out[M, N] (+)= a[M, K] . b[K, N] with b packed in panels, computed by
// the calling thread alone (no OpenMP), for callers that split the columns over a thread
// team of their own. The same FMA chains as matmul_nn, so equal to it bit for bit; the bf16
// form equals it with b widened to float (exact) and needs j0 and j1 at multiples of 32 (or
// j1 = N: whole groups of paired columns). Split points at multiples of matmul_col_unit(M)
// keep the widest tiles.
void matmul_panels_cols(float* out, const float* a, const float* panels, int M, int K, int N,
                        int j0, int j1, bool accumulate);
void matmul_panels_cols(float* out, const float* a, const uint16_t* panels, int M, int K, int N,
                        int j0, int j1, bool accumulate);
int matmul_col_unit(int M);

// out[M, N] (+)= a^T . b with a stored [K, M] (the weight-gradient product), same guarantees.
void matmul_tn(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);
void matmul_tn_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate);

// out[M, N] (+)= a . b[K, N] on strided views, by the calling thread alone (no OpenMP: for
// use inside a parallel region). a is [M, K] with row stride lda, or with ta it is stored
// transposed, element (i, k) at a[k * lda + i]; out and b have row strides ldo and ldb. The
// same kernels and FMA chains as matmul_nn / matmul_tn.
void matmul_block(float* out, int ldo, const float* a, int lda, bool ta, const float* b, int ldb,
                  int M, int K, int N, bool accumulate);

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
