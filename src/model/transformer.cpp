#include "model/transformer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "model/embeddings.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "ops/vec.h"

namespace softslm {

KVCache kv_cache_create(const ModelConfig& cfg, int n_seq) {
  check(n_seq > 0, "KV cache needs at least one sequence (got ", n_seq, ")");
  KVCache kv;
  kv.n_seq = n_seq;
  kv.n_ctx = cfg.n_ctx;
  kv.n_pad = (cfg.n_ctx + 15) / 16 * 16;
  kv.n_layer = cfg.n_layer;
  kv.n_embd = cfg.n_embd;
  size_t n = (size_t)cfg.n_layer * n_seq * kv.n_pad * cfg.n_embd;
  buffer_check_fits(2.0 * cfg.n_layer * n_seq * kv.n_pad * cfg.n_embd * sizeof(float),
                    "a KV cache for " + std::to_string(n_seq) + " sequences of " +
                        std::to_string(cfg.n_ctx) + " positions (fewer sequences at once: "
                        "--batch)");
  kv.k = buffer_zeroed<float>(n);
  kv.v = buffer_zeroed<float>(n);
  return kv;
}

Dtype dtype_parse(const std::string& name) {
  if (name == "f32") return Dtype::kF32;
  if (name == "bf16") return Dtype::kBF16;
  fail("--dtype must be f32 or bf16 (got \"", name, "\")");
}

// dst[l] = the panels of src[l] ([K, N]) for the L layers of a tensor; dst may equal src (in
// place: a layer at a time through a copy).
template <typename T>
static void pack_layers(T* dst, const float* src, int L, int K, int N,
                        std::vector<T> (*pack)(const float*, int, int)) {
#pragma omp parallel for schedule(static)
  for (int l = 0; l < L; l++) {
    std::vector<T> one = pack(src + (size_t)l * K * N, K, N);
    std::copy(one.begin(), one.end(), dst + (size_t)l * K * N);
  }
}

// The panels of m's matrices: into w.storage, or (in_place, float32) into m's memory.
template <typename T>
static void pack_weights(PanelWeights<T>& w, Model& m, bool in_place,
                         std::vector<T> (*pack)(const float*, int, int)) {
  const int C = m.cfg.n_embd, L = m.cfg.n_layer, V = m.cfg.vocab_size;
  const size_t layer = (size_t)L * C * C;  // elements of an [L, C, C] tensor
  float* src[4] = {m.p.qkvw, m.p.attprojw, m.p.fcw, m.p.fcprojw};
  const int K[4] = {C, C, C, 4 * C}, N[4] = {3 * C, C, 4 * C, C};
  const size_t size[4] = {3 * layer, layer, 4 * layer, 4 * layer};
  w.n_storage = (in_place ? 0 : 12 * layer) + (size_t)C * V;
  w.storage = buffer_zeroed<T>(w.n_storage);
  const T* at[4];
  size_t off = 0;
  for (int i = 0; i < 4; i++) {
    T* dst = in_place ? (T*)src[i] : w.storage.get() + off;
    if (!in_place) off += size[i];
    pack_layers(dst, src[i], L, K[i], N[i], pack);
    at[i] = dst;
  }
  w.qkvw = at[0], w.attprojw = at[1], w.fcw = at[2], w.fcprojw = at[3];
  std::vector<float> wteT((size_t)V * C);
  transpose(wteT.data(), m.p.wte, V, C);
  std::vector<T> head = pack(wteT.data(), C, V);
  std::copy(head.begin(), head.end(), w.storage.get() + off);
  w.wteT = w.storage.get() + off;
}

static std::shared_ptr<const InferenceWeights> create(const Model* borrowed, Model* owned,
                                                      Dtype dtype) {
  auto w = std::make_shared<InferenceWeights>();
  if (owned) w->owned = std::move(*owned);
  w->model = owned ? &w->owned : borrowed;
  w->dtype = dtype;
  Model& m = const_cast<Model&>(*w->model);  // written only when owned (in place)
  if (dtype == Dtype::kF32)
    pack_weights<float>(w->w32, m, owned != nullptr, pack_panels);
  else
    pack_weights<uint16_t>(w->w16, m, false, pack_panels_bf16);
  return w;
}

std::shared_ptr<const InferenceWeights> inference_weights_create(const Model& m, Dtype dtype) {
  return create(&m, nullptr, dtype);
}

std::shared_ptr<const InferenceWeights> inference_weights_create(Model&& m, Dtype dtype) {
  return create(nullptr, &m, dtype);
}

Transformer transformer_create(std::shared_ptr<const InferenceWeights> w, int n_seq) {
  check(w != nullptr, "transformer_create needs packed weights");
  Transformer tr;
  tr.cache = kv_cache_create(w->model->cfg, n_seq);
  tr.w = std::move(w);
  return tr;
}

Transformer transformer_create(const Model& m, int n_seq, Dtype dtype) {
  return transformer_create(inference_weights_create(m, dtype), n_seq);
}

static void state_reserve(InferState& st, const ModelConfig& c, int R) {
  if (R <= st.cap_rows) return;
  size_t C = c.n_embd;
  st.cap_rows = R;
  st.x.resize(R * C);
  st.qkv.resize(R * 3 * C);
  st.atty.resize(R * C);
  st.h.resize(R * 4 * C);
  st.h2.resize(R * 4 * C);
  st.hidden.resize(R * C);
}

// att[16 * NB] = scale * q . k for NB consecutive key blocks ([hs, 16] each, bs floats apart):
// NB independent FMA chains, each score the sequential chain over the head's channels.
template <int NB>
static inline void score_blocks(float* att, const float* q, const float* k, int hs, int bs,
                                float scale) {
  v16 a[NB];
  for (int j = 0; j < NB; j++) a[j] = v16{};
  for (int i = 0; i < hs; i++)
    for (int j = 0; j < NB; j++) a[j] += q[i] * v16_load(k + j * bs + i * 16);
  for (int j = 0; j < NB; j++) v16_store(att + j * 16, a[j] * scale);
}

// att[t] = scale * q . k_t for the n positions of a head's keys KB = [n_pad / 16, hs, 16]:
// 16 positions per vector, four blocks at a time, the last one to three blocks together (a
// lone chain would wait on each FMA's latency). Writes att up to n rounded up to 16.
static void scores_blocked(float* att, const float* q, const float* KB, int n, int hs,
                           float scale) {
  const int nb = (n + 15) / 16, bs = hs * 16;
  int b = 0;
  for (; b + 4 <= nb; b += 4) score_blocks<4>(att + b * 16, q, KB + (size_t)b * bs, hs, bs, scale);
  const float* k = KB + (size_t)b * bs;
  switch (nb - b) {
    case 3: score_blocks<3>(att + b * 16, q, k, hs, bs, scale); break;
    case 2: score_blocks<2>(att + b * 16, q, k, hs, bs, scale); break;
    case 1: score_blocks<1>(att + b * 16, q, k, hs, bs, scale); break;
    default: break;
  }
}

// Where head hd's keys (or values) of sequence s in layer l start (KVCache layout).
static size_t kv_head(const KVCache& kv, int l, int s, int hd, int hs) {
  return ((size_t)l * kv.n_seq + s) * kv.n_pad * kv.n_embd + (size_t)hd * hs * kv.n_pad;
}

// Columns [lo, hi) of a qkv row ([3C]: q, k, v) into the cache at position t: the key and
// value channels among them, a head at a time.
static void cache_put(KVCache& kv, int l, int s, int t, int hs, const float* qkv, int lo,
                      int hi) {
  const int C = kv.n_embd;
  for (int c = std::max(lo, C) - C, c1 = std::min(hi, 2 * C) - C; c < c1;) {
    const int hd = c / hs, end = std::min(c1, (hd + 1) * hs);
    float* kb = kv.k.get() + kv_head(kv, l, s, hd, hs) + (size_t)(t / 16) * hs * 16 + t % 16;
    for (; c < end; c++) kb[(c - hd * hs) * 16] = qkv[C + c];  // [t / 16][i][t % 16]
  }
  for (int c = std::max(lo, 2 * C) - 2 * C, c1 = hi - 2 * C; c < c1;) {
    const int hd = c / hs, end = std::min(c1, (hd + 1) * hs);
    float* vb = kv.v.get() + kv_head(kv, l, s, hd, hs) + (size_t)t * hs;
    for (; c < end; c++) vb[c - hd * hs] = qkv[2 * C + c];  // [t][i]
  }
}

// x[r] = x_in[r] + wpe[pos[r]]  (row r of [R, C])
static void add_position(float* x, const float* x_in, const float* wpe, const int* pos, int r,
                         int C) {
  const float* e = x_in + (size_t)r * C;
  const float* wp = wpe + (size_t)pos[r] * C;
  for (int i = 0; i < C; i++) x[(size_t)r * C + i] = e[i] + wp[i];
}

// The forward, for any rows (decode, batched decode, prefill), in one parallel region.
// Each thread owns a column range of every matrix product and finishes its columns there
// (bias; GELU; K/V cache writes; the residual add), so a layer costs five barriers instead of
// a fork/join per operation. LayerNorms are computed by every thread into its own buffer
// (a few hundred floats per row: cheaper than a barrier). Every output element is computed
// by the same operations in the same order whatever the thread count and the rows beside it
// (results equal bit for bit: prefill == step by step, batch == alone).
static void forward(Transformer& tr, int R, const int* seq, const int* pos, const float* x_in,
                    int n_out, const int* out_rows, float* logits) {
  const Model& m = *tr.w->model;
  const ModelConfig& c = m.cfg;
  const ParamTensors& p = m.p;
  KVCache& kv = tr.cache;
  InferState& st = tr.st;
  const int C = c.n_embd, L = c.n_layer, NH = c.n_head, V = c.vocab_size, hs = C / NH;
  const float eps = c.layer_norm_epsilon, scale = 1.0f / std::sqrt((float)hs);
  const int max_threads = omp_get_max_threads();
  const int rows_ln = std::max(R, n_out);
  if (st.xn_team.size() < (size_t)max_threads * rows_ln * C)
    st.xn_team.resize((size_t)max_threads * rows_ln * C);
  if (st.att_team.size() < (size_t)max_threads * kv.n_pad)
    st.att_team.resize((size_t)max_threads * kv.n_pad);
  float* x = st.x.data();
  float* qkv = st.qkv.data();
  float* atty = st.atty.data();
  float* h = st.h.data();
  float* h2 = st.h2.data();
  const bool bf16 = tr.w->dtype == Dtype::kBF16;
  // out[:, lo:hi] = a[M, K] . w[K, N]: the panels of matrix w (f32 or bf16) at element `off`
  using F = PanelWeights<float>;
  using H = PanelWeights<uint16_t>;
  using W32 = const float* F::*;
  using W16 = const uint16_t* H::*;
  const InferenceWeights& iw = *tr.w;
  auto mm = [&iw, bf16](float* out, const float* a, W32 w32, W16 w16, size_t off, int M, int K,
                        int N, int lo, int hi) {
    if (bf16)
      matmul_panels_cols(out, a, iw.w16.*w16 + off, M, K, N, lo, hi, false);
    else
      matmul_panels_cols(out, a, iw.w32.*w32 + off, M, K, N, lo, hi, false);
  };
#pragma omp parallel
  {
    const int tid = omp_get_thread_num();
    float* xn = st.xn_team.data() + (size_t)tid * rows_ln * C;
    float* att = st.att_team.data() + (size_t)tid * kv.n_pad;
#pragma omp for schedule(static)
    for (int r = 0; r < R; r++) add_position(x, x_in, p.wpe, pos, r, C);
    // out = a[M, K] . w[K, N] in blocks of `unit` columns, handed to the threads as they come
    // free (a block's bits do not depend on which thread computes it); finish(lo, hi)
    // completes each block in place. Ends with the team's barrier.
    auto product = [&](float* out, const float* a, W32 w32, W16 w16, size_t off, int M, int K,
                       int N, auto&& finish) {
      const int u = matmul_col_unit(M), blocks = (N + u - 1) / u;
#pragma omp for schedule(dynamic, 1)
      for (int b = 0; b < blocks; b++) {
        const int lo = b * u, hi = std::min(N, lo + u);
        mm(out, a, w32, w16, off, M, K, N, lo, hi);
        finish(lo, hi);
      }
    };
    // out[:, lo:hi] += bias[lo:hi] (out: [R, ld])
    auto add_bias = [R](float* out, int ld, const float* bias, int lo, int hi) {
      for (int r = 0; r < R; r++)
        for (int j = lo; j < hi; j++) out[(size_t)r * ld + j] += bias[j];
    };
    // x[:, lo:hi] += out[:, lo:hi] + bias: a block of a residual branch
    auto add_branch = [&](const float* out, const float* bias) {
      return [=](int lo, int hi) {
        for (int r = 0; r < R; r++)
          for (int j = lo; j < hi; j++) x[(size_t)r * C + j] += out[(size_t)r * C + j] + bias[j];
      };
    };
    for (int l = 0; l < L; l++) {
      // qkv = ln1(x) . qkvw + b, the K and V columns into the cache
      layernorm_forward_serial(xn, nullptr, nullptr, x, p.ln1w + l * C, p.ln1b + l * C, R, C, eps);
      const float* qb = p.qkvb + l * 3 * C;
      product(qkv, xn, &F::qkvw, &H::qkvw, (size_t)l * 3 * C * C, R, C, 3 * C, [&](int lo, int hi) {
        add_bias(qkv, 3 * C, qb, lo, hi);
        for (int r = 0; r < R; r++)
          cache_put(kv, l, seq[r], pos[r], hs, qkv + (size_t)r * 3 * C, lo, hi);
      });
      // attention, (row, head) pairs dealt to the threads in turn (a prefill's later rows
      // attend to more positions: contiguous shares would leave the first thread idle)
#pragma omp for collapse(2) schedule(static, 1)
      for (int r = 0; r < R; r++)
        for (int hd = 0; hd < NH; hd++) {
          const size_t head = kv_head(kv, l, seq[r], hd, hs);
          scores_blocked(att, qkv + (size_t)r * 3 * C + hd * hs, kv.k.get() + head, pos[r] + 1, hs, scale);
          attention_softmax_values(atty + (size_t)r * C + hd * hs, att, kv.v.get() + head, pos[r] + 1, hs, hs);
        }
      // x += atty . attprojw + b
      product(h2, atty, &F::attprojw, &H::attprojw, (size_t)l * C * C, R, C, C,
              add_branch(h2, p.attprojb + l * C));
      // h = gelu(ln2(x) . fcw + b)
      layernorm_forward_serial(xn, nullptr, nullptr, x, p.ln2w + l * C, p.ln2b + l * C, R, C, eps);
      const float* fb = p.fcb + l * 4 * C;
      product(h, xn, &F::fcw, &H::fcw, (size_t)l * 4 * C * C, R, C, 4 * C, [&](int lo, int hi) {
        add_bias(h, 4 * C, fb, lo, hi);
        for (int r = 0; r < R; r++) {
          float* hr = h + (size_t)r * 4 * C + lo;
          gelu_forward_serial(hr, hr, hi - lo);
        }
      });
      // x += h . fcprojw + b
      product(h2, h, &F::fcprojw, &H::fcprojw, (size_t)l * 4 * C * C, R, 4 * C, C,
              add_branch(h2, p.fcprojb + l * C));
    }
    // final LayerNorm (every thread, the output rows) and the logits
    for (int o = 0; o < n_out; o++) {
      int r = out_rows ? out_rows[o] : o;
      std::memcpy(xn + (size_t)o * C, x + (size_t)r * C, sizeof(float) * C);
    }
    layernorm_forward_serial(xn, nullptr, nullptr, xn, p.lnfw, p.lnfb, n_out, C, eps);
    if (tid == 0) std::memcpy(st.hidden.data(), xn, sizeof(float) * (size_t)n_out * C);
    product(logits, xn, &F::wteT, &H::wteT, 0, n_out, C, V, [](int, int) {});
  }
}

void transformer_forward(Transformer& tr, int R, const int* seq, const int* pos,
                         const float* x_in, int n_out, const int* out_rows, float* logits) {
  const ModelConfig& c = tr.w->model->cfg;
  const KVCache& kv = tr.cache;
  check(R > 0, "forward needs at least one row");
  for (int r = 0; r < R; r++) {
    check(seq[r] >= 0 && seq[r] < kv.n_seq, "sequence slot ", seq[r], " outside [0, ", kv.n_seq,
          ")");
    check(pos[r] >= 0 && pos[r] < c.n_ctx, "position ", pos[r], " outside the context [0, ",
          c.n_ctx, ")");
  }
  if (!out_rows) n_out = R;
  if (out_rows)
    for (int o = 0; o < n_out; o++)
      check(out_rows[o] >= 0 && out_rows[o] < R, "output row ", out_rows[o], " outside [0, ", R,
            ")");
  state_reserve(tr.st, c, R);
  forward(tr, R, seq, pos, x_in, n_out, out_rows, logits);
}

void transformer_forward_tokens(Transformer& tr, int R, const int* seq, const int* pos,
                                const int* tokens, int n_out, const int* out_rows, float* logits) {
  const Model& m = *tr.w->model;
  std::vector<float>& x = tr.st.emb;
  if (x.size() < (size_t)R * m.cfg.n_embd) x.resize((size_t)R * m.cfg.n_embd);
  TokenEmbedding::of(m).forward(tokens, R, x.data());
  transformer_forward(tr, R, seq, pos, x.data(), n_out, out_rows, logits);
}

}  // namespace softslm

namespace softslm {

void transformer_step(Transformer& tr, int R, const int* seq, const int* pos,
                      const StepInput* inputs, float* logits, float* x_out) {
  const Model& m = *tr.w->model;
  const int C = m.cfg.n_embd;
  std::vector<float>& x = tr.st.emb;
  if (x.size() < (size_t)R * C) x.resize((size_t)R * C);
  TokenEmbedding e = TokenEmbedding::of(m);
  for (int r = 0; r < R; r++) step_input_embed(e, inputs[r], x.data() + (size_t)r * C);
  if (x_out) std::copy(x.begin(), x.begin() + (size_t)R * C, x_out);
  transformer_forward(tr, R, seq, pos, x.data(), R, nullptr, logits);
}

}  // namespace softslm
