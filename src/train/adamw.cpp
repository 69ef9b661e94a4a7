#include "train/adamw.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace softslm {

void adamw_update(float* params, const float* grads, float* m, float* v, size_t n,
                  const AdamWParams& hp, int64_t t, bool decay, float grad_scale) {
  const float b1 = hp.beta1, b2 = hp.beta2;
  const float c1 = 1.0f / (1.0f - (float)std::pow((double)b1, (double)t));
  const float c2 = 1.0f / (1.0f - (float)std::pow((double)b2, (double)t));
  const float wd = decay ? hp.weight_decay : 0.0f, lr = hp.lr, eps = hp.eps;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (size_t i = 0; i < n; i++) {
    float g = grads[i] * grad_scale;
    float mi = b1 * m[i] + (1.0f - b1) * g;
    float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float mh = mi * c1, vh = vi * c2;
    params[i] -= lr * (mh / (std::sqrt(vh) + eps) + wd * params[i]);
  }
}

AdamW adamw_create(size_t num_params) {
  AdamW opt;
  opt.m.assign(num_params, 0.0f);
  opt.v.assign(num_params, 0.0f);
  return opt;
}

bool param_tensor_decays(int i) {
  // ParamTensors order: wte wpe ln1w ln1b qkvw qkvb attprojw attprojb ln2w ln2b fcw fcb
  //                     fcprojw fcprojb lnfw lnfb
  return i == 0 || i == 1 || i == 4 || i == 6 || i == 10 || i == 12;
}

double grad_norm(const float* g, size_t n) {
  constexpr size_t kBlock = 1 << 14;
  size_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> part(nb, 0.0);
#pragma omp parallel for schedule(static) if (nb > 4)
  for (size_t b = 0; b < nb; b++) {
    size_t e = std::min(n, (b + 1) * kBlock);
    double s = 0;
    for (size_t i = b * kBlock; i < e; i++) s += (double)g[i] * g[i];
    part[b] = s;
  }
  double total = 0;
  for (double s : part) total += s;
  return std::sqrt(total);
}

float adamw_step(AdamW& opt, Model& m, const float* grads, const AdamWParams& hp,
                 float grad_clip) {
  check(opt.m.size() == m.num_params && opt.v.size() == m.num_params,
        "optimiser state size differs from the model's parameter count");
  double norm = grad_norm(grads, m.num_params);
  float scale = 1.0f;
  if (grad_clip > 0 && norm > grad_clip) scale = (float)(grad_clip / norm);
  opt.t++;
  auto sizes = param_sizes(m.cfg);
  size_t off = 0;
  for (int i = 0; i < kNumParamTensors; i++) {
    adamw_update(m.memory.get() + off, grads + off, opt.m.data() + off, opt.v.data() + off,
                 sizes[i], hp, opt.t, param_tensor_decays(i), scale);
    off += sizes[i];
  }
  return (float)norm;
}

double lr_at(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr) {
  if (step < warmup) return lr * (double)(step + 1) / (double)warmup;
  int64_t span = total - 1 - warmup;
  if (span <= 0) return lr;
  double ratio = std::min(1.0, (double)(step - warmup) / (double)span);
  return min_lr + 0.5 * (1.0 + std::cos(M_PI * ratio)) * (lr - min_lr);
}

}  // namespace softslm
