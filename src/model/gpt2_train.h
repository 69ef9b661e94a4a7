// Training forward/backward of the whole GPT-2 over a [B, T] batch (llm.c style).
#pragma once
#include <memory>
#include <vector>

#include "model/embeddings.h"
#include "model/model.h"

namespace softslm {

struct ActTensors {
  float* encoded;    // [B, T, C]
  float* ln1;        // [L, B, T, C]
  float* ln1_mean;   // [L, B, T]
  float* ln1_rstd;   // [L, B, T]
  float* qkv;        // [L, B, T, 3C]
  float* atty;       // [L, B, T, C]
  float* att;        // [L, B, NH, T, T]  softmax weights
  float* attproj;    // [L, B, T, C]
  float* residual2;  // [L, B, T, C]
  float* ln2;        // [L, B, T, C]
  float* ln2_mean;   // [L, B, T]
  float* ln2_rstd;   // [L, B, T]
  float* fch;        // [L, B, T, 4C]
  float* fch_gelu;   // [L, B, T, 4C]
  float* fcproj;     // [L, B, T, C]
  float* residual3;  // [L, B, T, C]
  float* lnf;        // [B, T, C]
  float* lnf_mean;   // [B, T]
  float* lnf_rstd;   // [B, T]
  float* logits;     // [B, T, V]  logits -> probs (forward) -> dlogits (backward); with
                     //            head_rows_only, [R, V] for the R head rows only
  float* losses;     // [B, T]     per-token loss (0 where target < 0)
};

struct TrainGraph {
  int B = 0, T = 0;  // the batch shape the next forward takes
  int T_cap = 0;     // the length the graph was made for (T <= T_cap: train_graph_set_length)
  Buffer<float> act_memory;
  ActTensors a{};
  Buffer<float> dact_memory;  // activation gradients (no att/logits/losses entries)
  ActTensors da{};
  Buffer<float> grad_memory;  // [num_params] parameter gradients
  ParamTensors g{};
  Buffer<float> wteT, dwteT;   // [C, V] LM-head operand and its gradient
  std::unique_ptr<int[]> inputs, targets;  // [B, T] copies of the last batch
  int n_counted = 0;                     // targets >= 0 in the last forward
  // > 0: gpt2_backward scales the loss's gradient by 1 / loss_count instead of 1 / n_counted,
  // so that a caller's own loss terms (passed as dlogits_extra) share one mean. Every forward
  // resets it to 0.
  int loss_count = 0;
  float mean_loss = 0;
  // true: the LM head runs on the positions with a target only (row r of a.logits is position
  // head_rows[r]); the others get no logits. The same loss and gradients (the matmuls' rows do
  // not depend on each other, and a row without a target adds exact zeros), at a fraction of
  // the head's cost when most positions are prompt (path: ~80 %). For callers that read no
  // probabilities of untargeted positions and pass no dlogits_extra (plain training).
  bool head_rows_only = false;
  std::vector<int> head_rows, head_targets;  // [R] positions with a target, and the targets
  std::vector<float> head_in, head_d;        // [R, C] their final hidden states, its gradient
  std::vector<float> head_losses;            // [R]
  // Soft inputs (gpt2_forward_inputs): a copy of the last batch's inputs, and after
  // gpt2_backward the loss's gradients w.r.t. them: dweights[bt] [K] w.r.t. a concept's
  // (unnormalised) weights, dvectors [B*T, C] w.r.t. raw input vectors (zero on other rows).
  std::vector<StepInput> soft;           // [B*T]; empty after a token-id forward
  std::vector<std::vector<float>> dweights;
  std::vector<float> dvectors;
};

TrainGraph train_graph_create(const Model& m, int B, int T);
// Lets the graph take batches of [B, T] positions, T in [1, T_cap], without reallocating: the
// activations (and their gradients) are laid out afresh for [B, T] in the memory made for
// [B, T_cap].
void train_graph_set_length(const Model& m, TrainGraph& g, int T);
// Bytes train_graph_create allocates (activations, their gradients, the parameter gradients
// and the LM-head copies), in floating point: no overflow for absurd sizes.
double train_graph_bytes(const ModelConfig& c, int B, int T);

// inputs [B, T] token ids; targets [B, T] next-token ids, -1 = no loss at that position
// (targets may be null: logits -> probs only). Returns the mean loss over counted targets.
float gpt2_forward(const Model& m, TrainGraph& g, const int* inputs, const int* targets, int B,
                   int T);
// The same forward where each position [B*T] is a token, a concept token (K weights over K
// ids, renormalised as at inference: TokenEmbedding::weighted_row) or a raw input vector [C];
// the position embedding is added to each. Token-only inputs, and one-hot concepts, give the
// bits of gpt2_forward on the same ids (forward and backward).
float gpt2_forward_inputs(const Model& m, TrainGraph& g, const StepInput* inputs,
                          const int* targets, int B, int T);
// Overwrites g.grad_memory with d(mean loss)/d(params) for the last forward. After a
// gpt2_forward_inputs, a concept's gradient reaches the embedding rows of its ids (row id_j
// gets a_j times the position's input gradient, a_j its renormalised weight), and g.dweights /
// g.dvectors receive the gradients w.r.t. the inputs themselves.
// dlogits_extra [B*T, V] and dhidden_extra [B*T, C] (optional) are upstream gradients added
// to the loss's, on the logits and on the final hidden state (the output of the final
// LayerNorm, g.a.lnf): how a latent step's input gradient reaches the pass that produced it.
void gpt2_backward(const Model& m, TrainGraph& g, const float* dlogits_extra = nullptr,
                   const float* dhidden_extra = nullptr);

}  // namespace softslm
