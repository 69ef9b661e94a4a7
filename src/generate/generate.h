// The generation loop: prefill every prompt, then decode all live sequences in one batched
// step per token. Each sequence has its own state machine (plain / soft thinking phases) and
// its own RNG, so results do not depend on which other sequences share the batch.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "sampling/soft_sampler.h"

namespace softslm {

enum class ThinkMode {
  kOff,          // plain decoding with `sampler` (a chain of thought, if any, is ordinary text)
  kThinkTags,    // the paper: soft while inside <think> ... </think>
  kEntropyGate,  // the seed plan: soft from the first token until entropy stays low
  kLatent,       // a latent-trained model (soft_training.recipe latent): after <think>, exactly
                 // latent_steps latent inputs (the previous position's final hidden state, or
                 // its concept token), then </think> and a discrete answer
};

struct SoftThinkingParams {
  ThinkMode mode = ThinkMode::kOff;
  SoftSamplerParams sampler;  // per-phase filters, max_topk, noise, mixing
  // think-tags mode
  bool insert_think = true;       // append <think> to the prompt unless it already ends with it
  float cold_stop_tau = 0.01f;    // Cold Stop entropy threshold, nats; 0 = off
  int cold_stop_steps = 256;      // L: consecutive soft steps with H < tau that end thinking
  int max_thinking_tokens = 0;    // budget: at most this many soft steps, then </think>; 0 = none
  bool after_cold_stop = false;   // end the answer after L_after steps with H < tau_after
  float after_cold_stop_tau = 0.01f;
  int after_cold_stop_steps = 256;
  // entropy-gate mode
  float gate_threshold = 2.0f;    // nats
  int gate_steps = 1;             // consecutive steps below the threshold that end soft mode
  int max_thinking_steps = 64;    // soft steps at most
  // latent mode (insert_think applies as in think-tags mode)
  int latent_steps = 1;           // >= 1 latent inputs, then </think>
  LatentKind latent_input = LatentKind::kHidden;
  // false: </think> right after the latent steps; true: thinking goes on in tokens (the
  // after-thinking filters) until the model writes </think> - a curriculum stage that replaced
  // only the first steps of longer chains trained the rest as text
  bool latent_continue = false;
};

struct GenerateParams {
  SamplerParams sampler;      // plain mode's filters (soft modes use soft.sampler's phases)
  SoftThinkingParams soft;
  int max_new_tokens = 128;   // generated tokens in all, thinking included
  Dtype dtype = Dtype::kF32;  // weights of the matrix products (bf16: copies, float math)
  uint64_t seed = 0;          // sequence i of a batch draws from rng_init(seed + i)
  int eos_id = -1;            // stop when this token is emitted (-1: never)
  int think_open_id = -1;     // <think> / </think> ids; think-tags mode requires both
  int think_close_id = -1;
  int vocab_limit = 0;        // only ids < vocab_limit are ever sampled or mixed into a concept
                              // (the tokenizer's ids: rows no token owns are masked); 0 = all
};

// Positions a prompt takes: its tokens, plus the <think> generate appends in think-tags mode
// (insert_think) when the prompt does not already end with it. Must be < n_ctx.
int generate_prompt_positions(const GenerateParams& p, const std::vector<int>& prompt);

// Throws Error naming the bad field (sampler ranges, max_topk vs vocab_size, tau < 0, L < 1, ...).
void generate_params_validate(const GenerateParams& p, int vocab_size);

// One generated step of one sequence: what the trace records.
struct StepRecord {
  int seq = 0;
  int step = 0;            // 0-based index among this sequence's generated tokens
  bool thinking = false;   // sampled in the thinking phase (with the thinking filters)
  bool soft = false;       // the next input is a concept token (else the emitted token)
  int token = -1;          // the emitted token
  float entropy = 0;       // nats
  std::vector<float> w;    // [k] concept (one-hot for discrete steps)
  std::vector<int> ids;    // [k]
  const char* switch_reason = nullptr;  // "end_tag" | "cold_stop" | "budget" | "entropy_gate" |
                                        // "after_cold_stop" | "latent_steps"; null when the
                                        // phase did not change
};

struct SeqResult {
  std::vector<int> tokens;      // emitted ids (eos included when produced)
  std::vector<float> entropy;   // [tokens] nats
  std::vector<uint8_t> thinking;  // [tokens] 1 = sampled in the thinking phase
  int prompt_tokens = 0;        // after an inserted <think>
  int thinking_steps = 0;       // soft steps (concept tokens fed)
  std::string think_end;        // how thinking ended: end_tag | cold_stop | budget |
                                // entropy_gate | latent_steps | "" (never started or ended)
  std::string stop_reason;      // eos | max_new_tokens | context | after_cold_stop |
                                // non_finite (then `error` says where)
  std::string error;            // why the sequence was stopped early; "" when it was not
};

// Called after every generated step, before the model is fed; `input` [C] is the vector the
// model is fed next for this sequence (token or concept embedding, or a latent hidden state,
// before the position), null when it stops. The hook may change it: the model is fed what
// `input` holds when the hook returns (intervention experiments, e.g. a concept token
// replaced by its top-1). A latent step's record holds the argmax token (emitted, so that the
// output has one token per position) and, for concept latents, the concept fed.
using StepHook = std::function<void(const StepRecord& rec, float* input)>;

// Throws Error on an empty prompt, a prompt that leaves no room in the context, bad params,
// or think-tags mode with a vocabulary that lacks <think> / </think>.
// Built on the Decoder below: every prompt added, then steps until all are done.
std::vector<SeqResult> generate(const Model& m, const std::vector<std::vector<int>>& prompts,
                                const GenerateParams& params, const StepHook& hook = nullptr);
// The same on weights packed once (inference_weights_create(m, params.dtype)) and shared by
// many calls: what eval and bench do, so packing is not paid per batch.
std::vector<SeqResult> generate(std::shared_ptr<const InferenceWeights> w,
                                const std::vector<std::vector<int>>& prompts,
                                const GenerateParams& params, const StepHook& hook = nullptr);

// ---------------------------------------------------------------------------------------
// Continuous batching: sequences join and leave the batch between steps (the server's
// decode loop; generate() above is the special case of one batch added at once). Each
// sequence has its own GenerateParams (its own sampler, soft-thinking mode, budget), state
// machine, RNG and hook, and a KV-cache slot of its own; a sequence's output is the same
// whatever else is in the batch (every row of a forward is computed on its own, and the
// attention of a row reads only its own sequence's cache).

// Log-probabilities of one position under the model (log-softmax of the raw logits over the
// tokenizer's ids): the chosen token's and the `top` most probable ones.
struct TokenLogprob {
  int token = -1;
  float logprob = 0;
  std::vector<int> top_ids;       // [top], most probable first
  std::vector<float> top_logprobs;
};

struct DecodeRequest {
  std::vector<int> prompt;
  GenerateParams params;  // params.seed is this sequence's own RNG seed (rng_init(seed))
  StepHook hook;          // optional: called for every step of this sequence
  int logprobs = -1;      // >= 0: record each generated token's log-probability and the top
                          // `logprobs` alternatives (SeqState's logprobs); -1: none
  bool prompt_logprobs = false;  // also for every prompt token after the first (echo)
};

struct DecodeSlot {
  bool used = false;
  bool prefilled = false;
  bool done = false;
  DecodeRequest req;
  SeqResult res;
  std::vector<TokenLogprob> logprobs;         // [generated tokens] when req.logprobs >= 0
  std::vector<TokenLogprob> prompt_logprobs;  // [prompt tokens - 1] when req.prompt_logprobs
  // the decoding state machine (generate.cpp)
  int pos = 0;
  bool thinking = false;
  int low_count = 0, after_low = 0;
  Rng rng;
  StepRecord rec;
};

struct Decoder {
  std::shared_ptr<const InferenceWeights> w;
  Transformer tr;
  std::vector<DecodeSlot> slots;  // [max_seqs]; the slot index is the KV-cache sequence
  std::vector<float> logits;      // [max_seqs, V] each slot's next-token logits
  std::vector<float> hidden;      // [max_seqs, C] the final hidden state that gave them
  // scratch
  std::vector<int> seq, pos, out_rows;
  std::vector<StepInput> in;
  std::vector<float> x, step_logits, probs;
  SoftSample smp;
};

Decoder decoder_create(std::shared_ptr<const InferenceWeights> w, int max_seqs);
// A free slot for the request (validated as generate validates it; throws Error naming the
// problem), or -1 when every slot is taken. It is prefilled at the next decoder_step.
int decoder_add(Decoder& d, DecodeRequest req);
// One step: one generated token for every live sequence, and the prefill of every sequence
// added since the last step, in one batched forward (a prefill's first token comes at the
// next step). Returns the slots that finished in this step (their results are complete;
// decoder_release frees them).
std::vector<int> decoder_step(Decoder& d);
// Stops a sequence now (stop_reason "cancelled"); its slot stays until decoder_release.
void decoder_cancel(Decoder& d, int slot);
void decoder_release(Decoder& d, int slot);
int decoder_live(const Decoder& d);  // slots used and not done
int decoder_free(const Decoder& d);  // slots not used

}  // namespace softslm
