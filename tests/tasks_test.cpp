// Reasoning-task generators: chains of thought re-executed step by step, the checker, splits,
// path instance invariants, determinism, difficulty flags, bad specs.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "base/error.h"
#include "tasks/tasks.h"
#include "tokenizer/tokenizer.h"

namespace softslm {
namespace {

std::vector<TaskInstance> gen(const std::string& task, int n, const std::string& split = "train",
                              uint64_t seed = 0, TaskParams p = {}) {
  DataSpec s;
  s.task = task;
  s.n = n;
  s.split = split;
  s.seed = seed;
  s.params = p;
  return data_generate(s);
}

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t q = s.find(sep, pos);
    out.push_back(s.substr(pos, q == std::string::npos ? std::string::npos : q - pos));
    if (q == std::string::npos) return out;
    pos = q + 1;
  }
}

// The chain of thought inside a completion; checks the wrapping on the way.
std::string cot_of(const TaskInstance& x) {
  const std::string open = kThinkOpen, close = kThinkClose, eot = kEndOfText;
  EXPECT_EQ(x.completion.rfind(open, 0), 0u) << x.completion;
  size_t c = x.completion.find(close);
  EXPECT_NE(c, std::string::npos) << x.completion;
  EXPECT_EQ(x.completion.substr(c + close.size()), x.answer + eot) << x.completion;
  return x.completion.substr(open.size(), c - open.size());
}

// ---- add ----

// Re-executes "x+y+c=t,r ..." against the operands; returns the final r.
std::string replay_add(const std::string& a, const std::string& b, const std::string& cot) {
  static const std::regex step(R"((\d)\+(\d)\+([01])=(\d{1,2}),(\d+))");
  std::string r;
  int carry = 0;
  std::vector<std::string> steps = split_on(cot, ' ');
  for (size_t i = 0; i < steps.size(); i++) {
    std::smatch m;
    if (!std::regex_match(steps[i], m, step)) {
      ADD_FAILURE() << "bad add step \"" << steps[i] << "\" in " << cot;
      return "";
    }
    int x = std::stoi(m[1]), y = std::stoi(m[2]), c = std::stoi(m[3]), t = std::stoi(m[4]);
    int ex = i < a.size() ? a[a.size() - 1 - i] - '0' : 0;
    int ey = i < b.size() ? b[b.size() - 1 - i] - '0' : 0;
    EXPECT_EQ(x, ex) << "step " << i << " of " << cot;
    EXPECT_EQ(y, ey) << "step " << i << " of " << cot;
    EXPECT_EQ(c, carry) << "step " << i << " of " << cot;
    EXPECT_EQ(t, x + y + c) << "step " << i << " of " << cot;
    EXPECT_EQ(m[4].str(), std::to_string(t));
    r = std::to_string(t % 10) + r;
    EXPECT_EQ(m[5].str(), r) << "step " << i << " of " << cot;
    carry = t / 10;
  }
  EXPECT_EQ(carry, 0) << cot;
  EXPECT_EQ(steps.size(), std::max(a.size(), b.size()) + (r.size() > std::max(a.size(), b.size()) ? 1 : 0))
      << cot;
  return r;
}

TEST(TaskAdd, ChainOfThoughtLeadsToTheAnswer) {
  TaskParams ood;
  ood.add_min_digits = 6, ood.add_max_digits = 7;
  for (const auto& xs : {gen("add", 2000), gen("add", 200, "test", 5, ood)})
    for (const auto& x : xs) {
      auto [a, b] = arith_parse(x.prompt, '+');
      EXPECT_EQ(x.answer, std::to_string(std::stoull(a) + std::stoull(b))) << x.prompt;
      EXPECT_EQ(x.answer, task_solve("add", x.prompt));
      EXPECT_EQ(replay_add(a, b, cot_of(x)), x.answer) << x.prompt;
    }
  EXPECT_EQ(add_cot("479", "8653"), "9+3+0=12,2 7+5+1=13,32 4+6+1=11,132 0+8+1=9,9132");
  EXPECT_EQ(add_cot("99", "1"), "9+1+0=10,0 9+0+1=10,00 0+0+1=1,100");
  EXPECT_EQ(add_cot("0", "0"), "0+0+0=0,0");
}

TEST(TaskAdd, DigitCountsAreUniformAndRespected) {
  std::map<size_t, int> count;
  for (const auto& x : gen("add", 3000)) {
    auto [a, b] = arith_parse(x.prompt, '+');
    count[a.size()]++, count[b.size()]++;
  }
  ASSERT_EQ(count.size(), 5u);
  for (auto [len, c] : count) {  // 1200 each, less for 1 digit (few distinct small pairs)
    EXPECT_GT(c, 900) << len << " digits";
    EXPECT_LT(c, 1500) << len << " digits";
  }
  TaskParams p;
  p.add_min_digits = 6, p.add_max_digits = 7;
  for (const auto& x : gen("add", 300, "val", 1, p)) {
    auto [a, b] = arith_parse(x.prompt, '+');
    EXPECT_TRUE(a.size() >= 6 && a.size() <= 7 && b.size() >= 6 && b.size() <= 7) << x.prompt;
  }
}

// ---- mul ----

// Re-executes a mul chain of thought against the operands: each block's header (the running
// sum S and the low digits it hands on), every multiply step (digit of a, digit of b, digit of
// S, carry, total, result so far); returns the final value (the last running sum).
std::string replay_mul(const std::string& a, const std::string& b, const std::string& cot) {
  static const std::regex header0(R"((\d+)\*(\d):(.*))");
  static const std::regex header(R"((\d+)\+(\d+)\*(\d)(0*):(\d*))");
  static const std::regex step0(R"((\d)\*(\d)\+(\d)=(\d{1,2}),(\d+))");
  static const std::regex step(R"((\d)\*(\d)\+(\d)\+(\d)=(\d{1,2}),(\d+))");
  auto strip = [](const std::string& r) {
    size_t nz = r.find_first_not_of('0');
    return nz == std::string::npos ? std::string("0") : r.substr(nz);
  };
  std::vector<std::string> toks = split_on(cot, ' ');
  size_t k = 0;  // next token
  std::string sum, last_r;  // the running sum S (stripped) and the last result so far
  uint64_t av = std::stoull(a), bv = std::stoull(b), pow10 = 1;
  for (size_t j = 0; j < b.size(); j++, pow10 *= 10) {
    int d = b[b.size() - 1 - j] - '0';
    std::smatch m;
    std::string first_step, r;
    if (j == 0) {
      if (k >= toks.size() || !std::regex_match(toks[k], m, header0)) {
        ADD_FAILURE() << "bad mul header at token " << k << " in " << cot;
        return "";
      }
      EXPECT_EQ(m[1].str(), a) << "block 0 of " << cot;
      EXPECT_EQ(m[2].str(), std::string(1, char('0' + d))) << "block 0 of " << cot;
      first_step = m[3].str();  // block 0: the first step follows the ':' directly
    } else {
      if (k >= toks.size() || !std::regex_match(toks[k], m, header)) {
        ADD_FAILURE() << "bad mul header at token " << k << " in " << cot;
        return "";
      }
      EXPECT_EQ(m[1].str(), sum) << "block " << j << " of " << cot;
      EXPECT_EQ(m[2].str(), a) << "block " << j << " of " << cot;
      EXPECT_EQ(m[3].str(), std::string(1, char('0' + d))) << "block " << j << " of " << cot;
      EXPECT_EQ(m[4].str(), std::string(j, '0')) << "block " << j << " of " << cot;
      // The initial result so far: S's low j digits, zero-padded to j digits.
      std::string low = std::string(j, '0') + sum;
      low = low.substr(low.size() - j);
      EXPECT_EQ(m[5].str(), low) << "block " << j << " of " << cot;
      r = low;
    }
    k++;
    int carry = 0;
    for (size_t i = 0; i < a.size() || i + j < sum.size() || carry; i++) {
      std::string tok = (i == 0 && j == 0) ? first_step : k < toks.size() ? toks[k++] : "";
      std::smatch s;
      if (!std::regex_match(tok, s, j == 0 ? step0 : step)) {
        ADD_FAILURE() << "bad mul step \"" << tok << "\" (block " << j << ", digit " << i
                      << ") in " << cot;
        return "";
      }
      int o = j == 0 ? 0 : 1;  // block 0 steps have no digit of S
      int x = std::stoi(s[1]), y = std::stoi(s[2]), sd = o ? std::stoi(s[3]) : 0;
      int c = std::stoi(s[3 + o]), t = std::stoi(s[4 + o]);
      EXPECT_EQ(x, i < a.size() ? a[a.size() - 1 - i] - '0' : 0) << tok << " in " << cot;
      EXPECT_EQ(y, d) << tok << " in " << cot;
      EXPECT_EQ(sd, i + j < sum.size() ? sum[sum.size() - 1 - i - j] - '0' : 0)
          << tok << " in " << cot;
      EXPECT_EQ(c, carry) << tok << " in " << cot;
      EXPECT_EQ(t, x * y + sd + c) << tok << " in " << cot;
      EXPECT_EQ(s[4 + o].str(), std::to_string(t)) << tok << " in " << cot;
      r = std::to_string(t % 10) + r;
      EXPECT_EQ(s[5 + o].str(), r) << tok << " in " << cot;
      carry = t / 10;
    }
    // The loop took one step per digit of a or of S (past the j low ones) plus one per
    // non-zero carry left, so a step too many or too few shows as a bad header or step next.
    sum = strip(r);
    last_r = r;
    EXPECT_EQ(sum, std::to_string(av * (bv % (pow10 * 10)))) << "block " << j << " of " << cot;
  }
  EXPECT_EQ(k, toks.size()) << "trailing tokens in " << cot;
  // The last result so far is the answer, but for a one-digit b of 0 with a of 2+ digits and
  // for a = 0 with b of 2+ digits (r is then all zeros, the answer 0).
  if ((b == "0" && a.size() > 1) || (a == "0" && b.size() > 1))
    EXPECT_EQ(strip(last_r), "0") << cot;
  else
    EXPECT_EQ(last_r, sum) << cot;
  return sum;
}

TEST(TaskMul, ChainOfThoughtLeadsToTheAnswer) {
  TaskParams wide, long_a;
  wide.mul_b_min_digits = 3, wide.mul_b_max_digits = 3;
  long_a.mul_a_min_digits = 5, long_a.mul_a_max_digits = 7;
  long_a.mul_b_min_digits = 1, long_a.mul_b_max_digits = 4;
  int b_zero_digits = 0, final_carries = 0;
  for (const auto& xs :
       {gen("mul", 2000), gen("mul", 200, "val", 2, wide), gen("mul", 200, "test", 3, long_a)})
    for (const auto& x : xs) {
      auto [as, bs] = arith_parse(x.prompt, '*');
      uint64_t a = std::stoull(as), b = std::stoull(bs);
      EXPECT_EQ(x.answer, std::to_string(a * b)) << x.prompt;
      EXPECT_EQ(x.answer, task_solve("mul", x.prompt));
      std::string cot = cot_of(x);
      EXPECT_EQ(cot, mul_cot(as, bs));
      EXPECT_EQ(replay_mul(as, bs, cot), x.answer) << x.prompt;
      b_zero_digits += bs.size() > 1 && bs.find('0') != std::string::npos;
      final_carries += cot.find("0*") != std::string::npos;
    }
  EXPECT_GT(b_zero_digits, 50);  // the draws do exercise zero digits and final carries
  EXPECT_GT(final_carries, 500);
  EXPECT_EQ(mul_cot("8574", "92"),
            "8574*2:4*2+0=8,8 7*2+0=14,48 5*2+1=11,148 8*2+1=17,7148 0*2+1=1,17148 "
            "17148+8574*90:8 4*9+4+0=40,08 7*9+1+4=68,808 5*9+7+6=58,8808 8*9+1+5=78,88808 "
            "0*9+0+7=7,788808");
  EXPECT_EQ(mul_cot("47", "3"), "47*3:7*3+0=21,1 4*3+2=14,41 0*3+1=1,141");
  EXPECT_EQ(mul_cot("12", "305"),
            "12*5:2*5+0=10,0 1*5+1=6,60 60+12*00:0 2*0+6+0=6,60 1*0+0+0=0,060 "
            "60+12*300:60 2*3+0+0=6,660 1*3+0+0=3,3660");
  EXPECT_EQ(mul_cot("5", "99"), "5*9:5*9+0=45,5 0*9+4=4,45 45+5*90:5 5*9+4+0=49,95 0*9+0+4=4,495");
  EXPECT_EQ(mul_cot("0", "40"), "0*0:0*0+0=0,0 0+0*40:0 0*4+0+0=0,00");
  EXPECT_EQ(mul_cot("12", "0"), "12*0:2*0+0=0,0 1*0+0=0,00");
  EXPECT_EQ(mul_cot("0", "7"), "0*7:0*7+0=0,0");
  EXPECT_EQ(replay_mul("12", "0", mul_cot("12", "0")), "0");
  EXPECT_EQ(replay_mul("0", "40", mul_cot("0", "40")), "0");
  // The replay catches a dropped final carry, a wrong carry, a wrong digit and a wrong header.
  auto failures = [](const std::string& a, const std::string& b, const std::string& cot) {
    testing::TestPartResultArray results;
    {
      testing::ScopedFakeTestPartResultReporter intercept(
          testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
      replay_mul(a, b, cot);
    }
    return results.size();
  };
  EXPECT_EQ(failures("47", "3", "47*3:7*3+0=21,1 4*3+2=14,41 0*3+1=1,141"), 0u);
  EXPECT_GT(failures("47", "3", "47*3:7*3+0=21,1 4*3+2=14,41"), 0u);
  EXPECT_GT(failures("47", "3", "47*3:7*3+0=21,1 4*3+1=13,31 0*3+1=1,131"), 0u);
  EXPECT_GT(failures("47", "3", "47*3:7*3+0=21,1 4*3+2=14,51 0*3+1=1,151"), 0u);
  EXPECT_GT(failures("47", "3", "47*3:7*3+0=21,1 4*3+2=14,41 0*3+1=1,141 0*3+0=0,0141"), 0u);
  const std::string ok = "12*0:2*0+0=0,0 1*0+0=0,00 0+12*20:0 2*2+0+0=4,40 1*2+0+0=2,240";
  EXPECT_EQ(failures("12", "20", ok), 0u);
  EXPECT_GT(failures("12", "20", "12*0:2*0+0=0,0 1*0+0=0,00 12*2:0 2*2+0=4,40 1*2+0=2,240"), 0u);
  EXPECT_GT(failures("12", "20", "12*0:2*0+0=0,0 1*0+0=0,00 0+12*2:0 2*2+0+0=4,40 1*2+0+0=2,240"), 0u);
  // A wrong digit of S, wrong low digits of S handed on, a dropped final carry, a wrong sum.
  EXPECT_EQ(failures("5", "99", "5*9:5*9+0=45,5 0*9+4=4,45 45+5*90:5 5*9+4+0=49,95 0*9+0+4=4,495"), 0u);
  EXPECT_GT(failures("5", "99", "5*9:5*9+0=45,5 0*9+4=4,45 45+5*90:5 5*9+5+0=50,05 0*9+0+5=5,505"), 0u);
  EXPECT_GT(failures("5", "99", "5*9:5*9+0=45,5 0*9+4=4,45 45+5*90:0 5*9+4+0=49,90 0*9+0+4=4,490"), 0u);
  EXPECT_GT(failures("5", "99", "5*9:5*9+0=45,5 0*9+4=4,45 45+5*90:5 5*9+4+0=49,95"), 0u);
  EXPECT_GT(failures("5", "99", "5*9:5*9+0=45,5 0*9+4=4,45 40+5*90:5 5*9+4+0=49,95 0*9+0+4=4,495"), 0u);
}

TEST(TaskMul, DigitFlagsAreRespected) {
  TaskParams p;
  p.mul_a_min_digits = p.mul_a_max_digits = 3;
  p.mul_b_min_digits = 2, p.mul_b_max_digits = 3;
  for (const auto& x : gen("mul", 300, "train", 4, p)) {
    auto [a, b] = arith_parse(x.prompt, '*');
    EXPECT_EQ(a.size(), 3u) << x.prompt;
    EXPECT_TRUE(b.size() >= 2 && b.size() <= 3) << x.prompt;
  }
  std::set<size_t> a_lens, b_lens;
  for (const auto& x : gen("mul", 500)) {
    auto [a, b] = arith_parse(x.prompt, '*');
    a_lens.insert(a.size()), b_lens.insert(b.size());
  }
  EXPECT_EQ(a_lens, (std::set<size_t>{1, 2, 3, 4}));
  EXPECT_EQ(b_lens, (std::set<size_t>{1, 2}));
}

// ---- path ----

struct Graph {
  PathPrompt p;
  std::set<std::string> nodes;
  std::map<std::string, int> dist;  // from start, over reachable nodes
};

Graph analyse(const std::string& prompt) {
  Graph g;
  g.p = path_parse(prompt);
  for (auto& [u, v] : g.p.edges) g.nodes.insert(u), g.nodes.insert(v);
  g.dist[g.p.start] = 0;
  for (bool grew = true; grew;) {  // Bellman-Ford style relaxation: independent of the library
    grew = false;
    for (auto& [u, v] : g.p.edges)
      if (g.dist.count(u) && (!g.dist.count(v) || g.dist[v] > g.dist[u] + 1))
        g.dist[v] = g.dist[u] + 1, grew = true;
  }
  return g;
}

void expect_instance_shape(const std::string& prompt, const std::string& answer,
                           const TaskParams& p) {
  static const std::regex name("[a-z]{1,3}");
  Graph g = analyse(prompt);
  std::set<std::pair<std::string, std::string>> uniq(g.p.edges.begin(), g.p.edges.end());
  EXPECT_EQ(uniq.size(), g.p.edges.size()) << "duplicate edge: " << prompt;
  for (auto& [u, v] : g.p.edges) {
    EXPECT_NE(u, v) << prompt;
    EXPECT_FALSE(uniq.count({v, u})) << "2-cycle " << u << " " << v << ": " << prompt;
  }
  for (auto& nm : g.nodes) EXPECT_TRUE(std::regex_match(nm, name)) << nm;
  EXPECT_GE((int)g.nodes.size(), p.path_min_nodes) << prompt;
  EXPECT_LE((int)g.nodes.size(), p.path_max_nodes) << prompt;
  EXPECT_GE((int)g.p.edges.size(), p.path_min_edges) << prompt;
  EXPECT_LE((int)g.p.edges.size(), p.path_max_edges) << prompt;
  for (auto* c : {&g.p.start, &g.p.c1, &g.p.c2}) EXPECT_TRUE(g.nodes.count(*c)) << prompt;
  EXPECT_NE(g.p.start, g.p.c1);
  EXPECT_NE(g.p.start, g.p.c2);
  // Exactly one candidate reachable, at a distance within the depth range.
  ASSERT_TRUE(answer == g.p.c1 || answer == g.p.c2) << prompt;
  const std::string& other = answer == g.p.c1 ? g.p.c2 : g.p.c1;
  ASSERT_TRUE(g.dist.count(answer)) << prompt;
  EXPECT_FALSE(g.dist.count(other)) << prompt;
  EXPECT_GE(g.dist[answer], p.path_min_depth) << prompt;
  EXPECT_LE(g.dist[answer], p.path_max_depth) << prompt;
  // The distractor has in-edges, all from unreachable nodes; the candidates' degrees match.
  int in_other = 0, in_ans = 0, out_other = 0, out_ans = 0;
  for (auto& [u, v] : g.p.edges) {
    if (v == other) {
      in_other++;
      EXPECT_FALSE(g.dist.count(u)) << "distractor entered from reachable " << u << ": " << prompt;
    }
    in_ans += v == answer, out_ans += u == answer, out_other += u == other;
  }
  EXPECT_GE(in_other, 1) << prompt;
  EXPECT_EQ(in_ans, in_other) << prompt;
  EXPECT_EQ(out_ans, out_other) << prompt;
}

TEST(TaskPath, InstancesHaveTheRequiredShape) {
  TaskParams p;
  std::map<int, int> depths;
  for (const auto& x : gen("path", 1500)) {
    expect_instance_shape(x.prompt, x.answer, p);
    EXPECT_EQ(x.answer, task_solve("path", x.prompt));
    depths[analyse(x.prompt).dist[x.answer]]++;
  }
  EXPECT_EQ(depths.size(), 3u);
  for (auto [d, c] : depths) EXPECT_GT(c, 400) << "depth " << d;
}

TEST(TaskPath, FlagsAreRespected) {
  TaskParams p;
  p.path_min_nodes = 12, p.path_max_nodes = 14;
  p.path_min_edges = 15, p.path_max_edges = 18;
  p.path_min_depth = p.path_max_depth = 4;
  for (const auto& x : gen("path", 300, "test", 9, p)) expect_instance_shape(x.prompt, x.answer, p);
  TaskParams deep;  // out of distribution: longer paths, bigger graphs
  deep.path_min_depth = 5, deep.path_max_depth = 6;
  deep.path_min_nodes = 14, deep.path_max_nodes = 24;
  deep.path_min_edges = 14, deep.path_max_edges = 30;
  for (const auto& x : gen("path", 200, "test", 9, deep))
    expect_instance_shape(x.prompt, x.answer, deep);
  TaskParams dense;  // (nearly) as many edges as the nodes allow
  dense.path_min_nodes = dense.path_max_nodes = 7;
  dense.path_min_depth = dense.path_max_depth = 2;
  dense.path_min_edges = dense.path_max_edges = 13;  // the most the locked chains leave
  for (const auto& x : gen("path", 50, "train", 1, dense))
    expect_instance_shape(x.prompt, x.answer, dense);
}

TEST(TaskPath, ShallowHeuristicsAreNearChance) {
  double n = 0, indeg = 0, outdeg = 0, first = 0, shorter = 0, earlier = 0;
  auto score = [](double a, double b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; };
  for (const auto& x : gen("path", 1500, "val", 3)) {
    PathPrompt p = path_parse(x.prompt);
    const std::string& other = x.answer == p.c1 ? p.c2 : p.c1;
    std::map<std::string, int> in, out, first_edge;
    for (size_t i = p.edges.size(); i-- > 0;) first_edge[p.edges[i].first] = first_edge[p.edges[i].second] = (int)i;
    for (auto& [u, v] : p.edges) in[v]++, out[u]++;
    n++;
    indeg += score(in[x.answer], in[other]);
    outdeg += score(-out[x.answer], -out[other]);
    first += x.answer == p.c1;
    shorter += score(-(double)x.answer.size(), -(double)other.size());
    earlier += score(-first_edge[x.answer], -first_edge[other]);
  }
  for (double acc : {indeg, outdeg, first, shorter, earlier}) {
    EXPECT_GT(acc / n, 0.44);
    EXPECT_LT(acc / n, 0.56);
  }
}

TEST(TaskPath, ChainOfThoughtIsTheSearch) {
  TaskParams bfs_params;
  bfs_params.path_cot = "bfs";
  for (const auto& x : gen("path", 1000, "train", 7, bfs_params)) {
    Graph g = analyse(x.prompt);
    std::vector<std::string> layers = split_on(cot_of(x), ' ');
    ASSERT_EQ(layers[0], g.p.start) << x.completion;
    std::set<std::string> seen{g.p.start};
    std::set<std::string> frontier{g.p.start};
    for (size_t k = 1; k < layers.size(); k++) {
      // Expected layer: targets of frontier edges in prompt order, new nodes only.
      std::vector<std::string> want;
      std::set<std::string> listed;
      for (auto& [u, v] : g.p.edges)
        if (frontier.count(u) && !seen.count(v) && listed.insert(v).second) want.push_back(v);
      std::vector<std::string> got = split_on(layers[k], ',');
      if (k + 1 < layers.size()) {
        EXPECT_EQ(got, want) << "layer " << k << ": " << x.prompt << " -> " << x.completion;
      } else {  // the last layer stops at the answer
        auto it = std::find(want.begin(), want.end(), x.answer);
        ASSERT_NE(it, want.end()) << x.prompt << " -> " << x.completion;
        EXPECT_EQ(got, std::vector<std::string>(want.begin(), it + 1)) << x.completion;
      }
      for (auto& v : got) EXPECT_EQ(g.dist[v], (int)k) << v;
      seen.insert(got.begin(), got.end());
      frontier = std::set<std::string>(got.begin(), got.end());
    }
    EXPECT_EQ(split_on(layers.back(), ',').back(), x.answer);
    EXPECT_EQ((int)layers.size() - 1, g.dist[x.answer]);
    // --path-cot path: a shortest path of prompt edges from start to the answer.
    std::vector<std::string> path = split_on(path_cot(g.p, "path"), '>');
    EXPECT_EQ(path.front(), g.p.start);
    EXPECT_EQ(path.back(), x.answer);
    EXPECT_EQ((int)path.size() - 1, g.dist[x.answer]);
    for (size_t i = 0; i + 1 < path.size(); i++)
      EXPECT_NE(std::find(g.p.edges.begin(), g.p.edges.end(), std::make_pair(path[i], path[i + 1])),
                g.p.edges.end());
  }
  PathPrompt p = path_parse("a>bc y>zz bc>q a>x x>k m>y|a?q,zz=");
  EXPECT_EQ(path_cot(p, "bfs"), "a bc,x q");
  EXPECT_EQ(path_cot(p, "path"), "a>bc>q");
}

// The default chain of thought walks back from the candidates along real edges, one in-edge
// per step; the walk that ends at start begins with the answer, and it is the last one.
TEST(TaskPath, ChainOfThoughtWalksBack) {
  for (const auto& x : gen("path", 1000, "train", 7)) {
    Graph g = analyse(x.prompt);
    std::vector<std::string> walks = split_on(cot_of(x), ' ');
    ASSERT_EQ(walks.size(), x.answer == g.p.c1 ? 1u : 2u) << x.prompt << " -> " << x.completion;
    for (size_t w = 0; w < walks.size(); w++) {
      std::vector<std::string> nodes = split_on(walks[w], '<');
      EXPECT_EQ(nodes.front(), w == 0 ? g.p.c1 : g.p.c2) << x.completion;
      for (size_t i = 0; i + 1 < nodes.size(); i++) {
        // Exactly one in-edge, and the walk takes it.
        std::vector<std::string> parents;
        for (auto& [u, v] : g.p.edges)
          if (v == nodes[i]) parents.push_back(u);
        EXPECT_EQ(parents, std::vector<std::string>{nodes[i + 1]}) << x.prompt;
      }
      bool last = w + 1 == walks.size();
      if (last) {
        EXPECT_EQ(nodes.front(), x.answer);
        EXPECT_EQ(nodes.back(), g.p.start) << x.completion;
        EXPECT_EQ((int)nodes.size() - 1, g.dist[x.answer]) << x.completion;
      } else {  // the distractor's walk ends at a node without in-edges, never at start
        EXPECT_NE(nodes.back(), g.p.start);
        for (auto& [u, v] : g.p.edges) EXPECT_NE(v, nodes.back()) << x.prompt;
        EXPECT_GE(nodes.size(), 3u) << "the distractor lies 2+ edges below its root";
      }
    }
    EXPECT_EQ(task_cot("path", x.prompt), cot_of(x));
  }
  PathPrompt p = path_parse("a>bc y>zz bc>q a>x x>k m>y|a?q,zz=");
  EXPECT_EQ(path_cot(p, "back"), "q<bc<a");
  p = path_parse("a>bc y>zz bc>q a>x x>k m>y|a?zz,q=");
  EXPECT_EQ(path_cot(p, "back"), "zz<y<m q<bc<a");
  // A prompt made elsewhere may have several in-edges: reachable nodes step to their search
  // parent, unreachable ones to their first in-edge not yet walked (no loops).
  p = path_parse("k>y y>zz z>zz bc>q a>bc zz>k x>q a>x|a?zz,q=");
  EXPECT_EQ(path_cot(p, "back"), "zz<y<k q<bc<a");
}

// ---- checker, solver, answer extraction ----

TEST(TaskChecker, AcceptsTheAnswerAndRejectsWrongOnes) {
  EXPECT_TRUE(task_check("add", "123+45=", "168"));
  EXPECT_TRUE(task_check("add", "123+45=", " 168\n"));
  for (const char* bad : {"167", "169", "", " ", "16 8", "0168", "+168", "168.", "1680"})
    EXPECT_FALSE(task_check("add", "123+45=", bad)) << bad;
  EXPECT_TRUE(task_check("add", "99999+1=", "100000"));
  EXPECT_TRUE(task_check("mul", "12*34=", "408"));
  EXPECT_TRUE(task_check("mul", "0*34=", "0"));
  for (const char* bad : {"407", "409", "", "4 08", "00"})
    EXPECT_FALSE(task_check("mul", "12*34=", bad)) << bad;
  EXPECT_EQ(task_solve("mul", "123456789012*987654321098="), "121932631136585886175176");
  const std::string path = "a>b b>c x>y y>z|a?z,c=";
  EXPECT_EQ(task_solve("path", path), "c");
  EXPECT_TRUE(task_check("path", path, " c "));
  for (const char* bad : {"z", "a", "", "cc", "c,z", "C"})
    EXPECT_FALSE(task_check("path", path, bad)) << bad;
  for (const auto& x : gen("mix", 300, "test", 11)) {
    EXPECT_TRUE(task_check(x.task, x.prompt, x.answer));
    EXPECT_TRUE(task_check(x.task, x.prompt, task_cot_answer(x.completion)));
  }
}

TEST(TaskChecker, MalformedPromptsAreErrors) {
  for (const char* p : {"1+2", "1+2=3", "+2=", "1+=", "a+b=", "01+2=", "1-2=", "1 + 2=", "1+2+3=",
                        "-1+2=", ""})
    EXPECT_THROW(task_solve("add", p), Error) << p;
  for (const char* p : {"1*2", "1x2=", "2*02=", "1+2="}) EXPECT_THROW(task_solve("mul", p), Error) << p;
  EXPECT_THROW(task_check("add", "1+2", "3"), Error);
  for (const char* p : {"a>b|a?b,c", "a>b a?b,c=", "a>b||a?b,c=", "a>b  b>c|a?c,d=", "a>b|a?c=",
                        "A>b|a?b,c=", "abcd>b|a?b,c=", "a>b|a?b,b=", "|a?b,c=", "a-b|a?b,c=",
                        "a>b b>c|a?b,c=", "a>b|a?c,d=", "a>b |a?b,c="})
    EXPECT_THROW(task_solve("path", p), Error) << p;
  EXPECT_THROW(task_solve("sub", "1-2="), Error);
  try {
    task_solve("path", "a>b b>c|a?b,c=");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("both"), std::string::npos) << e.what();
  }
}

TEST(TaskCotAnswer, TakesTheTextAfterThinking) {
  EXPECT_EQ(task_cot_answer("<think>1+2+0=3,3</think>3<|endoftext|>"), "3");
  EXPECT_EQ(task_cot_answer("<think>x</think> 42 \n<|endoftext|>junk"), "42");
  EXPECT_EQ(task_cot_answer("<think>x</think>42"), "42");
  EXPECT_EQ(task_cot_answer("x</think>42</think>7"), "42</think>7");
  EXPECT_EQ(task_cot_answer("<think>1+2+0=3,3 still thinking"), "");
  EXPECT_EQ(task_cot_answer(" 42<|endoftext|>"), "42");
  EXPECT_EQ(task_cot_answer(""), "");
  EXPECT_EQ(task_cot_answer("<think></think><|endoftext|>"), "");
}

// ---- splits, dedupe, determinism ----

TEST(TaskSplits, NeverShareAnInstance) {
  for (const std::string task : {"add", "mul", "path"}) {
    std::map<std::string, std::string> owner;  // canonical key -> split
    int n = task == "path" ? 300 : 1000;
    for (auto [split, seed] : std::vector<std::pair<std::string, int>>{
             {"train", 1}, {"val", 2}, {"test", 3}, {"train", 3}, {"test", 1}}) {
      std::set<std::string> keys;
      for (const auto& x : gen(task, split == "train" ? n : n / 5, split, seed)) {
        EXPECT_EQ(task_split_of(task, x.prompt), split) << x.prompt;
        std::string key = task_canonical_key(task, x.prompt);
        EXPECT_TRUE(keys.insert(key).second) << "duplicate in one file: " << x.prompt;
        auto [it, fresh] = owner.emplace(key, split);
        EXPECT_EQ(it->second, split) << "shared between splits: " << x.prompt;
      }
    }
  }
  // Commuted operands are the same instance.
  EXPECT_EQ(task_canonical_key("add", "12+345="), task_canonical_key("add", "345+12="));
  EXPECT_EQ(task_canonical_key("mul", "9*10="), task_canonical_key("mul", "10*9="));
  EXPECT_EQ(task_canonical_key("path", "a>b x>y|a?b,y="), task_canonical_key("path", "x>y a>b|a?y,b="));
  // Buckets: about 90 / 5 / 5 over all 3-digit pairs.
  std::map<std::string, int> count;
  for (int a = 100; a < 1000; a += 7)
    for (int b = a; b < 1000; b += 3) count[task_split_of("add", std::to_string(a) + "+" + std::to_string(b) + "=")]++;
  double total = count["train"] + count["val"] + count["test"];
  EXPECT_NEAR(count["train"] / total, 0.90, 0.01);
  EXPECT_NEAR(count["val"] / total, 0.05, 0.01);
  EXPECT_NEAR(count["test"] / total, 0.05, 0.01);
}

TEST(TaskSplits, SmallSpacesAreExhaustedThenRefused) {
  TaskParams p;
  p.add_max_digits = 1;
  int train_keys = 0;
  for (int a = 0; a < 10; a++)
    for (int b = a; b < 10; b++)
      train_keys += task_split_of("add", std::to_string(a) + "+" + std::to_string(b) + "=") == "train";
  auto xs = gen("add", train_keys, "train", 0, p);
  std::set<std::string> keys;
  for (const auto& x : xs) keys.insert(task_canonical_key("add", x.prompt));
  EXPECT_EQ((int)keys.size(), train_keys);
  try {
    gen("add", train_keys + 1, "train", 0, p);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("distinct"), std::string::npos) << e.what();
  }
}

TEST(TaskSplits, RepeatsKeepEverySmallClassItsShare) {
  // Without repeats, add's 1+1 digit class runs dry at its ~50 train keys (0.3 % of 15,000);
  // with them it keeps its 1/25 of the draws, and every instance stays in its split.
  DataSpec spec;
  spec.task = "add";
  spec.split = "train";
  spec.seed = 3;
  spec.n = 15000;
  auto count_small = [](const std::vector<TaskInstance>& xs) {
    int n = 0;
    for (const auto& x : xs) n += task_difficulty("add", x.prompt) == "1+1";
    return n;
  };
  auto distinct = data_generate(spec);
  EXPECT_LE(count_small(distinct), 55);
  spec.repeats = true;
  auto repeated = data_generate(spec);
  EXPECT_NEAR(count_small(repeated) / 15000.0, 1.0 / 25, 0.006);
  for (const auto& x : repeated) ASSERT_EQ(task_split_of("add", x.prompt), "train") << x.prompt;
  EXPECT_EQ(data_to_jsonl(repeated), data_to_jsonl(data_generate(spec)));
  // a space too small for n without repeats is fine with them
  spec.params.add_max_digits = 1;
  spec.n = 500;
  EXPECT_EQ((int)data_generate(spec).size(), 500);
}

TEST(TaskData, IsDeterministicAndPrefixStable) {
  for (const std::string task : {"add", "mul", "path", "mix"}) {
    std::string a = data_to_jsonl(gen(task, 60, "val", 42));
    EXPECT_EQ(a, data_to_jsonl(gen(task, 60, "val", 42))) << task;
    EXPECT_NE(a, data_to_jsonl(gen(task, 60, "val", 43))) << task;
    std::string longer = data_to_jsonl(gen(task, 90, "val", 42));
    EXPECT_EQ(longer.substr(0, a.size()), a) << task;
  }
}

TEST(TaskData, JsonlLinesAndMix) {
  std::string text = data_to_jsonl(gen("mix", 30, "train", 5));
  std::istringstream in(text);
  std::string line;
  int i = 0;
  std::vector<TaskInstance> adds = gen("add", 10, "train", 5);
  while (std::getline(in, line)) {
    auto j = nlohmann::ordered_json::parse(line);
    std::vector<std::string> keys;
    for (auto& [k, v] : j.items()) keys.push_back(k);
    std::vector<std::string> want = {"id", "task", "prompt", "answer", "completion", "steps"};
    if (j["task"] == "path") want.push_back("soft_targets");
    EXPECT_EQ(keys, want);
    EXPECT_EQ(j["id"], "mix-train-" + std::to_string(i));
    EXPECT_EQ(j["task"], task_names()[i % 3]);
    EXPECT_EQ(task_cot_answer(j["completion"]), j["answer"]);
    if (i % 3 == 0) {  // a mix interleaves the tasks' streams
      EXPECT_EQ(j["prompt"], adds[i / 3].prompt);
    }
    i++;
  }
  EXPECT_EQ(i, 30);
  EXPECT_EQ(gen("path", 3, "test", 1)[2].id, "path-test-2");
}

TEST(TaskData, PathSoftTargetsAreTheFrontiers) {
  // "a>bc y>zz bc>q a>x x>k m>y|a?q,zz=": layer 1 = {bc, x}, layer 2 = {q, k}; q is the answer
  auto st = path_soft_targets(path_parse("a>bc y>zz bc>q a>x x>k m>y|a?q,zz="));
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0], (std::vector<std::pair<std::string, double>>{{"bc", 0.5}, {"x", 0.5}}));
  EXPECT_EQ(st[1], (std::vector<std::pair<std::string, double>>{{"q", 0.5}, {"k", 0.5}}));
  for (const auto& x : gen("path", 40, "train", 3)) {
    PathPrompt p = path_parse(x.prompt);
    auto layers = path_bfs_layers(p);
    ASSERT_GE(x.soft_targets.size(), 2u) << x.prompt;  // depth >= 2
    ASSERT_LT(x.soft_targets.size(), layers.size());
    for (size_t t = 0; t < x.soft_targets.size(); t++) {
      double sum = 0;
      ASSERT_EQ(x.soft_targets[t].size(), layers[t + 1].size());
      for (size_t i = 0; i < layers[t + 1].size(); i++) {
        EXPECT_EQ(x.soft_targets[t][i].first, layers[t + 1][i]);
        sum += x.soft_targets[t][i].second;
      }
      EXPECT_NEAR(sum, 1.0, 1e-12);
    }
    const auto& last = x.soft_targets.back();  // the answer, first reached at the last hop
    EXPECT_TRUE(std::any_of(last.begin(), last.end(),
                            [&](const auto& e) { return e.first == x.answer; }))
        << x.prompt;
  }
  for (const auto& x : gen("add", 3, "train", 3)) EXPECT_TRUE(x.soft_targets.empty());
}

TEST(TaskData, DifficultyClasses) {
  EXPECT_EQ(task_difficulty("add", "7+2="), "1+1");
  EXPECT_EQ(task_difficulty("add", "45289+734="), "5+3");
  EXPECT_EQ(task_difficulty("mul", "8574*92="), "4x2");
  EXPECT_EQ(task_difficulty("path", "a>bc y>zz bc>q a>x x>k m>y|a?q,zz="), "depth 2");
  for (const auto& x : gen("path", 20, "val", 2)) {
    const std::string d = task_difficulty("path", x.prompt);
    EXPECT_EQ(d, "depth " + std::to_string(x.soft_targets.size()));
  }
  EXPECT_THROW(task_difficulty("add", "7+="), Error);
  EXPECT_THROW(task_difficulty("div", "1/2="), Error);
}

TEST(TaskData, NoCotAndPathCotOptions) {
  TaskParams p;
  p.cot = false;
  for (const auto& x : gen("mix", 12, "train", 1, p))
    EXPECT_EQ(x.completion, std::string(kThinkOpen) + kThinkClose + x.answer + kEndOfText);
  p = TaskParams{};
  p.path_cot = "path";
  for (const auto& x : gen("path", 50, "train", 1, p)) {
    std::string cot = cot_of(x);
    EXPECT_EQ(cot, path_cot(path_parse(x.prompt), "path"));
    EXPECT_EQ(split_on(cot, '>').back(), x.answer);
  }
}

TEST(TaskData, DefaultLengthsStayShort) {
  std::map<std::string, size_t> max_total, max_cot;
  for (const auto& x : gen("mix", 3000, "train", 2)) {
    max_total[x.task] = std::max(max_total[x.task], x.prompt.size() + x.completion.size());
    max_cot[x.task] = std::max(max_cot[x.task], cot_of(x).size());
  }
  EXPECT_LE(max_cot["add"], 80u);
  EXPECT_LE(max_cot["mul"], 165u);  // the most over all default operands (9999*99= and others)
  EXPECT_LE(max_cot["path"], 60u);
  EXPECT_LE(max_total["add"], 130u);
  EXPECT_LE(max_total["mul"], 207u);  // the most over all default operands (9999*99=)
  EXPECT_EQ(mul_cot("9999", "99").size(), 165u);  // those worst cases, checked offline
  EXPECT_LE(max_total["path"], 240u);
}

TEST(TaskData, BadSpecsAreOneLineErrors) {
  auto expect_bad = [](const std::function<void(DataSpec&)>& edit, const std::string& needle) {
    DataSpec s;
    s.n = 5;
    edit(s);
    try {
      data_generate(s);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  expect_bad([](DataSpec& s) { s.n = 0; }, "--n");
  expect_bad([](DataSpec& s) { s.task = "sub"; }, "unknown task");
  expect_bad([](DataSpec& s) { s.split = "dev"; }, "unknown split");
  expect_bad([](DataSpec& s) { s.params.add_min_digits = 4, s.params.add_max_digits = 3; }, "--min-digits");
  expect_bad([](DataSpec& s) { s.params.add_min_digits = 0; }, "--min-digits");
  expect_bad([](DataSpec& s) { s.params.add_max_digits = 99; }, "--max-digits");
  expect_bad([](DataSpec& s) { s.task = "mul", s.params.mul_b_min_digits = 3; }, "--b-min-digits");
  expect_bad([](DataSpec& s) { s.task = "path", s.params.path_min_depth = 5, s.params.path_max_depth = 4; },
             "--min-depth");
  expect_bad([](DataSpec& s) { s.task = "path", s.params.path_min_depth = 4, s.params.path_max_nodes = 9; },
             "too few for depth 4");
  expect_bad([](DataSpec& s) { s.task = "path", s.params.path_max_edges = 5, s.params.path_min_edges = 5; },
             "--max-edges 5 is too few");
  expect_bad([](DataSpec& s) { s.task = "path", s.params.path_min_edges = 200, s.params.path_max_edges = 300; },
             "--min-edges 200 is too many");
  expect_bad([](DataSpec& s) { s.task = "path", s.params.path_cot = "dfs"; }, "--path-cot");
  expect_bad([](DataSpec& s) { s.task = "mix", s.params.path_max_nodes = 4; }, "--max-nodes");
}

TEST(TaskData, StepsConcatenateToTheChainOfThought) {
  for (const char* mode : {"back", "bfs", "path"})
    for (const std::string task : {"add", "mul", "path"}) {
      if (task != "path" && std::string(mode) != "back") continue;
      DataSpec spec;
      spec.task = task;
      spec.n = 40;
      spec.split = "train";
      spec.seed = 9;
      spec.params.path_cot = mode;
      for (const TaskInstance& x : data_generate(spec)) {
        const std::string cot = task_cot(task, x.prompt, mode);
        const std::string ends = task != "path"              ? " "
                                 : std::string(mode) == "back" ? " <"
                                 : std::string(mode) == "bfs"  ? " "
                                                               : ">";
        std::string joined;
        for (size_t i = 0; i < x.steps.size(); i++) {
          const std::string& st = x.steps[i];
          ASSERT_FALSE(st.empty());
          // one separator, at the end (none in the last step)
          const size_t sep = st.find_first_of(ends);
          EXPECT_EQ(sep, i + 1 < x.steps.size() ? st.size() - 1 : std::string::npos) << st;
          joined += st;
        }
        EXPECT_EQ(joined, cot) << task << " " << mode;
      }
    }
  // the documented examples
  EXPECT_EQ(task_cot_steps("add", "7+3+0=10,0 6+6+1=13,30"),
            (std::vector<std::string>{"7+3+0=10,0 ", "6+6+1=13,30"}));
  EXPECT_EQ(task_cot_steps("path", "zz<y<m q<bc<a", "back"),
            (std::vector<std::string>{"zz<", "y<", "m ", "q<", "bc<", "a"}));
  EXPECT_EQ(task_cot_steps("path", "a bc,x q", "bfs"),
            (std::vector<std::string>{"a ", "bc,x ", "q"}));
  EXPECT_EQ(task_cot_steps("path", "a>bc>q", "path"),
            (std::vector<std::string>{"a>", "bc>", "q"}));
  EXPECT_TRUE(task_cot_steps("add", "").empty());
}

}  // namespace
}  // namespace softslm
