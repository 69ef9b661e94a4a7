// The per-step trace of a generation, as JSON (one object per step; --trace writes JSONL),
// and the per-sequence summary shared by generate and eval.
#pragma once
#include <nlohmann/json.hpp>

#include "generate/generate.h"
#include "tokenizer/tokenizer.h"

namespace softslm {

// {"seq","step","phase","soft","token","text","entropy","concept":{"ids","texts","weights"},
//  "switch"}
nlohmann::json trace_record_json(const StepRecord& r, const Tokenizer& tok);

struct SeqText {
  std::string thinking;  // emitted tokens of the thinking phase, before the closing </think>
  std::string answer;    // tokens after thinking (all generated tokens when it never started),
                         // up to (not including) <|endoftext|>
  std::string text;      // every generated token, the end tag included, eos excluded
  float mean_entropy;    // over the thinking-phase steps (over all steps when none), nats
};
SeqText seq_text(const SeqResult& r, const Tokenizer& tok, int eos_id, int think_close_id);

// {"text","thinking","answer","n_prompt_tokens","n_generated","thinking_steps","think_end",
//  "stop_reason","mean_entropy","tokens"}
nlohmann::json seq_result_json(const SeqResult& r, const Tokenizer& tok, int eos_id,
                               int think_close_id);

}  // namespace softslm
