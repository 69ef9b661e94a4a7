#include "ops/ops.h"

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

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > kMinParallelWork)
  for (int n = 0; n < N; n++) {
    const float* x = inp + (size_t)n * C;
    float m = 0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    float v = 0;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    float s = 1.0f / std::sqrt(v + eps);
    float* o = out + (size_t)n * C;
    for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = s;
  }
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

void gelu_forward(float* out, const float* inp, int n) {
#pragma omp parallel for schedule(static) if ((long)n * 8 > kMinParallelWork)
  for (int i = 0; i < n; i++) {
    float x = inp[i];
    float u = kGeluScale * (x + 0.044715f * x * x * x);
    out[i] = 0.5f * x * (1.0f + std::tanh(u));
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int n) {
#pragma omp parallel for schedule(static) if ((long)n * 8 > kMinParallelWork)
  for (int i = 0; i < n; i++) {
    float x = inp[i];
    float u = kGeluScale * (x + 0.044715f * x * x * x);
    float th = std::tanh(u);
    float sech2 = 1.0f - th * th;
    float g = 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += g * dout[i];
  }
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
  float mx = -INFINITY;
  for (int t = 0; t < n; t++) {
    const float* k = K + (size_t)t * stride;
    float s = 0;
    for (int i = 0; i < hs; i++) s += q[i] * k[i];
    s *= scale;
    att[t] = s;
    if (s > mx) mx = s;
  }
  float sum = 0;
  for (int t = 0; t < n; t++) {
    att[t] = std::exp(att[t] - mx);
    sum += att[t];
  }
  float inv = 1.0f / sum;
  for (int i = 0; i < hs; i++) out[i] = 0.0f;
  for (int t = 0; t < n; t++) {
    att[t] *= inv;
    const float* v = V + (size_t)t * stride;
    for (int i = 0; i < hs; i++) out[i] += att[t] * v[i];
  }
}

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH) {
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

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int B,
                        int T, int C, int NH) {
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
            float s = 0;
            for (int i = 0; i < hs; i++) {
              s += v[i] * d[i];
              dv[i] += a[t2] * d[i];
            }
            datt[t2] = s;
          }
          // softmax backward: dpre = a * (datt - sum(a * datt))
          float dot = 0;
          for (int t2 = 0; t2 <= t; t2++) dot += a[t2] * datt[t2];
          for (int t2 = 0; t2 <= t; t2++) dpre[t2] = a[t2] * (datt[t2] - dot) * scale;
          for (int t2 = 0; t2 <= t; t2++) {
            const float* k = qkv + ((size_t)b * T + t2) * C3 + C + h * hs;
            float* dk = dqkv + ((size_t)b * T + t2) * C3 + C + h * hs;
            for (int i = 0; i < hs; i++) {
              dq[i] += dpre[t2] * k[i];
              dk[i] += dpre[t2] * q[i];
            }
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
    double sum = 0;
    for (int v = 0; v < V; v++) {
      p[v] = std::exp(p[v] - mx);
      sum += p[v];
    }
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
