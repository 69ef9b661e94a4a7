// Inference: a KV-cached forward over rows that may belong to different sequences at
// different positions. Prefill (many rows of one sequence) and batched decode (one row per
// sequence) are the same call.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/embeddings.h"
#include "model/model.h"

namespace softslm {

// Per (layer, sequence) a block of n_pad x C floats for keys and one for values, n_pad =
// n_ctx rounded up to 16; inside a block, head h's part starts at h * hs * n_pad:
//   keys   [n_pad / 16, hs, 16]: 16 positions of a channel side by side, 16-position blocks
//          one after another, so a head's scores read one contiguous stream, 16 per vector;
//   values [n_pad, hs]: a head's values contiguous, position after position.
struct KVCache {
  int n_seq = 0, n_ctx = 0, n_pad = 0, n_layer = 0, n_embd = 0;
  Buffer<float> k;  // [L, S, NH, n_pad / 16, hs, 16]
  Buffer<float> v;  // [L, S, NH, n_pad, hs]
};

KVCache kv_cache_create(const ModelConfig& cfg, int n_seq);

// Scratch activations, grown on demand (plain buffers, no allocation in steady state).
struct InferState {
  int cap_rows = 0;
  std::vector<float> x, qkv, atty, h, h2;  // [R, C], [R, 3C], [R, C], [R, 4C], [R, 4C]
  std::vector<float> emb;                     // [R, C] token embeddings (forward_tokens)
  std::vector<float> hidden;  // [n_out, C] after a forward: the output rows' final hidden
                              // states (after the last LayerNorm), the latent steps' source
  std::vector<float> xn_team, att_team;       // per thread: [R, C] LayerNorm out, [n_ctx] scores
};

// Weights of the matrix products at inference: float32 (the model's own), or bfloat16 copies
// (round to nearest even) multiplied in float32 (a bf16 weight widened to float is exact).
// bf16 halves the bytes a decode step streams; logits move by ~1e-3 relative.
enum class Dtype { kF32, kBF16 };
Dtype dtype_parse(const std::string& name);  // "f32" | "bf16"; throws Error naming --dtype

// The matrices of the forward packed in column panels (ops/matmul.h: one contiguous stream
// per panel): float32 or bfloat16. The four Linear weights of every layer ([L] x [in, out],
// each layer packed on its own) and the tied LM head's operand wte^T [C, V]. The pointers
// point into `storage`, or, for float32 panels made in place, into the model's own memory.
template <typename T>
struct PanelWeights {
  const T *qkvw = nullptr, *attprojw = nullptr, *fcw = nullptr, *fcprojw = nullptr,
          *wteT = nullptr;
  Buffer<T> storage;
  size_t n_storage = 0;  // elements in storage
};

// Everything a Transformer reads of a model: the model (embeddings, positions, biases,
// LayerNorms) and its matrices packed for the dtype. Packing costs ~10-20 ms for the
// reference model: create it once and share it (generate, eval, score and bench do).
struct InferenceWeights {
  const Model* model = nullptr;  // borrowed, or &owned
  Model owned;                   // the model when it was handed over
  Dtype dtype = Dtype::kF32;
  PanelWeights<float> w32;     // f32 only
  PanelWeights<uint16_t> w16;  // bf16 only
};
// Borrows the model, whose weights must not change while the result lives (repack after
// training), and packs copies of its matrices (float32: a second copy of the weights).
std::shared_ptr<const InferenceWeights> inference_weights_create(const Model& m, Dtype dtype);
// Takes the model over. float32 panels are made in its own memory (a permutation of each
// matrix, so no second copy: what the CLI does; the owned model's Linear matrices then hold
// panels, not [in, out] rows); bf16 panels are copies beside it.
std::shared_ptr<const InferenceWeights> inference_weights_create(Model&& m, Dtype dtype);

struct Transformer {
  std::shared_ptr<const InferenceWeights> w;
  KVCache cache;
  InferState st;
};

// A Transformer with a KV cache of n_seq sequences, on shared packed weights or (the second
// form) on weights packed for it alone.
Transformer transformer_create(std::shared_ptr<const InferenceWeights> w, int n_seq);
Transformer transformer_create(const Model& m, int n_seq, Dtype dtype = Dtype::kF32);

// One forward over R rows. Row r is sequence seq[r] at position pos[r] with input vector
// x_in[r] ([R, C]: the token or concept embedding, position NOT yet added; the positional
// embedding wpe[pos[r]] is added here). Rows of one sequence must come in increasing,
// consecutive positions; row r attends to positions [0, pos[r]] of its sequence, earlier
// ones read from the cache. Logits [n_out, V] are written for the rows listed in out_rows
// (n_out of them), or for every row when out_rows is null (n_out = R).
void transformer_forward(Transformer& tr, int R, const int* seq, const int* pos,
                         const float* x_in, int n_out, const int* out_rows, float* logits);

// The decode step: per sequence a token, a concept token or a raw vector (mixed freely in one
// batch), each embedded by TokenEmbedding and then run through transformer_forward.
// Row r is sequence seq[r] at position pos[r]; logits [R, V]. x_out [R, C], if not null,
// receives the input vectors fed (before the positional embedding), e.g. for hooks.
void transformer_step(Transformer& tr, int R, const int* seq, const int* pos,
                      const StepInput* inputs, float* logits, float* x_out = nullptr);

// Convenience: token ids through TokenEmbedding::forward, then transformer_forward.
void transformer_forward_tokens(Transformer& tr, int R, const int* seq, const int* pos,
                                const int* tokens, int n_out, const int* out_rows, float* logits);

}  // namespace softslm
