// The server's decode loop: one thread owns a Decoder (generate/generate.h) and serves every
// live sequence in one batched step per token. Jobs (an HTTP request's n sequences) wait in a
// bounded queue; a job's prefill joins between steps when it has slots for all of its
// sequences, and a finished sequence leaves at once. Each sequence keeps its own state
// machine and RNG (its own seed), so its output does not depend on what else is running.
// Handlers read a job's progress (snapshots of its SeqResults) under the job's mutex.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "generate/generate.h"

namespace softslm {

struct SeqProgress {
  SeqResult res;                       // tokens so far; complete when done
  std::vector<TokenLogprob> logprobs;  // [res.tokens] when the request asked for them
  std::vector<TokenLogprob> prompt_logprobs;
  std::vector<StepRecord> trace;       // every step, when the job asked for a trace
  bool done = false;
  bool stop_requested = false;  // set by the handler (a stop string matched): cancel it
};

struct Job {
  std::vector<DecodeRequest> seqs;  // the hook of each is set by the engine (trace)
  bool trace = false;
  bool watch = false;  // the handler reads progress every step (streaming, stop strings);
                       // otherwise it learns only of finished sequences
  // progress, guarded by mu; cv is notified after every step that changed it
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SeqProgress> out;  // [seqs]
  int n_done = 0;
  uint64_t version = 0;    // bumped with every change of out (wait for it to move)
  bool cancelled = false;  // the client went away: free the slots
  std::string error;       // set when the engine refused the job (e.g. shutting down)
  double t_submit = 0, t_first_token = 0;  // seconds (steady clock)
};

struct EngineStats {  // read by /metrics
  std::atomic<uint64_t> steps{0}, generated_tokens{0}, prompt_tokens{0}, sequences{0};
  std::atomic<int> queue_length{0}, batch_size{0}, live_jobs{0};
};

struct Engine {
  std::shared_ptr<const InferenceWeights> w;
  int max_seqs = 0, max_queue = 0;
  Decoder dec;
  std::mutex mu;  // guards queue, stopping, slot_job
  std::condition_variable cv;
  std::deque<std::shared_ptr<Job>> queue;
  std::vector<std::pair<std::shared_ptr<Job>, int>> slot_job;  // [max_seqs] job, sequence index
  bool stopping = false;
  std::thread thread;
  EngineStats stats;
  int test_step_sleep_ms = 0;  // tests only (SOFTSLM_TEST_STEP_SLEEP_MS): a pause per step, so
                               // a test can act while a request is still decoding
};

double engine_now();  // seconds on the steady clock

// Starts the decode thread (max_seqs KV-cache slots; at most max_queue jobs waiting).
void engine_start(Engine& e, std::shared_ptr<const InferenceWeights> w, int max_seqs,
                  int max_queue);
// Queues a job. Its requests must already be valid for the model (decoder_add's checks:
// the server validates before submitting). Returns false when the queue is full or the engine
// is stopping (the caller answers 429 / 503).
bool engine_submit(Engine& e, const std::shared_ptr<Job>& job);
// Marks a job cancelled (its client disconnected); the decode thread frees its slots.
void engine_cancel(Engine& e, const std::shared_ptr<Job>& job);
// Finishes the jobs in flight and in the queue, then joins the thread.
void engine_stop(Engine& e);

}  // namespace softslm
