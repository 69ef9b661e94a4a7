#include "server/engine.h"

#include <chrono>

#include "base/error.h"

namespace softslm {

double engine_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// Slot s's sequence is over (finished, cancelled or refused): its job learns the final
// result, and the slot is freed.
void finish_slot(Engine& e, int s) {
  auto [job, i] = e.slot_job[s];
  {
    std::lock_guard<std::mutex> lk(job->mu);
    SeqProgress& p = job->out[i];
    p.res = std::move(e.dec.slots[s].res);
    p.logprobs = std::move(e.dec.slots[s].logprobs);
    p.prompt_logprobs = std::move(e.dec.slots[s].prompt_logprobs);
    p.done = true;
    job->n_done++;
    job->version++;
    if (job->n_done == (int)job->seqs.size()) e.stats.live_jobs--;
  }
  job->cv.notify_all();
  decoder_release(e.dec, s);
  e.slot_job[s] = {nullptr, -1};
}

// Moves the queue's head jobs into free slots (a job enters whole, or waits).
void admit(Engine& e) {
  while (!e.queue.empty() && decoder_free(e.dec) >= (int)e.queue.front()->seqs.size()) {
    std::shared_ptr<Job> job = e.queue.front();
    e.queue.pop_front();
    e.stats.live_jobs++;
    std::vector<int> added;
    try {
      for (int i = 0; i < (int)job->seqs.size(); i++) {
        DecodeRequest r = job->seqs[i];
        if (job->trace) {
          std::weak_ptr<Job> wj = job;
          r.hook = [wj, i](const StepRecord& rec, const float*) {
            if (auto j = wj.lock()) {
              std::lock_guard<std::mutex> lk(j->mu);
              j->out[i].trace.push_back(rec);
            }
          };
        }
        const int s = decoder_add(e.dec, std::move(r));
        check(s >= 0, "no free slot");  // cannot happen: counted above
        e.slot_job[s] = {job, i};
        added.push_back(s);
        e.stats.prompt_tokens += e.dec.slots[s].res.prompt_tokens;
        e.stats.sequences++;
      }
    } catch (const Error& err) {  // the handler validates first; this is a last guard
      for (int s : added) {
        decoder_release(e.dec, s);
        e.slot_job[s] = {nullptr, -1};
      }
      {
        std::lock_guard<std::mutex> lk(job->mu);
        job->error = err.what();
        for (SeqProgress& p : job->out) p.done = true;
        job->n_done = (int)job->seqs.size();
        job->version++;
      }
      e.stats.live_jobs--;
      job->cv.notify_all();
    }
  }
  e.stats.queue_length = (int)e.queue.size();
}

void engine_loop(Engine& e) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(e.mu);
      e.cv.wait(lk, [&] {
        return e.stopping || decoder_live(e.dec) > 0 ||
               (!e.queue.empty() && decoder_free(e.dec) >= (int)e.queue.front()->seqs.size());
      });
      admit(e);
      if (e.stopping && e.queue.empty() && decoder_live(e.dec) == 0) return;
    }
    // cancelled jobs and matched stop strings leave before the step
    for (int s = 0; s < (int)e.dec.slots.size(); s++) {
      if (!e.dec.slots[s].used) continue;
      auto [job, i] = e.slot_job[s];
      bool stop;
      {
        std::lock_guard<std::mutex> lk(job->mu);
        stop = job->cancelled || job->out[i].stop_requested;
      }
      if (stop) {
        decoder_cancel(e.dec, s);
        finish_slot(e, s);
      }
    }
    const int live = decoder_live(e.dec);
    e.stats.batch_size = live;
    if (live == 0) continue;
    size_t tokens_before = 0, tokens_after = 0;
    for (const DecodeSlot& q : e.dec.slots) tokens_before += q.used ? q.res.tokens.size() : 0;
    std::vector<int> finished = decoder_step(e.dec);
    if (e.test_step_sleep_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(e.test_step_sleep_ms));
    for (const DecodeSlot& q : e.dec.slots) tokens_after += q.used ? q.res.tokens.size() : 0;
    e.stats.steps++;
    e.stats.generated_tokens += tokens_after - tokens_before;
    std::vector<char> is_finished(e.dec.slots.size(), 0);
    for (int s : finished) is_finished[s] = 1;
    const double now = engine_now();
    for (int s = 0; s < (int)e.dec.slots.size(); s++) {
      const DecodeSlot& q = e.dec.slots[s];
      if (!q.used) continue;
      auto [job, i] = e.slot_job[s];
      SeqProgress& p = job->out[i];
      if (is_finished[s]) {
        finish_slot(e, s);
        continue;
      }
      if (job->t_first_token == 0 && !q.res.tokens.empty()) {
        std::lock_guard<std::mutex> lk(job->mu);
        job->t_first_token = now;
      }
      if (!job->watch) continue;  // its handler waits for the end
      {
        std::lock_guard<std::mutex> lk(job->mu);
        p.res = q.res;
        p.logprobs = q.logprobs;
        p.prompt_logprobs = q.prompt_logprobs;
        job->version++;
      }
      job->cv.notify_all();
    }
  }
}

}  // namespace

void engine_start(Engine& e, std::shared_ptr<const InferenceWeights> w, int max_seqs,
                  int max_queue) {
  check(max_seqs >= 1, "--max-batch must be >= 1 (got ", max_seqs, ")");
  check(max_queue >= 0, "--max-queue must be >= 0 (got ", max_queue, ")");
  e.w = w;
  e.max_seqs = max_seqs;
  e.max_queue = max_queue;
  e.dec = decoder_create(std::move(w), max_seqs);
  e.slot_job.assign(max_seqs, {nullptr, -1});
  e.thread = std::thread([&e] { engine_loop(e); });
}

bool engine_submit(Engine& e, const std::shared_ptr<Job>& job) {
  check((int)job->seqs.size() <= e.max_seqs, "a job of ", job->seqs.size(),
        " sequences can never fit ", e.max_seqs, " slots");
  job->out.assign(job->seqs.size(), SeqProgress());
  job->t_submit = engine_now();
  {
    std::lock_guard<std::mutex> lk(e.mu);
    if (e.stopping || (int)e.queue.size() >= e.max_queue) return false;
    e.queue.push_back(job);
    e.stats.queue_length = (int)e.queue.size();
  }
  e.cv.notify_all();
  return true;
}

void engine_cancel(Engine& e, const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lk(job->mu);
    job->cancelled = true;
  }
  std::lock_guard<std::mutex> lk(e.mu);  // a job still queued leaves the queue now
  for (auto it = e.queue.begin(); it != e.queue.end(); ++it)
    if (*it == job) {
      e.queue.erase(it);
      e.stats.queue_length = (int)e.queue.size();
      std::lock_guard<std::mutex> jl(job->mu);
      for (SeqProgress& p : job->out) {
        p.done = true;
        p.res.stop_reason = "cancelled";
      }
      job->n_done = (int)job->seqs.size();
      job->version++;
      job->cv.notify_all();
      break;
    }
}

void engine_stop(Engine& e) {
  {
    std::lock_guard<std::mutex> lk(e.mu);
    e.stopping = true;
  }
  e.cv.notify_all();
  if (e.thread.joinable()) e.thread.join();
}

}  // namespace softslm
