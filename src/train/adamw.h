// AdamW (decoupled weight decay, bias correction), gradient-norm clipping and the learning-rate
// schedule (linear warm-up, then cosine decay to min_lr).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace softslm {

struct AdamWParams {
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.0f;
};

// One AdamW update of n parameters at step t (1-based, for bias correction):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  mh = m / (1-b1^t);  vh = v / (1-b2^t)
//   p -= lr * (mh / (sqrt(vh) + eps) + wd * p)          (wd = 0 where decay is false)
// grad_scale multiplies g first (gradient clipping).
void adamw_update(float* params, const float* grads, float* m, float* v, size_t n,
                  const AdamWParams& hp, int64_t t, bool decay, float grad_scale = 1.0f);

// Whole-model optimiser state: first and second moments for every parameter.
struct AdamW {
  std::vector<float> m, v;
  int64_t t = 0;  // updates done
};

AdamW adamw_create(size_t num_params);
// Which of the 16 parameter tensors get weight decay: the >= 2-D weight matrices and embeddings
// (wte, wpe, qkvw, attprojw, fcw, fcprojw); not biases or LayerNorm gains/biases.
bool param_tensor_decays(int tensor_index);
// Applies one update to the whole model; returns the (pre-clipping) global gradient L2 norm.
// grad_clip > 0 rescales gradients whose global norm exceeds it.
float adamw_step(AdamW& opt, Model& m, const float* grads, const AdamWParams& hp, float grad_clip);

// Global L2 norm of n values, summed in fixed blocks (the same bits for any thread count).
double grad_norm(const float* g, size_t n);

// Learning rate for update `step` (0-based) of `total`: linear warm-up lr * (step+1)/warmup for
// step < warmup, then cosine from lr (at step == warmup) to min_lr (at step == total - 1).
double lr_at(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr);

}  // namespace softslm
