// Reasoning tasks with a short, mechanical chain of thought: generators (JSONL training and
// evaluation sets), an exact checker and a solver for each task.
//
// ---- Tasks, prompts and answers (fixed: evaluation sets made elsewhere use them) ----
//
//   add   prompt "{a}+{b}="                   answer: a + b in decimal
//   mul   prompt "{a}*{b}="                   answer: a * b in decimal
//   path  prompt "{edges}|{start}?{c1},{c2}=" answer: the candidate reachable from start
//
// Numbers are decimal without leading zeros ("0" itself is fine). `edges` are "x>y" pairs
// separated by single spaces; node names are 1-3 lowercase letters.
//
// ---- Completions: "<think>" + chain_of_thought + "</think>" + answer + "<|endoftext|>" ----
//
// add (a, b): digits are taken from the right, the shorter number padded with zeros. Step i
//   is "{a_i}+{b_i}+{c_i}={t_i},{r_i}" with c_0 = 0, t_i = a_i + b_i + c_i (decimal, 0..19),
//   c_{i+1} = t_i / 10, and r_i = (t_i % 10) followed by r_{i-1} (the result digits so far,
//   most significant first). Steps continue while digits remain or the carry is 1 (a final
//   carry is the step "0+0+1=1,{1 r}"); they are joined by single spaces. The last r is the
//   answer.  479+8653= -> "9+3+0=12,2 7+5+1=13,32 4+6+1=11,132 0+8+1=9,9132"
// mul (a, b): digit by digit, like add, with the running sum folded into each multiply step
//   (no separate addition). One block per digit d_j of b, from the right (j = 0, 1, ...);
//   each block builds a result so far r, and its last r without leading zeros ("0" when all
//   are zeros) is the running sum S_j = a * (the low j + 1 digits of b).
//   Block 0: the header "{a}*{d_0}:", then steps over the digits a_i of a from the right,
//   "{a_i}*{d_0}+{c_i}={t_i},{r_i}" with c_0 = 0, t_i = a_i * d_0 + c_i (decimal, 0..89),
//   c_{i+1} = t_i / 10, r_i = (t_i % 10) followed by r_{i-1}, r_{-1} empty; the first step
//   follows the ':' directly.
//   Block j >= 1: the header "{S_{j-1}}+{a}*{d_j}{z_j}:{l_j}" with z_j = j zeros and l_j the
//   low j digits of S_{j-1} (zero-padded to j digits), so "17148+8574*90:8" and "60+12*00:0";
//   then steps "{a_i}*{d_j}+{s_i}+{c_i}={t_i},{r_i}" with s_i = digit i + j of S_{j-1} from
//   the right (0 beyond its length), c_0 = 0, t_i = a_i * d_j + s_i + c_i (0..98), c_{i+1} =
//   t_i / 10, r_i = (t_i % 10) followed by r_{i-1}, r_{-1} = l_j.
//   In every block, steps continue (a_i = 0 past a's digits, s_i = 0 past S's) while digits of
//   a or of S remain or the carry is non-zero (at most one step past a's digits). The last r
//   is kept exactly as built, so zeros can lead it ("060"). Headers and steps are joined by
//   single spaces. The last r is the answer, except when it is all zeros: a one-digit b of 0
//   with a of 2+ digits ("00"), and a = 0 with b of 2+ digits; the answer is then 0.
//   8574*92= -> "8574*2:4*2+0=8,8 7*2+0=14,48 5*2+1=11,148 8*2+1=17,7148 0*2+1=1,17148
//     17148+8574*90:8 4*9+4+0=40,08 7*9+1+4=68,808 5*9+7+6=58,8808 8*9+1+5=78,88808
//     0*9+0+7=7,788808"  (one line)
//   12*305= -> "12*5:2*5+0=10,0 1*5+1=6,60 60+12*00:0 2*0+6+0=6,60 1*0+0+0=0,060
//     60+12*300:60 2*3+0+0=6,660 1*3+0+0=3,3660"  (one line)
//   47*3= -> "47*3:7*3+0=21,1 4*3+2=14,41 0*3+1=1,141"
// path, --path-cot back (default): walk back from each candidate, "c<p<...", one in-edge per
//   step: a node reachable from start steps to its parent in the search below (the source of
//   the edge that listed it), so the walk ends at start; an unreachable node steps to the
//   source of its first in-edge (prompt order) not yet on the walk, and the walk ends where
//   there is none. The walk from c1 comes first; when c1 is not the answer, the walk from c2
//   follows after a space. So the chain of thought ends with "<{start}" and the answer is the
//   head of its last walk. In generated instances every node on these walks has exactly one
//   in-edge (see below), so each step is a single lookup; the search is in telling, 2-4 steps
//   later, whether the walk ended at start.
//   "a>bc y>zz bc>q a>x x>k m>y|a?q,zz=" -> "q<bc<a";  "...|a?zz,q=" -> "zz<y<m q<bc<a"
// path, --path-cot bfs: breadth-first search from start, layer by layer. Layer 0 is
//   start; layer k+1 lists the targets v of edges "u>v" with u in layer k and v in no earlier
//   layer, in the order the edges appear in the prompt (each node once). Nodes within a layer
//   are joined by ",", layers by " ". The search stops right after the reachable candidate is
//   listed, so the chain of thought ends with the answer.
//   "a>bc y>zz bc>q a>x x>k m>y|a?q,zz=" -> "a bc,x q"
// path, --path-cot path: the path found by that search, "start>...>answer", each node's
//   predecessor being the source of the edge that listed it.   same prompt -> "a>bc>q"
// --cot none: an empty chain of thought, "<think></think>{answer}<|endoftext|>".
//
// ---- Path instances (the ProsQA idea: the answer needs a search, not a glance) ----
//
// The reachable candidate T lies 2-4 edges (shortest path; --min/max-depth) from start. The
// other candidate F lies in a region no edge from the reachable region enters: F is 2 or more
// edges below a root of its own (depth within 1 of T's), so its in-edges come only from nodes
// unreachable from start. Branches from start (or from the path to T) end at a depth within 1
// of T's. The nodes of the path to T and of F's chain (T and F included) have exactly one
// in-edge each and F's root none, so T and F have one in-edge each, and the same number of
// out-edges: degree tells them apart no better than chance. One edge leads from the
// unreachable region into the reachable one (into start or a branch node) when the edge budget
// allows (the graph is then weakly connected). Edges are distinct,
// never self-loops nor the reverse of another edge; their order and the candidates' order are
// random. Nodes: 8-16, edges: 8-20 by default (at least nodes - 2); depth D needs
// max(D + 5, 2D + 2) nodes (so depth 4 comes with 10-16 nodes by default).
//
// ---- Splits (train / val / test never share an instance, whatever the seeds and n) ----
//
// Each prompt has a canonical key (add/mul: the two operands in ascending order, since the
// operations commute; path: the edges sorted, start, the candidates sorted). The key's 64-bit
// hash (FNV-1a, then the splitmix64 finaliser) modulo 100 picks the split: 0-89 train,
// 90-94 val, 95-99 test. A generator draws instances from its own random stream (seeded by
// task, split and seed) and keeps only those whose key falls in the requested split and is
// new to the file. So the output is deterministic in (task, split, seed, flags), the first n
// lines do not depend on n, and a split too small for n ends with an Error. With repeats, an
// instance may recur (each draw of the split is kept): every difficulty class then keeps its
// share of the draws however few instances it has (add's 1+1 digits has ~50 in train, 1/25
// of a default set), which is what a training mix that covers the smallest classes needs.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/rng.h"

namespace softslm {

// Difficulty and format knobs; each task reads its own.
struct TaskParams {
  int add_min_digits = 1, add_max_digits = 5;     // add: digit counts of a and b
  int mul_a_min_digits = 1, mul_a_max_digits = 4;  // mul: digit counts of a
  int mul_b_min_digits = 1, mul_b_max_digits = 2;  // mul: digit counts of b
  int path_min_nodes = 8, path_max_nodes = 16;
  int path_min_edges = 8, path_max_edges = 20;
  int path_min_depth = 2, path_max_depth = 4;  // shortest start -> answer path, in edges
  bool cot = true;                             // false: empty <think></think>
  std::string path_cot = "back";               // "back", "bfs" or "path"
};

struct DataSpec {
  std::string task = "add";  // add, mul, path, or mix (the three in turn: add, mul, path, ...)
  std::string split = "train";  // train, val, test
  uint64_t seed = 0;
  int n = 1;
  bool repeats = false;  // true: instances may recur (see Splits above); never across splits
  TaskParams params;
};

struct TaskInstance {
  std::string id;    // "{task}-{split}-{index}"; "mix-{split}-{index}" in a mix
  std::string task;  // add, mul or path
  std::string prompt, answer, completion;
  std::vector<std::string> steps;  // the chain of thought in steps (task_cot_steps)
  // path only: per hop t = 1..D (D = the answer's depth), the target distribution over the
  // frontier, uniform over breadth-first layer t (path_soft_targets); empty for add and mul
  std::vector<std::vector<std::pair<std::string, double>>> soft_targets;
};

// The tasks a generator knows ("add", "mul", "path"); "mix" is accepted by data_generate.
const std::vector<std::string>& task_names();

// Throws Error (one line, naming the flag) when spec cannot be generated: unknown task or
// split, n < 1, a min above its max, values out of range, a depth too long for the nodes...
void data_spec_validate(const DataSpec& spec);
// The instances, in order. Throws Error when the split holds fewer than n distinct instances.
std::vector<TaskInstance> data_generate(const DataSpec& spec);
// One JSON object per line: {"id","task","prompt","answer","completion","steps"}, and
// "soft_targets" ([{node: weight, ...} per hop]) for path instances.
std::string data_to_jsonl(const std::vector<TaskInstance>& instances);

// Solves a prompt of the task ("add", "mul", "path"); throws Error on a malformed prompt (or a
// path prompt without exactly one reachable candidate).
std::string task_solve(const std::string& task, const std::string& prompt);
// True when answer_text, trimmed of ASCII white space at both ends, equals task_solve(prompt)
// exactly. Throws Error on a malformed prompt.
bool task_check(const std::string& task, const std::string& prompt,
                const std::string& answer_text);
// The answer part of a completion: the text after the first "</think>" up to the first
// "<|endoftext|>" after it (or the end), trimmed. With no "</think>": "" when the text holds
// "<think>" (thinking never ended), else the whole text up to "<|endoftext|>", trimmed.
std::string task_cot_answer(const std::string& completion);
// The chain of thought of a prompt, as the generator writes it (path_cot: "back", "bfs" or
// "path").
std::string task_cot(const std::string& task, const std::string& prompt,
                     const std::string& path_cot = "back");
// The chain of thought cut into reasoning steps, each keeping the separator that ends it, so
// that they concatenate to the chain exactly: add, one digit column ("7+3+0=10,0 "); mul, one
// digit step of a partial product, its header with its first digit ("10*4:0*4+0=0,0 "); path,
// one hop ("wwf<" in back walks, "n>" in a path) or one layer of the breadth-first search
// ("cz,kn "). An empty chain has no steps.
std::vector<std::string> task_cot_steps(const std::string& task, const std::string& cot,
                                        const std::string& path_cot = "back");

// A prompt's difficulty class, for per-difficulty accuracy: add, the digit counts of a and b
// in prompt order ("3+1"); mul, the same ("4x2"); path, the answer's depth ("depth 3"). Throws
// Error on a malformed prompt.
std::string task_difficulty(const std::string& task, const std::string& prompt);

// The canonical key of a prompt and the split it belongs to ("train", "val" or "test").
std::string task_canonical_key(const std::string& task, const std::string& prompt);
std::string task_split_of(const std::string& task, const std::string& prompt);

// ---- Building blocks (the task files; also handy for tests and tools) ----

std::string trim_ascii(const std::string& s);
uint64_t task_hash(const std::string& s);  // FNV-1a 64 + splitmix64 finaliser

// Decimal strings without leading zeros.
bool is_decimal(const std::string& s);
std::string dec_add(const std::string& a, const std::string& b);
std::string dec_mul_digit(const std::string& a, int d);
std::string dec_mul(const std::string& a, const std::string& b);
// A uniform number with exactly `digits` digits (1 digit: 0..9).
std::string dec_random(Rng& r, int digits);

// One drawn instance before split and dedupe filtering. ok = false: the draw failed (path
// graphs too dense for the edge budget); draw again.
struct TaskDraw {
  bool ok = false;
  std::string prompt;
};
TaskDraw add_draw(Rng& r, const TaskParams& p);
TaskDraw mul_draw(Rng& r, const TaskParams& p);
TaskDraw path_draw(Rng& r, const TaskParams& p);

// add and mul prompts: the operands; throws on a malformed prompt.
std::pair<std::string, std::string> arith_parse(const std::string& prompt, char op);
std::string add_cot(const std::string& a, const std::string& b);
std::string mul_cot(const std::string& a, const std::string& b);

struct PathPrompt {
  std::vector<std::pair<std::string, std::string>> edges;  // in prompt order
  std::string start, c1, c2;
};
PathPrompt path_parse(const std::string& prompt);  // throws on a malformed prompt
std::string path_format(const PathPrompt& p);
bool path_name_ok(const std::string& name);  // 1-3 lowercase letters
// BFS layers from start in the CoT's order (see above), each node once; the search stops
// after `stop` is listed (or runs to the end when stop is empty or unreachable).
std::vector<std::vector<std::string>> path_bfs_layers(const PathPrompt& p,
                                                      const std::string& stop = "");
std::string path_solve(const PathPrompt& p);
// The soft targets of a path prompt (CoT2's frontier supervision): for hops t = 1..D, D the
// answer's depth, the full breadth-first layer t (every node first reached in t edges, in the
// layers' order), each node with weight 1 / |layer t|. The answer lies in the last hop.
std::vector<std::vector<std::pair<std::string, double>>> path_soft_targets(const PathPrompt& p);
// Fewest nodes an instance of this depth needs: max(depth + 5, 2 * depth + 2).
int path_nodes_needed(int depth);
std::string path_cot(const PathPrompt& p, const std::string& mode);  // "back", "bfs", "path"

}  // namespace softslm
