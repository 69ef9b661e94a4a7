#include "model/gpt2_train.h"

#include <cstring>
#include <vector>

#include "base/error.h"
#include "ops/matmul.h"
#include "ops/ops.h"

namespace softslm {

namespace {

constexpr int kNumActTensors = 21;

// Sizes in ActTensors order (N: size_t, or double for estimates that must not overflow). For
// the gradient set, att/logits/losses get size 0.
template <typename N>
void act_sizes(const ModelConfig& c, int B, int T, N s[kNumActTensors], bool grads) {
  N L = c.n_layer, C = c.n_embd, NH = c.n_head, V = c.vocab_size, BT = (N)B * T;
  N v[kNumActTensors] = {BT * C,     L * BT * C,     L * BT,     L * BT,         L * BT * 3 * C,
                              L * BT * C, L * B * NH * T * (N)T, L * BT * C, L * BT * C, L * BT * C,
                              L * BT,     L * BT,         L * BT * 4 * C, L * BT * 4 * C, L * BT * C,
                              L * BT * C, BT * C,         BT,         BT,             BT * V,
                              BT};
  for (int i = 0; i < kNumActTensors; i++) s[i] = v[i];
  if (grads) s[6] = s[19] = s[20] = 0;
}

// Points a's tensors into mem, laid out for [B, T] one after another (a shorter T takes a prefix
// of the memory made for a longer one).
void act_carve(ActTensors& a, float* mem, const ModelConfig& c, int B, int T, bool grads) {
  size_t s[kNumActTensors];
  act_sizes(c, B, T, s, grads);
  float** ptrs[kNumActTensors] = {&a.encoded, &a.ln1,      &a.ln1_mean, &a.ln1_rstd, &a.qkv,
                                  &a.atty,    &a.att,      &a.attproj,  &a.residual2, &a.ln2,
                                  &a.ln2_mean, &a.ln2_rstd, &a.fch,     &a.fch_gelu, &a.fcproj,
                                  &a.residual3, &a.lnf,    &a.lnf_mean, &a.lnf_rstd, &a.logits,
                                  &a.losses};
  float* p = mem;
  for (int i = 0; i < kNumActTensors; i++) {
    *ptrs[i] = s[i] ? p : nullptr;
    p += s[i];
  }
}

Buffer<float> act_alloc(ActTensors& a, const ModelConfig& c, int B, int T, bool grads) {
  size_t s[kNumActTensors], total = 0;
  act_sizes(c, B, T, s, grads);
  for (size_t x : s) total += x;
  Buffer<float> mem = buffer_zeroed<float>(total);
  act_carve(a, mem.get(), c, B, T, grads);
  return mem;
}

}  // namespace

double train_graph_bytes(const ModelConfig& c, int B, int T) {
  double fwd[kNumActTensors], bwd[kNumActTensors], n = 0;
  act_sizes(c, B, T, fwd, false);
  act_sizes(c, B, T, bwd, true);
  for (int i = 0; i < kNumActTensors; i++) n += fwd[i] + bwd[i];
  n += param_count(c) + 2.0 * c.vocab_size * c.n_embd;  // gradients, wteT and dwteT
  return n * sizeof(float) + 2.0 * B * T * sizeof(int);
}

TrainGraph train_graph_create(const Model& m, int B, int T) {
  check(B > 0 && T > 0, "training batch must be positive (B=", B, ", T=", T, ")");
  check(T <= m.cfg.n_ctx, "sequence length ", T, " exceeds the model context ", m.cfg.n_ctx);
  buffer_check_fits(train_graph_bytes(m.cfg, B, T), "a training batch of " + std::to_string(B) +
                                                        " x " + std::to_string(T) + " tokens");
  TrainGraph g;
  g.B = B;
  g.T = g.T_cap = T;
  g.act_memory = act_alloc(g.a, m.cfg, B, T, false);
  g.dact_memory = act_alloc(g.da, m.cfg, B, T, true);
  g.grad_memory = buffer_zeroed<float>(m.num_params);
  g.g = param_carve(g.grad_memory.get(), m.cfg);
  size_t VC = (size_t)m.cfg.vocab_size * m.cfg.n_embd;
  g.wteT = buffer_zeroed<float>(VC);
  g.dwteT = buffer_zeroed<float>(VC);
  g.inputs.reset(new int[(size_t)B * T]);
  g.targets.reset(new int[(size_t)B * T]);
  return g;
}

void train_graph_set_length(const Model& m, TrainGraph& g, int T) {
  check(T >= 1 && T <= g.T_cap, "batch length ", T, " outside the graph's [1, ", g.T_cap, "]");
  if (T == g.T) return;
  g.T = T;
  act_carve(g.a, g.act_memory.get(), m.cfg, g.B, T, false);
  act_carve(g.da, g.dact_memory.get(), m.cfg, g.B, T, true);
}

namespace {

void copy_targets(TrainGraph& g, const int* targets, int BT, int V) {
  for (int i = 0; i < BT; i++) {
    if (targets) check(targets[i] < V, "target id ", targets[i], " outside the vocabulary");
    g.targets[i] = targets ? targets[i] : -1;
  }
}

// Everything after the input embedding (a.encoded filled): blocks, final norm, LM head, loss.
float forward_from_encoded(const Model& m, TrainGraph& g);

}  // namespace

float gpt2_forward(const Model& m, TrainGraph& g, const int* inputs, const int* targets, int B,
                   int T) {
  check(B == g.B && T == g.T, "batch shape [", B, ", ", T, "] differs from the graph's [", g.B,
        ", ", g.T, "]");
  const ModelConfig& c = m.cfg;
  const int C = c.n_embd, V = c.vocab_size, BT = B * T;
  for (int i = 0; i < BT; i++) {
    check(inputs[i] >= 0 && inputs[i] < V, "token id ", inputs[i], " outside the vocabulary [0, ",
          V, ")");
    g.inputs[i] = inputs[i];
  }
  copy_targets(g, targets, BT, V);
  g.soft.clear();
  encoder_forward(g.a.encoded, inputs, m.p.wte, m.p.wpe, B, T, C);
  return forward_from_encoded(m, g);
}

float gpt2_forward_inputs(const Model& m, TrainGraph& g, const StepInput* inputs,
                          const int* targets, int B, int T) {
  check(B == g.B && T == g.T, "batch shape [", B, ", ", T, "] differs from the graph's [", g.B,
        ", ", g.T, "]");
  const ModelConfig& c = m.cfg;
  const int C = c.n_embd, V = c.vocab_size, BT = B * T;
  copy_targets(g, targets, BT, V);
  g.soft.assign(inputs, inputs + BT);
  const TokenEmbedding emb = TokenEmbedding::of(m);
  for (int bt = 0; bt < BT; bt++) {  // the inference seam (same bits), then the position
    float* o = g.a.encoded + (size_t)bt * C;
    step_input_embed(emb, inputs[bt], o);  // validates ids, weights and vectors
    g.inputs[bt] = inputs[bt].kind == StepInput::Kind::kToken ? inputs[bt].token : -1;
    const float* pe = m.p.wpe + (size_t)(bt % T) * C;
    for (int i = 0; i < C; i++) o[i] = o[i] + pe[i];
  }
  return forward_from_encoded(m, g);
}

namespace {

float forward_from_encoded(const Model& m, TrainGraph& g) {
  const ModelConfig& c = m.cfg;
  const int B = g.B, T = g.T;
  const int C = c.n_embd, L = c.n_layer, NH = c.n_head, V = c.vocab_size, BT = B * T;
  const ParamTensors& p = m.p;
  ActTensors& a = g.a;
  const float* residual = a.encoded;
  for (int l = 0; l < L; l++) {
    size_t o = (size_t)l * BT;
    float* ln1 = a.ln1 + o * C;
    float* qkv = a.qkv + o * 3 * C;
    float* atty = a.atty + o * C;
    float* att = a.att + (size_t)l * B * NH * T * T;
    float* attproj = a.attproj + o * C;
    float* res2 = a.residual2 + o * C;
    float* ln2 = a.ln2 + o * C;
    float* fch = a.fch + o * 4 * C;
    float* fchg = a.fch_gelu + o * 4 * C;
    float* fcproj = a.fcproj + o * C;
    float* res3 = a.residual3 + o * C;
    layernorm_forward(ln1, a.ln1_mean + o, a.ln1_rstd + o, residual, p.ln1w + l * C,
                      p.ln1b + l * C, BT, C, c.layer_norm_epsilon);
    matmul_forward(qkv, ln1, p.qkvw + (size_t)l * 3 * C * C, p.qkvb + l * 3 * C, BT, C, 3 * C);
    attention_forward(atty, att, qkv, B, T, C, NH);
    matmul_forward(attproj, atty, p.attprojw + (size_t)l * C * C, p.attprojb + l * C, BT, C, C);
    residual_forward(res2, residual, attproj, BT * C);
    layernorm_forward(ln2, a.ln2_mean + o, a.ln2_rstd + o, res2, p.ln2w + l * C, p.ln2b + l * C,
                      BT, C, c.layer_norm_epsilon);
    matmul_forward(fch, ln2, p.fcw + (size_t)l * 4 * C * C, p.fcb + l * 4 * C, BT, C, 4 * C);
    gelu_forward(fchg, fch, BT * 4 * C);
    matmul_forward(fcproj, fchg, p.fcprojw + (size_t)l * 4 * C * C, p.fcprojb + l * C, BT, 4 * C,
                   C);
    residual_forward(res3, res2, fcproj, BT * C);
    residual = res3;
  }
  layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, residual, p.lnfw, p.lnfb, BT, C,
                    c.layer_norm_epsilon);
  transpose(g.wteT.get(), p.wte, V, C);  // tied LM head: logits = lnf . wte^T
  if (g.head_rows_only) {
    // gather the rows with a target: head_in [R, C] -> logits [R, V]
    g.head_rows.clear();
    g.head_targets.clear();
    for (int i = 0; i < BT; i++)
      if (g.targets[i] >= 0) g.head_rows.push_back(i), g.head_targets.push_back(g.targets[i]);
    const int R = (int)g.head_rows.size();
    g.head_in.resize((size_t)R * C);
    for (int r = 0; r < R; r++)
      std::memcpy(&g.head_in[(size_t)r * C], a.lnf + (size_t)g.head_rows[r] * C,
                  sizeof(float) * C);
    g.head_losses.resize(R);
    if (R) matmul_forward(a.logits, g.head_in.data(), g.wteT.get(), nullptr, R, C, V);
    g.mean_loss = softmax_crossentropy_forward(a.logits, g.head_losses.data(),
                                               g.head_targets.data(), R, V, &g.n_counted);
    std::memset(a.losses, 0, sizeof(float) * BT);
    for (int r = 0; r < R; r++) a.losses[g.head_rows[r]] = g.head_losses[r];
  } else {
    matmul_forward(a.logits, a.lnf, g.wteT.get(), nullptr, BT, C, V);
    g.mean_loss = softmax_crossentropy_forward(a.logits, a.losses, g.targets.get(), BT, V,
                                               &g.n_counted);
  }
  g.loss_count = 0;
  return g.mean_loss;
}

// The input embedding's backward for soft inputs: per position, in order (several positions
// may hit the same row). A token row as encoder_backward; a concept row adds a_j * d to row
// id_j (a_j as weighted_row computes it) and yields d(loss)/d(w_j) through the
// renormalisation a_j = w_j / S: (d a_j - sum_k a_k d a_k) / S; a vector row yields d itself.
void soft_encoder_backward(const Model& m, TrainGraph& g, const float* dencoded) {
  const int C = m.cfg.n_embd, BT = g.B * g.T;
  float* dwte = g.g.wte;
  float* dwpe = g.g.wpe;
  g.dweights.assign(BT, {});
  g.dvectors.assign((size_t)BT * C, 0.0f);
  for (int bt = 0; bt < BT; bt++) {
    const StepInput& in = g.soft[bt];
    const float* d = dencoded + (size_t)bt * C;
    float* dp = dwpe + (size_t)(bt % g.T) * C;
    if (in.kind == StepInput::Kind::kToken) {
      float* de = dwte + (size_t)in.token * C;
      for (int i = 0; i < C; i++) {
        de[i] += d[i];
        dp[i] += d[i];
      }
      continue;
    }
    for (int i = 0; i < C; i++) dp[i] += d[i];
    if (in.kind == StepInput::Kind::kVector) {
      std::memcpy(g.dvectors.data() + (size_t)bt * C, d, sizeof(float) * C);
      continue;
    }
    const int K = (int)in.ids.size();
    double sum = 0;
    for (int j = 0; j < K; j++) sum += in.weights[j];
    std::vector<double> da(K);
    double mix = 0;  // sum_k a_k d a_k
    for (int j = 0; j < K; j++) {
      const float a = (float)(in.weights[j] / sum);
      const float* e = m.p.wte + (size_t)in.ids[j] * C;
      double dot = 0;
      for (int i = 0; i < C; i++) dot += (double)d[i] * e[i];
      da[j] = dot;
      mix += a * dot;
      if (a == 0.0f) continue;  // as in the forward: the entry contributes nothing
      float* de = dwte + (size_t)in.ids[j] * C;
      for (int i = 0; i < C; i++) de[i] += a * d[i];
    }
    std::vector<float>& dw = g.dweights[bt];
    dw.resize(K);
    for (int j = 0; j < K; j++) dw[j] = (float)((da[j] - mix) / sum);
  }
}

}  // namespace

void gpt2_backward(const Model& m, TrainGraph& g, const float* dlogits_extra,
                   const float* dhidden_extra) {
  const ModelConfig& c = m.cfg;
  const int B = g.B, T = g.T, C = c.n_embd, L = c.n_layer, NH = c.n_head, V = c.vocab_size;
  const int BT = B * T;
  std::memset(g.grad_memory.get(), 0, m.num_params * sizeof(float));
  size_t s[kNumActTensors], total = 0;
  act_sizes(c, B, T, s, true);
  for (size_t x : s) total += x;
  std::memset(g.dact_memory.get(), 0, total * sizeof(float));
  const ParamTensors& p = m.p;
  ParamTensors& gp = g.g;
  ActTensors& a = g.a;
  ActTensors& da = g.da;

  const int n_loss = g.loss_count > 0 ? g.loss_count : g.n_counted;
  float scale = n_loss ? 1.0f / n_loss : 0.0f;
  std::memset(g.dwteT.get(), 0, sizeof(float) * V * C);
  if (g.head_rows_only) {
    check(!dlogits_extra, "internal: logit gradients passed to a graph without every row's logits");
    const int R = (int)g.head_rows.size();
    softmax_crossentropy_backward(a.logits, g.head_targets.data(), R, V, scale);  // dlogits
    g.head_d.assign((size_t)R * C, 0.0f);
    if (R) {
      matmul_nn(g.head_d.data(), a.logits, p.wte, R, V, C, false);  // the rows' dlnf
      matmul_backward(nullptr, g.dwteT.get(), nullptr, a.logits, g.head_in.data(), nullptr, R, C,
                      V);
    }
    for (int r = 0; r < R; r++)  // da.lnf was zeroed: the other rows get no gradient from here
      std::memcpy(da.lnf + (size_t)g.head_rows[r] * C, &g.head_d[(size_t)r * C],
                  sizeof(float) * C);
  } else {
    softmax_crossentropy_backward(a.logits, g.targets.get(), BT, V, scale);  // now dlogits
    if (dlogits_extra)
      for (size_t i = 0; i < (size_t)BT * V; i++) a.logits[i] += dlogits_extra[i];
    // LM head: dlnf += dlogits . wte; dwte += (lnf^T . dlogits)^T
    matmul_nn(da.lnf, a.logits, p.wte, BT, V, C, true);
    matmul_backward(nullptr, g.dwteT.get(), nullptr, a.logits, a.lnf, nullptr, BT, C, V);
  }
  if (dhidden_extra)
    for (size_t i = 0; i < (size_t)BT * C; i++) da.lnf[i] += dhidden_extra[i];
  transpose(gp.wte, g.dwteT.get(), C, V);  // gp.wte was zeroed; the encoder adds to it below
  const float* last = a.residual3 + (size_t)(L - 1) * BT * C;
  float* dlast = da.residual3 + (size_t)(L - 1) * BT * C;
  layernorm_backward(dlast, gp.lnfw, gp.lnfb, da.lnf, last, p.lnfw, a.lnf_mean, a.lnf_rstd, BT, C);

  for (int l = L - 1; l >= 0; l--) {
    size_t o = (size_t)l * BT;
    const float* residual = l == 0 ? a.encoded : a.residual3 + (o - BT) * C;
    float* dresidual = l == 0 ? da.encoded : da.residual3 + (o - BT) * C;
    float* dres3 = da.residual3 + o * C;
    float* dres2 = da.residual2 + o * C;
    // residual3 = residual2 + fcproj
    residual_backward(dres2, da.fcproj + o * C, dres3, BT * C);
    matmul_backward(da.fch_gelu + o * 4 * C, gp.fcprojw + (size_t)l * 4 * C * C,
                    gp.fcprojb + l * C, da.fcproj + o * C, a.fch_gelu + o * 4 * C,
                    p.fcprojw + (size_t)l * 4 * C * C, BT, 4 * C, C);
    gelu_backward(da.fch + o * 4 * C, a.fch + o * 4 * C, da.fch_gelu + o * 4 * C, BT * 4 * C);
    matmul_backward(da.ln2 + o * C, gp.fcw + (size_t)l * 4 * C * C, gp.fcb + l * 4 * C,
                    da.fch + o * 4 * C, a.ln2 + o * C, p.fcw + (size_t)l * 4 * C * C, BT, C,
                    4 * C);
    layernorm_backward(dres2, gp.ln2w + l * C, gp.ln2b + l * C, da.ln2 + o * C,
                       a.residual2 + o * C, p.ln2w + l * C, a.ln2_mean + o, a.ln2_rstd + o, BT,
                       C);
    // residual2 = residual + attproj
    residual_backward(dresidual, da.attproj + o * C, dres2, BT * C);
    matmul_backward(da.atty + o * C, gp.attprojw + (size_t)l * C * C, gp.attprojb + l * C,
                    da.attproj + o * C, a.atty + o * C, p.attprojw + (size_t)l * C * C, BT, C, C);
    attention_backward(da.qkv + o * 3 * C, da.atty + o * C, a.qkv + o * 3 * C,
                       a.att + (size_t)l * B * NH * T * T, B, T, C, NH);
    matmul_backward(da.ln1 + o * C, gp.qkvw + (size_t)l * 3 * C * C, gp.qkvb + l * 3 * C,
                    da.qkv + o * 3 * C, a.ln1 + o * C, p.qkvw + (size_t)l * 3 * C * C, BT, C,
                    3 * C);
    layernorm_backward(dresidual, gp.ln1w + l * C, gp.ln1b + l * C, da.ln1 + o * C, residual,
                       p.ln1w + l * C, a.ln1_mean + o, a.ln1_rstd + o, BT, C);
  }
  if (g.soft.empty()) {
    encoder_backward(gp.wte, gp.wpe, da.encoded, g.inputs.get(), B, T, C);
    g.dweights.clear();
    g.dvectors.clear();
  } else {
    soft_encoder_backward(m, g, da.encoded);
  }
}

}  // namespace softslm
