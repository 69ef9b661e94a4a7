#include "train/data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/io.h"
#include "train/train_config.h"

namespace softslm {

namespace {

constexpr char kCacheMagic[8] = {'S', 'S', 'L', 'M', 'T', 'O', 'K', '1'};
constexpr uint32_t kCacheVersion = 1;

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

template <typename T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
void put_array(std::string& out, const std::vector<T>& v) {
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

struct Reader {
  const std::string& data;
  size_t pos = 0;
  bool ok = true;
  template <typename T>
  T get() {
    T v{};
    if (pos + sizeof v > data.size()) {
      ok = false;
      return v;
    }
    std::memcpy(&v, data.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  template <typename T>
  void get_array(std::vector<T>& v, uint64_t n) {
    if (!ok || n > (data.size() - pos) / sizeof(T)) {
      ok = false;
      return;
    }
    v.resize(n);
    std::memcpy(v.data(), data.data() + pos, n * sizeof(T));
    pos += n * sizeof(T);
  }
};

// Loads a cache file; false when absent, malformed or keyed differently.
bool cache_read(const std::string& path, uint64_t key, TokenStream* s) {
  if (path.empty() || !file_exists(path)) return false;
  std::string data;
  try {
    data = read_file(path, memory_available_bytes());
  } catch (const Error&) {
    return false;
  }
  if (data.size() < 8 || std::memcmp(data.data(), kCacheMagic, 8) != 0) return false;
  Reader r{data, 8};
  if (r.get<uint32_t>() != kCacheVersion || r.get<uint64_t>() != key) return false;
  uint64_t n = r.get<uint64_t>(), nd = r.get<uint64_t>();
  r.get_array(s->tokens, n);
  r.get_array(s->mask, n);
  r.get_array(s->doc_ends, nd);
  if (!r.ok || r.pos != data.size()) return false;
  s->from_cache = true;
  return true;
}

void cache_write(const std::string& path, uint64_t key, const TokenStream& s) {
  std::string out;
  out.reserve(40 + s.tokens.size() * 5 + s.doc_ends.size() * 8);
  out.append(kCacheMagic, 8);
  put(out, kCacheVersion);
  put(out, key);
  put(out, (uint64_t)s.tokens.size());
  put(out, (uint64_t)s.doc_ends.size());
  put_array(out, s.tokens);
  put_array(out, s.mask);
  put_array(out, s.doc_ends);
  write_file_atomic(path, out);
}

const std::string* json_string(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  if (!it->is_string()) fail(where, ": \"", key, "\" must be a string");
  return it->get_ptr<const std::string*>();
}

}  // namespace

std::string data_file_format(const std::string& path, const std::string& format) {
  if (format != "auto") return format;
  return ends_with(path, ".jsonl") || ends_with(path, ".json") ? "jsonl" : "text";
}

std::vector<Document> data_read_documents(const std::string& path, const std::string& format) {
  return data_parse_documents(read_file(path, memory_available_bytes()),
                              data_file_format(path, format), path);
}

std::vector<Document> data_parse_documents(const std::string& text_in, const std::string& format,
                                           const std::string& path) {
  std::string text = text_in;
  std::vector<Document> docs;
  if (format == "text") {
    docs.push_back(Document{"", std::move(text), {}, {}, path});
    return docs;
  }
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    line_no++;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    std::string where = path + ":" + std::to_string(line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      std::string msg = e.what();
      size_t p = msg.find("] ");
      fail(where, ": invalid JSON (", p == std::string::npos ? msg : msg.substr(p + 2), ")");
    }
    if (!j.is_object()) fail(where, ": expected a JSON object");
    const std::string* t = json_string(j, "text", where);
    const std::string* pr = json_string(j, "prompt", where);
    const std::string* co = json_string(j, "completion", where);
    if (t && (pr || co)) fail(where, ": give either \"text\" or \"prompt\"/\"completion\", not both");
    Document d;
    if (t)
      d.completion = *t;
    else if (pr && co)
      d.prompt = *pr, d.completion = *co;
    else
      fail(where, ": expected {\"text\": ...} or {\"prompt\": ..., \"completion\": ...}");
    if (auto it = j.find("steps"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) fail(where, ": \"steps\" must be an array of strings");
      for (const auto& x : *it) {
        if (!x.is_string()) fail(where, ": \"steps\" must be an array of strings");
        d.steps.push_back(x.get<std::string>());
      }
    }
    if (auto it = j.find("soft_targets"); it != j.end() && !it->is_null()) {
      const char* shape = ": \"soft_targets\" must be an array of objects {token: weight > 0}";
      if (!it->is_array()) fail(where, shape);
      for (const auto& hop : *it) {
        if (!hop.is_object() || hop.empty()) fail(where, shape);
        std::vector<std::pair<std::string, double>> h;
        for (const auto& [k, w] : hop.items()) {
          if (!w.is_number() || !std::isfinite(w.get<double>()) || w.get<double>() <= 0)
            fail(where, ": soft target '", k, "' of hop ", d.soft_targets.size() + 1,
                 " must have a weight > 0");
          h.push_back({k, w.get<double>()});
        }
        d.soft_targets.push_back(std::move(h));
      }
    }
    d.where = where;
    docs.push_back(std::move(d));
  }
  return docs;
}

TokenStream data_tokenize(const Tokenizer& tok, const std::vector<Document>& docs,
                          bool completion_only_loss) {
  int eot = tokenizer_special_id(tok, kEndOfText);
  check(eot >= 0, "the tokenizer has no ", kEndOfText, " token");
  std::vector<std::vector<int>> prompt_ids(docs.size()), completion_ids(docs.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < docs.size(); i++) {
    prompt_ids[i] = tokenizer_encode(tok, docs[i].prompt, true);
    completion_ids[i] = tokenizer_encode(tok, docs[i].completion, true);
  }
  TokenStream s;
  for (size_t i = 0; i < docs.size(); i++) {
    uint8_t prompt_mask = completion_only_loss ? 0 : 1;
    for (int id : prompt_ids[i]) s.tokens.push_back(id), s.mask.push_back(prompt_mask);
    for (int id : completion_ids[i]) s.tokens.push_back(id), s.mask.push_back(1);
    if (s.tokens.empty() || s.tokens.back() != eot) {  // a document that ends itself keeps one
      s.tokens.push_back(eot);
      s.mask.push_back(1);
    }
    s.doc_ends.push_back(s.tokens.size());
  }
  return s;
}

uint64_t tokenizer_hash(const Tokenizer& tok) {
  uint64_t h = fnv1a(std::string("softslm-tokenizer"));
  for (const auto& b : tok.id_to_bytes) h = fnv1a(b, h);
  for (const auto& [l, r] : tok.merges) h = fnv1a(r, fnv1a(l, h));
  for (const auto& [content, id] : tok.specials) {
    h = fnv1a(content, h);
    h = fnv1a(&id, sizeof id, h);
  }
  return h;
}

TokenStream data_load_stream(const std::vector<std::string>& files, const std::string& format,
                             bool completion_only_loss, const Tokenizer& tok,
                             const std::string& cache_path) {
  std::vector<std::string> contents;
  uint64_t key = fnv1a(std::string("softslm-data-v2"));
  key = fnv1a(&completion_only_loss, 1, key);
  key = fnv1a(std::to_string(tokenizer_hash(tok)), key);
  for (const auto& f : files) {
    contents.push_back(read_file(f, memory_available_bytes()));
    key = fnv1a(data_file_format(f, format), key);
    key = fnv1a(contents.back(), key);
  }
  TokenStream s;
  if (cache_read(cache_path, key, &s)) return s;
  std::vector<Document> docs;
  for (size_t i = 0; i < files.size(); i++) {
    const std::string& f = files[i];
    auto d = data_parse_documents(contents[i], data_file_format(f, format), f);
    bool any_prompt = false;
    for (const Document& x : d) any_prompt = any_prompt || !x.prompt.empty();
    check(!completion_only_loss || any_prompt, "config key 'data.completion_only_loss' is true "
          "but ", f, " has no {\"prompt\", \"completion\"} rows (plain text trains on every "
          "token): set it to false, or give JSONL with prompts");
    for (auto& x : d) docs.push_back(std::move(x));
  }
  s = data_tokenize(tok, docs, completion_only_loss);
  if (!cache_path.empty()) cache_write(cache_path, key, s);
  return s;
}

DataSplits data_split(TokenStream all, double val_fraction) {
  DataSplits out;
  size_t n = all.tokens.size(), nd = all.doc_ends.size();
  size_t cut;  // token offset where the held-out part starts
  size_t val_docs = (size_t)std::llround(val_fraction * (double)nd);
  if (nd >= 2 && val_docs >= 1) {
    val_docs = std::min(val_docs, nd - 1);
    cut = all.doc_ends[nd - val_docs - 1];
  } else {
    cut = n - (size_t)std::ceil(val_fraction * (double)n);
  }
  auto take = [&](TokenStream& dst, size_t a, size_t b) {
    dst.tokens.assign(all.tokens.begin() + a, all.tokens.begin() + b);
    dst.mask.assign(all.mask.begin() + a, all.mask.begin() + b);
    for (uint64_t e : all.doc_ends)
      if (e > a && e <= b) dst.doc_ends.push_back(e - a);
    if (dst.doc_ends.empty() || dst.doc_ends.back() != b - a) dst.doc_ends.push_back(b - a);
    dst.from_cache = all.from_cache;
  };
  take(out.train, 0, cut);
  take(out.val, cut, n);
  return out;
}

DataSplits data_load(const TrainConfig& cfg, const Tokenizer& tok, const std::string& cache_dir) {
  auto cache = [&](const char* name) {
    return cache_dir.empty() ? std::string() : cache_dir + "/" + name;
  };
  DataSplits d;
  TokenStream train = data_load_stream(cfg.train_files, cfg.format, cfg.completion_only_loss, tok,
                                       cache("tokens-train.bin"));
  if (cfg.val_files.empty()) {
    d = data_split(std::move(train), cfg.val_fraction);
  } else {
    d.train = std::move(train);
    d.val = data_load_stream(cfg.val_files, cfg.format, cfg.completion_only_loss, tok,
                             cache("tokens-val.bin"));
  }
  size_t need = (size_t)cfg.seq_len + 1;
  check(d.train.tokens.size() >= need, "training data has ", d.train.tokens.size(),
        " tokens, fewer than seq_len + 1 = ", need);
  check(d.val.tokens.size() >= need, "validation data has ", d.val.tokens.size(),
        " tokens, fewer than seq_len + 1 = ", need,
        cfg.val_files.empty() ? " (raise data.val_fraction, lower seq_len or give data.val)" : "");
  return d;
}

namespace {

void start_epoch(BatchSampler& sp) {
  sp.epoch_rng = sp.rng.state;
  uint64_t n = sp.stream->tokens.size(), T = sp.T;
  if (sp.align) {  // a permutation of the documents
    uint64_t docs = sp.stream->doc_ends.size();
    sp.perm.resize(docs);
    for (uint64_t i = 0; i < docs; i++) sp.perm[i] = (uint32_t)i;
    for (uint64_t i = docs - 1; i > 0; i--) std::swap(sp.perm[i], sp.perm[rng_below(sp.rng, i + 1)]);
    sp.shift = 0;
    sp.cursor = 0;
    return;
  }
  sp.shift = rng_below(sp.rng, std::min<uint64_t>(T, n - T));  // n >= T + 1
  uint64_t chunks = (n - 1 - sp.shift) / T;
  sp.perm.resize(chunks);
  for (uint64_t i = 0; i < chunks; i++) sp.perm[i] = (uint32_t)i;
  for (uint64_t i = chunks - 1; i > 0; i--) std::swap(sp.perm[i], sp.perm[rng_below(sp.rng, i + 1)]);
  sp.cursor = 0;
}

void fill_window(const TokenStream& s, size_t off, int T, int* in, int* tgt) {
  const size_t n = s.tokens.size();
  for (int t = 0; t < T; t++) {  // past the end of the stream: padding without loss
    in[t] = off + t < n ? s.tokens[off + t] : s.tokens[n - 1];
    tgt[t] = off + t + 1 < n && s.mask[off + t + 1] ? s.tokens[off + t + 1] : -1;
  }
}

}  // namespace

BatchSampler batch_sampler_create(const TokenStream& s, int B, int T, uint64_t seed, bool align) {
  check(s.tokens.size() >= (size_t)T + 1, "training stream shorter than seq_len + 1");
  check(!align || !s.doc_ends.empty(), "training stream has no documents to align to");
  check(s.tokens.size() - 1 <= (uint64_t)UINT32_MAX * T, "training stream too long");
  BatchSampler sp;
  sp.stream = &s;
  sp.B = B;
  sp.T = T;
  sp.align = align;
  sp.rng = rng_init(seed ^ 0x5A3D1E5EEDull);
  start_epoch(sp);
  return sp;
}

void batch_sampler_restore(BatchSampler& sp, uint64_t epoch_rng, uint64_t epoch, uint64_t cursor) {
  sp.rng.state = epoch_rng;
  start_epoch(sp);
  sp.epoch = epoch;
  sp.cursor = std::min<uint64_t>(cursor, sp.perm.size());
}

void batch_sampler_next(BatchSampler& sp, int* inputs, int* targets) {
  for (int b = 0; b < sp.B; b++) {
    if (sp.cursor >= sp.perm.size()) {
      sp.epoch++;
      start_epoch(sp);
    }
    uint32_t i = sp.perm[sp.cursor++];
    size_t off = sp.align ? (i == 0 ? 0 : sp.stream->doc_ends[i - 1]) : sp.shift + (size_t)i * sp.T;
    fill_window(*sp.stream, off, sp.T, inputs + (size_t)b * sp.T, targets + (size_t)b * sp.T);
  }
}

void eval_batches(const TokenStream& s, int B, int T, int n_batches, std::vector<int>* inputs,
                  std::vector<int>* targets, bool align) {
  size_t count = (size_t)n_batches * B, span = s.tokens.size() - (size_t)T - 1;
  inputs->assign(count * T, 0);
  targets->assign(count * T, -1);
  const size_t docs = s.doc_ends.size();
  for (size_t j = 0; j < count; j++) {
    size_t off = count == 1 ? 0 : (size_t)((double)span * (double)j / (double)(count - 1));
    if (align && docs > 0) {
      size_t d = count == 1 ? 0 : (size_t)((double)(docs - 1) * (double)j / (double)(count - 1));
      off = d == 0 ? 0 : s.doc_ends[d - 1];
    }
    fill_window(s, off, T, inputs->data() + j * T, targets->data() + j * T);
  }
}

}  // namespace softslm
