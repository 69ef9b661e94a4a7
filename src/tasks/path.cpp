// path: graph reachability instances (ProsQA-like), parsing, breadth-first search, CoT.
#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "base/error.h"
#include "tasks/tasks.h"

namespace softslm {

bool path_name_ok(const std::string& name) {
  if (name.empty() || name.size() > 3) return false;
  for (char c : name)
    if (c < 'a' || c > 'z') return false;
  return true;
}

PathPrompt path_parse(const std::string& prompt) {
  auto bad = [&](const char* why) { fail("path prompt ", why, ": \"", prompt, "\""); };
  if (prompt.empty() || prompt.back() != '=') bad("must end with '='");
  size_t bar = prompt.find('|');
  if (bar == std::string::npos || prompt.find('|', bar + 1) != std::string::npos)
    bad("must have exactly one '|' between the edges and the question");
  PathPrompt p;
  std::string edges = prompt.substr(0, bar);
  if (edges.empty()) bad("has no edges");
  size_t pos = 0;
  while (true) {
    size_t sp = edges.find(' ', pos);
    std::string e = edges.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
    size_t gt = e.find('>');
    if (gt == std::string::npos) bad("has an edge that is not \"x>y\" (edges are separated by single spaces)");
    std::string u = e.substr(0, gt), v = e.substr(gt + 1);
    if (!path_name_ok(u) || !path_name_ok(v)) bad("has a node name that is not 1-3 lowercase letters");
    p.edges.emplace_back(u, v);
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  std::string q = prompt.substr(bar + 1, prompt.size() - bar - 2);
  size_t qm = q.find('?'), comma = q.find(',');
  if (qm == std::string::npos || comma == std::string::npos || comma < qm)
    bad("must ask \"{start}?{c1},{c2}=\" after the '|'");
  p.start = q.substr(0, qm);
  p.c1 = q.substr(qm + 1, comma - qm - 1);
  p.c2 = q.substr(comma + 1);
  if (!path_name_ok(p.start) || !path_name_ok(p.c1) || !path_name_ok(p.c2))
    bad("has a start or candidate that is not 1-3 lowercase letters");
  if (p.c1 == p.c2) bad("has two equal candidates");
  return p;
}

std::string path_format(const PathPrompt& p) {
  std::string s;
  for (size_t i = 0; i < p.edges.size(); i++) {
    if (i) s += ' ';
    s += p.edges[i].first + ">" + p.edges[i].second;
  }
  return s + "|" + p.start + "?" + p.c1 + "," + p.c2 + "=";
}

namespace {

struct Search {
  std::vector<std::vector<std::string>> layers;
  std::unordered_map<std::string, std::string> parent;  // node -> the source that listed it
};

Search bfs(const PathPrompt& p, const std::string& stop) {
  Search s;
  s.layers.push_back({p.start});
  std::unordered_set<std::string> seen{p.start};
  if (p.start == stop) return s;
  while (true) {
    std::unordered_set<std::string> frontier(s.layers.back().begin(), s.layers.back().end());
    std::vector<std::string> next;
    for (const auto& [u, v] : p.edges) {
      if (!frontier.count(u) || seen.count(v)) continue;
      seen.insert(v);
      next.push_back(v);
      s.parent[v] = u;
      if (v == stop) {
        s.layers.push_back(std::move(next));
        return s;
      }
    }
    if (next.empty()) return s;
    s.layers.push_back(std::move(next));
  }
}

}  // namespace

std::vector<std::vector<std::string>> path_bfs_layers(const PathPrompt& p, const std::string& stop) {
  return bfs(p, stop).layers;
}

std::vector<std::vector<std::pair<std::string, double>>> path_soft_targets(const PathPrompt& p) {
  const std::string answer = path_solve(p);
  const auto layers = bfs(p, "").layers;  // layer 0 is start: no hop
  std::vector<std::vector<std::pair<std::string, double>>> out;
  for (size_t t = 1; t < layers.size() && answer != p.start; t++) {
    std::vector<std::pair<std::string, double>> hop;
    for (const auto& v : layers[t]) hop.push_back({v, 1.0 / (double)layers[t].size()});
    out.push_back(std::move(hop));
    if (std::find(layers[t].begin(), layers[t].end(), answer) != layers[t].end()) break;
  }
  return out;
}

std::string path_solve(const PathPrompt& p) {
  std::unordered_set<std::string> reach;
  for (const auto& layer : bfs(p, "").layers) reach.insert(layer.begin(), layer.end());
  bool r1 = reach.count(p.c1) > 0, r2 = reach.count(p.c2) > 0;
  check(r1 != r2, "path prompt has ", r1 ? "both" : "neither", " of the candidates ", p.c1, ", ",
        p.c2, " reachable from ", p.start, ": \"", path_format(p), "\"");
  return r1 ? p.c1 : p.c2;
}

std::string path_cot(const PathPrompt& p, const std::string& mode) {
  std::string answer = path_solve(p);
  Search s = bfs(p, mode == "back" ? "" : answer);
  std::string out;
  if (mode == "bfs") {
    for (size_t k = 0; k < s.layers.size(); k++) {
      if (k) out += ' ';
      for (size_t i = 0; i < s.layers[k].size(); i++) out += (i ? "," : "") + s.layers[k][i];
    }
    return out;
  }
  if (mode == "back") {
    // Walk back from a candidate: a reachable node steps to its search parent (so the walk
    // reaches start), an unreachable one to the source of its first in-edge not yet walked.
    auto walk = [&](const std::string& c) {
      std::vector<std::string> nodes{c};
      while (nodes.back() != p.start) {
        const std::string& cur = nodes.back();
        auto it = s.parent.find(cur);
        std::string next;
        if (it != s.parent.end()) {
          next = it->second;
        } else {
          for (const auto& [u, v] : p.edges)
            if (v == cur && std::find(nodes.begin(), nodes.end(), u) == nodes.end()) {
              next = u;
              break;
            }
        }
        if (next.empty()) break;
        nodes.push_back(next);
      }
      std::string w;
      for (size_t i = 0; i < nodes.size(); i++) {
        if (i) w += '<';
        w += nodes[i];
      }
      return w;
    };
    out = walk(p.c1);
    if (p.c1 != answer) out += " " + walk(p.c2);
    return out;
  }
  check(mode == "path", "unknown path chain of thought \"", mode, "\" (expected back, bfs or path)");
  std::vector<std::string> nodes{answer};
  while (nodes.back() != p.start) nodes.push_back(s.parent.at(nodes.back()));
  for (size_t i = nodes.size(); i-- > 0;) out += nodes[i] + (i ? ">" : "");
  return out;
}

// ---- Drawing instances ----

namespace {

int uniform_int(Rng& r, int lo, int hi) { return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1)); }

template <typename T>
void shuffle(Rng& r, std::vector<T>& v) {
  for (size_t i = v.size(); i > 1; i--) std::swap(v[i - 1], v[rng_below(r, i)]);
}

// Shortest distances in edges from src over the edge list (-1: unreachable).
std::vector<int> distances(int n, const std::vector<std::pair<int, int>>& edges, int src) {
  std::vector<std::vector<int>> adj(n);
  for (auto [u, v] : edges) adj[u].push_back(v);
  std::vector<int> d(n, -1), q{src};
  d[src] = 0;
  for (size_t i = 0; i < q.size(); i++)
    for (int v : adj[q[i]])
      if (d[v] < 0) d[v] = d[q[i]] + 1, q.push_back(v);
  return d;
}

int distance(int n, const std::vector<std::pair<int, int>>& edges, int src, int dst) {
  return distances(n, edges, src)[dst];
}

}  // namespace

int path_nodes_needed(int depth) { return std::max(depth + 5, 2 * depth + 2); }

TaskDraw path_draw(Rng& r, const TaskParams& p) {
  // Depth D first (the difficulty knob), then nodes N and edges E compatible with it.
  std::vector<int> depths;
  for (int d = p.path_min_depth; d <= p.path_max_depth; d++)
    if (std::max(p.path_min_nodes, path_nodes_needed(d)) <=
        std::min(p.path_max_nodes, p.path_max_edges + 2))
      depths.push_back(d);
  if (depths.empty()) return {};
  const int D = depths[rng_below(r, depths.size())];
  const int N = uniform_int(r, std::max(p.path_min_nodes, path_nodes_needed(D)),
                            std::min(p.path_max_nodes, p.path_max_edges + 2));
  const int e_lo = std::max(p.path_min_edges, N - 2), e_hi = std::min(p.path_max_edges, N * (N - 1) / 2);
  if (e_lo > e_hi) return {};
  const int E = uniform_int(r, e_lo, e_hi);
  const int Dp = uniform_int(r, std::max(2, D - 1), std::min(D + 1, N - D - 3));  // F's depth

  // Node ids by role: 0 = start s, 1..D the path to T = D; D+1 = root of the unreachable
  // region, its chain down to F = D+1+Dp; the rest are extra nodes.
  const int s = 0, T = D, root = D + 1, F = D + 1 + Dp;
  std::vector<char> in_r(N, 0);  // 1: reachable region
  // Locked nodes keep the one in-edge of their chain (root: none), so walking back from T
  // reaches s and walking back from F ends at root, one edge per step.
  std::vector<char> locked(N, 0);
  for (int v = 1; v <= D; v++) locked[v] = 1;
  for (int v = root; v <= F; v++) locked[v] = 1;
  for (int v = 0; v <= D; v++) in_r[v] = 1;
  std::vector<std::pair<int, int>> edges;
  for (int v = 1; v <= D; v++) edges.emplace_back(v - 1, v);
  for (int v = root + 1; v <= F; v++) edges.emplace_back(v - 1, v);
  std::vector<int> extra_r, extra_u;
  for (int v = F + 1; v < N; v++) {
    bool to_r = v == F + 1 || rng_below(r, 2) == 0;
    in_r[v] = to_r;
    (to_r ? extra_r : extra_u).push_back(v);
  }
  // A distractor branch hanging from the path (s included) and ending at depth D-1..D+1.
  const int mR = (int)extra_r.size();
  std::vector<int> attach;
  for (int i = 0; i < D; i++)
    if (std::max(1, D - 1 - i) <= std::min(mR, D + 1 - i)) attach.push_back(i);
  const int at = attach[rng_below(r, attach.size())];
  const int len = uniform_int(r, std::max(1, D - 1 - at), std::min(mR, D + 1 - at));
  std::vector<int> r_nodes, u_nodes;  // possible parents for further extra nodes
  for (int v = 0; v < D; v++) r_nodes.push_back(v);
  for (int v = root; v < F; v++) u_nodes.push_back(v);
  int prev = at;
  for (int i = 0; i < len; i++) {
    edges.emplace_back(prev, extra_r[i]);
    prev = extra_r[i];
    r_nodes.push_back(prev);
  }
  for (int i = len; i < mR; i++) {
    edges.emplace_back(r_nodes[rng_below(r, r_nodes.size())], extra_r[i]);
    r_nodes.push_back(extra_r[i]);
  }
  for (int v : extra_u) {
    edges.emplace_back(u_nodes[rng_below(r, u_nodes.size())], v);
    u_nodes.push_back(v);
  }

  // Extra edges: never into a locked node, never from the reachable region into the other
  // one, never a duplicate, a self-loop or the reverse of an edge, never shortening s -> T.
  std::set<std::pair<int, int>> has(edges.begin(), edges.end());
  auto allowed = [&](int u, int v) {
    return u != v && !locked[v] && !has.count({u, v}) && !has.count({v, u}) &&
           !(in_r[u] && !in_r[v]);
  };
  auto try_add = [&](int u, int v) {
    if (!allowed(u, v)) return false;
    edges.emplace_back(u, v);
    if (in_r[u] && distance(N, edges, s, T) != D) {
      edges.pop_back();
      return false;
    }
    has.insert({u, v});
    return true;
  };
  int X = E - (N - 2);
  if (X >= 1) {  // one edge from the unreachable region into the reachable one
    std::vector<int> us, rs;
    for (int v = 0; v < N; v++)
      if (in_r[v] ? !locked[v] : v != F) (in_r[v] ? rs : us).push_back(v);
    if (!try_add(us[rng_below(r, us.size())], rs[rng_below(r, rs.size())])) return {};
    X--;
  }
  // The candidates get the same number of out-edges (their in-edges are locked at one).
  {
    std::vector<int> out_t, out_f;
    for (int u = 0; u < N; u++) {
      if (u == T || u == F) continue;
      if (allowed(T, u)) out_t.push_back(u);
      if (allowed(F, u)) out_f.push_back(u);
    }
    shuffle(r, out_t), shuffle(r, out_f);
    int k_out = std::min<int>({uniform_int(r, 0, 2), (int)out_t.size(), (int)out_f.size(), X / 2});
    auto add_k = [&](std::vector<int>& pool, int c) {
      int added = 0;
      for (int u : pool)
        if (added < k_out && try_add(c, u)) added++;
      return added == k_out;
    };
    if (!add_k(out_t, T) || !add_k(out_f, F)) return {};
    X -= 2 * k_out;
  }
  if (X > 0) {  // the rest: uniform over the allowed pairs that avoid the candidates
    std::vector<std::pair<int, int>> pairs;
    for (int u = 0; u < N; u++)
      for (int v = 0; v < N; v++)
        if (u != T && u != F && v != T && v != F && allowed(u, v)) pairs.emplace_back(u, v);
    shuffle(r, pairs);
    for (auto [u, v] : pairs)
      if (X > 0 && try_add(u, v)) X--;
    if (X > 0) return {};
  }

  // Names, edge order, candidate order.
  std::vector<std::string> names;
  std::unordered_set<std::string> used;
  while ((int)names.size() < N) {
    std::string nm;
    for (int i = uniform_int(r, 1, 3); i > 0; i--) nm.push_back(char('a' + rng_below(r, 26)));
    if (used.insert(nm).second) names.push_back(nm);
  }
  shuffle(r, edges);
  PathPrompt pp;
  for (auto [u, v] : edges) pp.edges.emplace_back(names[u], names[v]);
  pp.start = names[s];
  pp.c1 = names[T], pp.c2 = names[F];
  if (rng_below(r, 2)) std::swap(pp.c1, pp.c2);
  return TaskDraw{true, path_format(pp)};
}

}  // namespace softslm
