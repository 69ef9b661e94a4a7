#include "ops/ops.h"

#include "ops/vec.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace softslm {

// Parallel regions only where the work repays a fork/join (decode rows are tiny).
constexpr long kMinParallelWork = 1 << 15;

void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T,
                     int C) {
#pragma omp parallel for schedule(static) if ((long)B * T * C > kMinParallelWork)
  for (int bt = 0; bt < B * T; bt++) {
    const float* e = wte + (size_t)inp[bt] * C;
    const float* p = wpe + (size_t)(bt % T) * C;
    float* o = out + (size_t)bt * C;
    for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp, int B, int T,
                      int C) {
  // serial: several rows may hit the same token row
  for (int bt = 0; bt < B * T; bt++) {
    const float* d = dout + (size_t)bt * C;
    float* de = dwte + (size_t)inp[bt] * C;
    float* dp = dwpe + (size_t)(bt % T) * C;
    for (int c = 0; c < C; c++) {
      de[c] += d[c];
      dp[c] += d[c];
    }
  }
}

// Row n of layernorm_forward.
static inline void layernorm_row(float* out, float* mean, float* rstd, const float* inp,
                                 const float* w, const float* b, int n, int C, float eps) {
  const float* x = inp + (size_t)n * C;
  // sums in 16 lanes (independent chains), then the lanes and the tail in order
  const int c16 = C / 16 * 16;
  v16 acc = {};
  for (int c = 0; c < c16; c += 16) acc += v16_load(x + c);
  float m = v16_hsum(acc);
  for (int c = c16; c < C; c++) m += x[c];
  m /= C;
  acc = v16{};
  for (int c = 0; c < c16; c += 16) {
    v16 d = v16_load(x + c) - m;
    acc += d * d;
  }
  float v = v16_hsum(acc);
  for (int c = c16; c < C; c++) v += (x[c] - m) * (x[c] - m);
  v /= C;
  float s = 1.0f / std::sqrt(v + eps);
  float* o = out + (size_t)n * C;
  for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
  if (mean) mean[n] = m;
  if (rstd) rstd[n] = s;
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > kMinParallelWork)
  for (int n = 0; n < N; n++) layernorm_row(out, mean, rstd, inp, w, b, n, C, eps);
}

void layernorm_forward_serial(float* out, float* mean, float* rstd, const float* inp,
                              const float* w, const float* b, int N, int C, float eps) {
  for (int n = 0; n < N; n++) layernorm_row(out, mean, rstd, inp, w, b, n, C, eps);
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int N, int C) {
  // per-thread partial sums for dw/db, reduced at the end (deterministic order)
  int nt = omp_get_max_threads();
  std::vector<float> part((size_t)nt * 2 * C, 0.0f);
#pragma omp parallel if ((long)N * C > kMinParallelWork)
  {
    float* pdw = part.data() + (size_t)omp_get_thread_num() * 2 * C;
    float* pdb = pdw + C;
#pragma omp for schedule(static)
    for (int n = 0; n < N; n++) {
      const float* d = dout + (size_t)n * C;
      const float* x = inp + (size_t)n * C;
      float m = mean[n], s = rstd[n];
      float dnorm_mean = 0, dnorm_norm_mean = 0;
      for (int c = 0; c < C; c++) {
        float norm = (x[c] - m) * s;
        float dnorm = w[c] * d[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
      }
      dnorm_mean /= C;
      dnorm_norm_mean /= C;
      float* di = dinp + (size_t)n * C;
      for (int c = 0; c < C; c++) {
        float norm = (x[c] - m) * s;
        float dnorm = w[c] * d[c];
        pdb[c] += d[c];
        pdw[c] += norm * d[c];
        di[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
      }
    }
  }
  for (int t = 0; t < nt; t++)
    for (int c = 0; c < C; c++) {
      dw[c] += part[(size_t)t * 2 * C + c];
      db[c] += part[(size_t)t * 2 * C + C + c];
    }
}

static const float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)

// gelu_new(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u),  u = sqrt(2/pi) (x + 0.044715 x^3)
template <typename T>
inline T gelu_elem(T x) {
  T u = kGeluScale * (x + 0.044715f * x * x * x);
  return x / (1.0f + exp_fast(-2.0f * u));
}

// d gelu / dx = s + 2 x s (1 - s) u',  s = sigmoid(2u),  u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
template <typename T>
inline T gelu_grad(T x) {
  T u = kGeluScale * (x + 0.044715f * x * x * x);
  T sg = 1.0f / (1.0f + exp_fast(-2.0f * u));
  T du = kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
  return sg + 2.0f * x * sg * (1.0f - sg) * du;
}

void gelu_forward_serial(float* out, const float* inp, int n) {
  const int nv = n / 16;
  for (int i = 0; i < nv; i++) v16_store(out + 16 * i, gelu_elem(v16_load(inp + 16 * i)));
  for (int i = nv * 16; i < n; i++) out[i] = gelu_elem(inp[i]);
}

void gelu_forward(float* out, const float* inp, int n) {
  constexpr int kChunk = 4096;  // a multiple of 16: the same values as one serial pass
  const int chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if ((long)n * 8 > kMinParallelWork)
  for (int c = 0; c < chunks; c++)
    gelu_forward_serial(out + (size_t)c * kChunk, inp + (size_t)c * kChunk,
                        std::min(kChunk, n - c * kChunk));
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int n) {
  const int nv = n / 16;
#pragma omp parallel for schedule(static) if ((long)n * 8 > kMinParallelWork)
  for (int i = 0; i < nv; i++) {
    float* d = dinp + 16 * i;
    v16_store(d, v16_load(d) + gelu_grad(v16_load(inp + 16 * i)) * v16_load(dout + 16 * i));
  }
  for (int i = nv * 16; i < n; i++) dinp[i] += gelu_grad(inp[i]) * dout[i];
}

void residual_forward(float* out, const float* a, const float* b, int n) {
#pragma omp parallel for schedule(static) if ((long)n > kMinParallelWork)
  for (int i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void residual_backward(float* da, float* db, const float* dout, int n) {
#pragma omp parallel for schedule(static) if ((long)n > kMinParallelWork)
  for (int i = 0; i < n; i++) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

void attention_row(float* out, float* att, const float* q, const float* K, const float* V, int n,
                   int hs, int stride, float scale) {
  for (int t = 0; t < n; t++) att[t] = dot16(q, K + (size_t)t * stride, hs) * scale;
  attention_softmax_values(out, att, V, n, hs, stride);
}

void attention_softmax_values(float* out, float* att, const float* V, int n, int hs, int stride) {
  softmax_inplace(att, n);
  if (hs % 16 == 0 && hs <= 64) {
    // the head's output stays in registers across t, in four partial sums (t mod 4: four
    // independent FMA chains), added at the end; with AVX2's 16 registers a group of 16
    // channels at a time (the same chains)
    constexpr int kGroup = kWideVectors ? 4 : 1;
    const int nv = hs / 16;
    for (int j0 = 0; j0 < nv; j0 += kGroup) {
      const int g = std::min(kGroup, nv - j0);
      const float* V0 = V + 16 * j0;
      v16 acc[4][kGroup] = {};
      int t = 0;
      for (; t + 4 <= n; t += 4)
        for (int u = 0; u < 4; u++) {
          const float* v = V0 + (size_t)(t + u) * stride;
          for (int j = 0; j < g; j++) acc[u][j] += att[t + u] * v16_load(v + 16 * j);
        }
      for (; t < n; t++) {
        const float* v = V0 + (size_t)t * stride;
        for (int j = 0; j < g; j++) acc[0][j] += att[t] * v16_load(v + 16 * j);
      }
      for (int j = 0; j < g; j++)
        v16_store(out + 16 * (j0 + j), (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]));
    }
    return;
  }
  for (int i = 0; i < hs; i++) out[i] = 0.0f;
  for (int t = 0; t < n; t++) axpy16(out, att[t], V + (size_t)t * stride, hs);
}

void attention_forward_ref(float* out, float* att, const float* qkv, int B, int T, int C,
                           int NH) {
  const int hs = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt((float)hs);
#pragma omp parallel for collapse(3) schedule(static) if ((long)B * T * T * C > kMinParallelWork)
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const float* base = qkv + (size_t)b * T * C3 + h * hs;
        float* a = att + (((size_t)b * NH + h) * T + t) * T;
        attention_row(out + ((size_t)b * T + t) * C + h * hs, a, base + (size_t)t * C3, base + C,
                      base + 2 * C, t + 1, hs, C3, scale);
        for (int t2 = t + 1; t2 < T; t2++) a[t2] = 0.0f;
      }
}

void attention_backward_ref(float* dqkv, const float* dout, const float* qkv, const float* att,
                            int B, int T, int C, int NH) {
  const int hs = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt((float)hs);
  // Parallel over (b, h): each pair owns its slice of dqkv (columns h*hs.. within q, k, v).
#pragma omp parallel
  {
    std::vector<float> datt(T), dpre(T);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
      for (int h = 0; h < NH; h++)
        for (int t = 0; t < T; t++) {
          const float* a = att + (((size_t)b * NH + h) * T + t) * T;
          const float* d = dout + ((size_t)b * T + t) * C + h * hs;
          const float* q = qkv + ((size_t)b * T + t) * C3 + h * hs;
          float* dq = dqkv + ((size_t)b * T + t) * C3 + h * hs;
          // out = sum_t2 a[t2] v[t2]
          for (int t2 = 0; t2 <= t; t2++) {
            const float* v = qkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
            float* dv = dqkv + ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
            datt[t2] = dot16(v, d, hs);
            axpy16(dv, a[t2], d, hs);
          }
          // softmax backward: dpre = a * (datt - sum(a * datt))
          float dot = 0;
          for (int t2 = 0; t2 <= t; t2++) dot += a[t2] * datt[t2];
          for (int t2 = 0; t2 <= t; t2++) dpre[t2] = a[t2] * (datt[t2] - dot) * scale;
          for (int t2 = 0; t2 <= t; t2++) {
            const float* k = qkv + ((size_t)b * T + t2) * C3 + C + h * hs;
            float* dk = dqkv + ((size_t)b * T + t2) * C3 + C + h * hs;
            axpy16(dq, dpre[t2], k, hs);
            axpy16(dk, dpre[t2], q, hs);
          }
        }
  }
}

float softmax_crossentropy_forward(float* logits, float* losses, const int* targets, int N, int V,
                                   int* n_counted) {
  double total = 0;
  int count = 0;
#pragma omp parallel for schedule(static) reduction(+ : total, count) if ((long)N * V > kMinParallelWork)
  for (int n = 0; n < N; n++) {
    float* p = logits + (size_t)n * V;
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = p[v] > mx ? p[v] : mx;
    int tgt = targets ? targets[n] : -1;
    float zt = tgt >= 0 ? p[tgt] - mx : 0.0f;
    double sum = exp_shift(p, V, mx);
    float inv = (float)(1.0 / sum);
    for (int v = 0; v < V; v++) p[v] *= inv;
    float loss = 0;
    if (tgt >= 0) {
      loss = (float)std::log(sum) - zt;  // -log p[tgt], exact even when p[tgt] underflows
      total += loss;
      count++;
    }
    if (losses) losses[n] = loss;
  }
  if (n_counted) *n_counted = count;
  return count ? (float)(total / count) : 0.0f;
}

void softmax_crossentropy_backward(float* p, const int* targets, int N, int V, float scale) {
#pragma omp parallel for schedule(static) if ((long)N * V > kMinParallelWork)
  for (int n = 0; n < N; n++) {
    float* row = p + (size_t)n * V;
    int tgt = targets[n];
    if (tgt < 0) {
      std::memset(row, 0, sizeof(float) * V);
      continue;
    }
    for (int v = 0; v < V; v++) row[v] *= scale;
    row[tgt] -= scale;
  }
}

}  // namespace softslm
