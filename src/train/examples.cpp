#include "train/examples.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace softslm {

std::vector<Example> examples_from_documents(const Tokenizer& tok, const std::vector<Document>& docs,
                                             bool need_steps, bool use_soft) {
  const int eot = tokenizer_special_id(tok, kEndOfText);
  check(eot >= 0 && tokenizer_special_id(tok, kThinkOpen) >= 0 &&
            tokenizer_special_id(tok, kThinkClose) >= 0,
        "the structured recipes need a tokenizer with ", kEndOfText, ", ", kThinkOpen, " and ",
        kThinkClose);
  std::vector<Example> out(docs.size());
  std::vector<std::string> errors(docs.size());  // thrown below, outside the parallel loop
#pragma omp parallel for schedule(dynamic, 16)
  for (size_t i = 0; i < docs.size(); i++) {
    const Document& d = docs[i];
    Example& e = out[i];
    e.where = d.where;
    const std::string& c = d.completion;
    const size_t open = c.find(kThinkOpen), close = c.find(kThinkClose);
    if (open != 0 || close == std::string::npos) {
      errors[i] = ": a structured recipe needs a completion of the form <think> chain </think> "
                  "answer";
      continue;
    }
    const size_t a = std::string(kThinkOpen).size();
    const std::string chain = c.substr(a, close - a);
    e.prompt = tokenizer_encode(tok, d.prompt, true);
    e.chain = tokenizer_encode(tok, chain, false);
    e.tail = tokenizer_encode(tok, c.substr(close), true);
    if (e.tail.back() != eot) e.tail.push_back(eot);
    std::string joined;
    for (const auto& s : d.steps) e.steps.push_back(tokenizer_encode(tok, s, false)), joined += s;
    if (!d.steps.empty() && joined != chain)
      errors[i] = ": \"steps\" do not concatenate to the chain of thought";
    for (size_t k = 0; use_soft && k < d.soft_targets.size(); k++) {
      const auto& hop = d.soft_targets[k];
      std::vector<std::pair<int, float>> h;
      double sum = 0;
      for (const auto& [text, w] : hop) sum += w;
      for (const auto& [text, w] : hop) {
        std::vector<int> ids = tokenizer_encode(tok, text, false);
        if (ids.size() != 1 && errors[i].empty())
          errors[i] = ": soft target '" + text + "' is " + std::to_string(ids.size()) +
                      " tokens; soft targets must be single tokens (for path node names: "
                      "tokenizer.names: 3)";
        if (!ids.empty()) h.push_back({ids[0], (float)(w / sum)});
      }
      e.soft.push_back(std::move(h));
    }
  }
  for (size_t i = 0; i < docs.size(); i++)
    if (!errors[i].empty()) fail(docs[i].where, errors[i]);
  if (need_steps)
    for (const Example& e : out)
      check(!e.steps.empty() || e.chain.empty(), e.where,
            ": soft_training.recipe latent needs \"steps\" (softslm data writes them)");
  return out;
}

namespace {

// The full layout's length: prompt <think> chain tail.
size_t full_length(const Example& e) { return e.prompt.size() + 1 + e.chain.size() + e.tail.size(); }

}  // namespace

ExampleSplits examples_load(const TrainConfig& cfg, const Tokenizer& tok) {
  const bool need_steps = cfg.soft.recipe == SoftRecipe::kLatent,
             use_soft = cfg.soft.recipe == SoftRecipe::kSoftTargets;
  auto load = [&](const std::vector<std::string>& files) {
    std::vector<Example> ex;
    for (const auto& f : files) {
      auto part = examples_from_documents(tok, data_read_documents(f, cfg.format), need_steps,
                                          use_soft);
      ex.insert(ex.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    }
    return ex;
  };
  ExampleSplits s;
  s.train = load(cfg.train_files);
  check(!s.train.empty(), "config key 'data.train': no examples");
  if (!cfg.val_files.empty()) {
    s.val = load(cfg.val_files);
    check(!s.val.empty(), "config key 'data.val': no examples");
  } else {
    check(s.train.size() >= 2, "config key 'data.train': one example cannot be split into train "
          "and val; give data.val");
    size_t n_val = std::clamp<size_t>((size_t)std::llround(cfg.val_fraction * s.train.size()), 1,
                                      s.train.size() - 1);
    s.val.assign(std::make_move_iterator(s.train.end() - n_val),
                 std::make_move_iterator(s.train.end()));
    s.train.resize(s.train.size() - n_val);
  }
  for (const auto* set : {&s.train, &s.val})
    for (const Example& e : *set)
      check(full_length(e) <= (size_t)cfg.seq_len + 1, e.where, ": the example is ",
            full_length(e), " tokens; one example per row needs at most seq_len + 1 = ",
            cfg.seq_len + 1);
  s.stage_steps = cfg.soft.stage_epochs > 0
                      ? std::max<int64_t>(1, (int64_t)std::ceil(cfg.soft.stage_epochs *
                                                                (double)s.train.size() /
                                                                cfg.batch_size))
                      : cfg.soft.stage_steps;
  for (const Example& e : s.train) {
    s.max_steps = std::max(s.max_steps, (int)e.steps.size());
    s.max_chain = std::max(s.max_chain, (int)e.chain.size());
  }
  return s;
}

namespace {

// The chain tokens internalize never removes from a chain of n: the larger of the two floors.
int chain_kept(int min_chain, double min_chain_fraction, int n) {
  return std::max(min_chain, (int)std::ceil(min_chain_fraction * n - 1e-9));
}

}  // namespace

StageLayout stage_layout(const SoftTrainingConfig& s, int64_t step, const ExampleSplits& ex) {
  StageLayout L;
  L.recipe = s.recipe;
  if (s.recipe == SoftRecipe::kLatent) {
    L.last_stage = s.max_stage > 0 ? s.max_stage : ex.max_steps;
  } else if (s.recipe == SoftRecipe::kInternalize) {
    const int removable =
        std::max(0, ex.max_chain - chain_kept(s.min_chain, s.min_chain_fraction, ex.max_chain));
    L.last_stage = (removable + s.remove_per_stage - 1) / s.remove_per_stage;
  }
  const int64_t per_stage = ex.stage_steps > 0 ? ex.stage_steps : s.stage_steps;
  L.stage = (int)std::min<int64_t>(step / per_stage, L.last_stage);
  if (s.recipe == SoftRecipe::kLatent) {
    L.steps_replaced = L.stage;
    L.n_latent = L.stage * s.thoughts_per_step;
  }
  if (s.recipe == SoftRecipe::kInternalize) L.removed = L.stage * s.remove_per_stage;
  L.min_chain = s.min_chain;
  L.min_chain_fraction = s.min_chain_fraction;
  return L;
}

void examples_check_stages(const ExampleSplits& ex, const SoftTrainingConfig& s, int seq_len) {
  if (s.recipe != SoftRecipe::kLatent) return;  // the other layouts are never longer than full
  const int c = s.thoughts_per_step;
  const int last = s.max_stage > 0 ? s.max_stage : ex.max_steps;
  for (const auto* set : {&ex.train, &ex.val})
    for (const Example& e : *set) {
      const size_t base = e.prompt.size() + 1 + e.tail.size();
      size_t rest = 0;  // the tokens of the steps not replaced yet
      for (const auto& st : e.steps) rest += st.size();
      for (int stage = 0; stage <= last; stage++) {
        if (stage > 0 && stage <= (int)e.steps.size()) rest -= e.steps[stage - 1].size();
        const size_t len = base + (size_t)stage * c + rest;
        check(len <= (size_t)seq_len + 1, e.where, ": at curriculum stage ", stage,
              " the example takes ", len, " positions; seq_len + 1 is ", seq_len + 1,
              " (raise seq_len, or lower soft_training.thoughts_per_step / max_stage)");
      }
    }
}

namespace {

constexpr int kLatent = -2, kSoft = -3;  // layout entries that are not tokens

// The chain tokens internalize removes from e at the stage: never below either floor.
size_t chain_removed(const StageLayout& L, const Example& e) {
  const int n = (int)e.chain.size();
  return std::min<size_t>(L.removed,
                          (size_t)std::max(0, n - chain_kept(L.min_chain, L.min_chain_fraction, n)));
}

// e's layout at the stage (kLatent / kSoft entries where no token goes)
void example_layout(const StageLayout& L, const Example& e, int think_open,
                    std::vector<int>& lay) {
  lay.assign(e.prompt.begin(), e.prompt.end());
  lay.push_back(think_open);
  if (L.recipe == SoftRecipe::kLatent) {
    lay.insert(lay.end(), L.n_latent, kLatent);
    for (size_t k = std::min<size_t>(L.steps_replaced, e.steps.size()); k < e.steps.size(); k++)
      lay.insert(lay.end(), e.steps[k].begin(), e.steps[k].end());
  } else if (L.recipe == SoftRecipe::kSoftTargets && !e.soft.empty()) {
    lay.insert(lay.end(), e.soft.size(), kSoft);
  } else {
    const size_t r = L.recipe == SoftRecipe::kInternalize ? chain_removed(L, e) : 0;
    lay.insert(lay.end(), e.chain.begin() + r, e.chain.end());
  }
  lay.insert(lay.end(), e.tail.begin(), e.tail.end());
}

}  // namespace

int example_batch_length(const StageLayout& L, const std::vector<const Example*>& rows) {
  std::vector<int> lay;
  size_t longest = 2;
  for (const Example* e : rows) {
    example_layout(L, *e, 0, lay);
    longest = std::max(longest, lay.size());
  }
  return (int)longest - 1;
}

void example_batch_fill(const StageLayout& L, const std::vector<const Example*>& rows, int T,
                        bool completion_only_loss, int think_open, int eot, ExampleBatch* out) {
  const int B = (int)rows.size();
  out->B = B;
  out->T = T;
  out->n_latent = L.recipe == SoftRecipe::kLatent ? L.n_latent : 0;
  out->inputs.assign((size_t)B * T, StepInput::of_token(eot));
  out->targets.assign((size_t)B * T, -1);
  out->latent_pos.clear();
  out->soft_rows.clear();
  out->soft_dists.clear();
  out->soft_inputs.clear();
  std::vector<int> lay;
  for (int b = 0; b < B; b++) {
    const Example& e = *rows[b];
    example_layout(L, e, think_open, lay);
    const size_t s0 = e.prompt.size() + 1;  // the first entry after <think>
    check(lay.size() <= (size_t)T + 1, e.where, ": the example takes ", lay.size(),
          " positions at curriculum stage ", L.stage, "; seq_len + 1 is ", T + 1);
    const size_t row = (size_t)b * T;
    const size_t prompt_end = e.prompt.size();  // lay[prompt_end] = <think>: the completion's first
    for (size_t t = 0; t + 1 < lay.size(); t++) {
      const int x = lay[t], y = lay[t + 1];
      StepInput& in = out->inputs[row + t];
      if (x == kLatent) {
        out->latent_pos.push_back((int)t);
        in = StepInput::of_vector({});  // filled by the latent passes
      } else if (x == kSoft) {
        const auto& hop = e.soft[t - s0];
        std::vector<float> w;
        std::vector<int> ids;
        for (const auto& [id, wt] : hop) ids.push_back(id), w.push_back(wt);
        in = StepInput::of_concept(std::move(w), std::move(ids));
        out->soft_inputs.push_back((int)(row + t));
      } else {
        in = StepInput::of_token(x);
      }
      if (completion_only_loss && t + 1 < prompt_end) continue;
      if (y == kLatent) continue;
      if (y == kSoft) {
        out->soft_rows.push_back((int)(row + t));
        out->soft_dists.push_back(e.soft[t + 1 - s0]);
      } else {
        out->targets[row + t] = y;
      }
    }
  }
}

namespace {

void sampler_start_epoch(ExampleSampler& sp) {
  sp.epoch_rng = sp.rng.state;
  sp.perm.resize(sp.n);
  for (size_t i = 0; i < sp.n; i++) sp.perm[i] = (uint32_t)i;
  for (size_t i = sp.n - 1; i > 0; i--) std::swap(sp.perm[i], sp.perm[rng_below(sp.rng, i + 1)]);
  sp.cursor = 0;
}

}  // namespace

ExampleSampler example_sampler_create(size_t n, uint64_t seed) {
  check(n >= 1 && n <= UINT32_MAX, "example sampler: ", n, " examples");
  ExampleSampler sp;
  sp.n = n;
  sp.rng = rng_init(seed ^ 0xE8A3'9E5EEDull);
  sampler_start_epoch(sp);
  return sp;
}

void example_sampler_restore(ExampleSampler& sp, uint64_t epoch_rng, uint64_t epoch,
                             uint64_t cursor) {
  sp.rng.state = epoch_rng;
  sampler_start_epoch(sp);
  sp.epoch = epoch;
  sp.cursor = std::min<uint64_t>(cursor, sp.n);
}

std::vector<size_t> example_sampler_next(ExampleSampler& sp, int B) {
  std::vector<size_t> out;
  for (int b = 0; b < B; b++) {
    if (sp.cursor >= sp.n) {
      sp.epoch++;
      sampler_start_epoch(sp);
    }
    out.push_back(sp.perm[sp.cursor++]);
  }
  return out;
}

}  // namespace softslm
