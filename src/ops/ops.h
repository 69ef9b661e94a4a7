// Transformer ops as forward/backward pairs (llm.c style): pointers first, then dims.
// Backward functions accumulate (+=) into parameter and input gradients.
// Shapes use N = number of rows (B*T), C = channels, NH = heads, hs = C / NH.
#pragma once

namespace softslm {

// out[B, T, C] = wte[inp[b, t]] + wpe[t]
void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T,
                     int C);
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T,
                      int C);

// out[N, C] = (inp - mean) * rstd * w + b;  mean[N], rstd[N] saved for backward
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps);
// The same without OpenMP, for callers inside a parallel region (no nested team per call).
void layernorm_forward_serial(float* out, float* mean, float* rstd, const float* inp,
                              const float* w, const float* b, int N, int C, float eps);
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int N, int C);

// GELU, tanh approximation (Hugging Face "gelu_new")
void gelu_forward(float* out, const float* inp, int n);
void gelu_forward_serial(float* out, const float* inp, int n);  // no OpenMP: see above
void gelu_backward(float* dinp, const float* inp, const float* dout, int n);

// out[n] = a[n] + b[n]
void residual_forward(float* out, const float* a, const float* b, int n);
// da += dout; db += dout
void residual_backward(float* da, float* db, const float* dout, int n);

// One query against n keys: att[n] = softmax(q . K[t] * scale), out[hs] = sum_t att[t] V[t].
// q[hs]; K and V rows are `stride` floats apart (a strided view into qkv or a KV cache).
void attention_row(float* out, float* att, const float* q, const float* K, const float* V, int n,
                   int hs, int stride, float scale);

// The second half of attention_row, given the scores att[n]: softmax in place, then
// out[hs] = sum_t att[t] V[t] (V rows `stride` floats apart).
void attention_softmax_values(float* out, float* att, const float* V, int n, int hs, int stride);

// Causal self-attention over a full [B, T] block (training).
// qkv[B, T, 3C] (q | k | v), out[B, T, C], att[B, NH, T, T] softmax weights (saved; zero
// above the diagonal). Each (batch, head) pair is gathered into dense blocks and computed as
// triangle-restricted matrix products (attention.cpp).
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
// dqkv[B, T, 3C] += ...
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH);
// The simple references (a query row at a time over the strided qkv), tested equal to the
// above within float rounding.
void attention_forward_ref(float* out, float* att, const float* qkv, int B, int T, int C, int NH);
void attention_backward_ref(float* dqkv, const float* dout, const float* qkv, const float* att,
                            int B, int T, int C, int NH);

// In place: logits[N, V] -> probs; losses[N] = -log p[target] (0 where target < 0).
// Returns the mean loss over rows with target >= 0 (0 if none) and writes their count.
float softmax_crossentropy_forward(float* logits_to_probs, float* losses, const int* targets, int N,
                                   int V, int* n_counted);
// In place: probs -> dlogits = (probs - onehot) * scale for counted rows, 0 elsewhere.
void softmax_crossentropy_backward(float* probs_to_dlogits, const int* targets, int N, int V,
                                   float scale);

}  // namespace softslm
