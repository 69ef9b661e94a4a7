// softslm bench: decode (single stream: greedy, sampled, soft thinking; batched), prefill and
// training throughput of a model (the reference config by default, randomly initialised),
// and memory. Median of --repeats runs after one warm-up run; the single-stream decode
// configurations run in turn, so their ratios (soft / sampled, bf16 / f32) are taken within
// rounds, unmoved by a drift of the shared machine's speed. Decode runs first, so the peak
// RSS it reports is the decoding process's, before any training buffer exists.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>

#include "base/buffer.h"
#include "base/error.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "generate/generate.h"
#include "model/checkpoint.h"
#include "model/gpt2_train.h"
#include "ops/vec.h"
#include "train/latent.h"
#include "train/recipes.h"
#include "train/soft_training.h"

namespace softslm {

namespace {

struct BenchArgs {
  std::string model;
  int threads = 0, repeats = 5, batch = 16, decode_tokens = 0;
  bool json = false, no_train = false;
};

double seconds_of(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Measurements taken in turn, one run of each per round after a warm-up round, so a drift of
// the shared machine's speed hits them alike: the seconds of every run, per function.
std::vector<std::vector<double>> rounds_of(int repeats,
                                           const std::vector<std::function<void()>>& fs) {
  for (auto& f : fs) f();
  std::vector<std::vector<double>> t(fs.size());
  for (int r = 0; r < repeats; r++)
    for (size_t i = 0; i < fs.size(); i++) t[i].push_back(seconds_of(fs[i]));
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// median over the rounds of a[r] / b[r]: a speed ratio taken within rounds
double median_ratio(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> q;
  for (size_t r = 0; r < a.size(); r++) q.push_back(a[r] / b[r]);
  return median(q);
}

// median seconds over `repeats` runs after one warm-up
double median_seconds(int repeats, const std::function<void()>& f) {
  return median(rounds_of(repeats, {f})[0]);
}

double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

// Read bandwidth over a buffer of `bytes` (all threads, vector loads, a sum so nothing is
// optimised away), GB/s, median of repeats: what streaming the weights once per token can
// reach at best, i.e. the bound of single-stream decode.
double read_bandwidth_gbs(size_t bytes, int repeats) {
  const size_t n = bytes / sizeof(float) / 64 * 64;
  Buffer<float> buf = buffer_zeroed<float>(n);  // huge-page advised, as the weights are
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) buf[i] = (float)(i % 7);  // pages touched by their threads
  volatile float sink = 0;
  double t = median_seconds(repeats * 4, [&] {
    float total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (size_t i = 0; i < n; i += 64) {
      v16 s0 = v16_load(&buf[i]), s1 = v16_load(&buf[i + 16]);
      s0 += v16_load(&buf[i + 32]), s1 += v16_load(&buf[i + 48]);
      total += v16_hsum(s0 + s1);
    }
    sink = total;
  });
  (void)sink;
  return n * sizeof(float) / t / 1e9;
}

// The machine's float32 FMA peak (all threads, GFLOP/s, median of repeats): 12 independent
// FMA chains per thread in registers of the kernels' width (enough to cover the FMA latency
// on two ports), nothing from memory. No product can beat it; the products' GFLOP/s are read
// against it.
double fma_peak_gflops(int repeats) {
  constexpr int W = kWideVectors ? 16 : 8;  // floats per register
  typedef float vn __attribute__((vector_size(4 * W)));
  constexpr int NC = 12;
  constexpr long kIters = 1 << 22;
  volatile float sink = 0, one = 1.0f;  // values from and to memory: nothing is folded
  const double t = median_seconds(repeats, [&] {
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      vn acc[NC];
      const float x = one;
      for (int i = 0; i < NC; i++) acc[i] = vn{} + (x + 0.01f * i);
      const vn m = vn{} + 0.9999999f * x, c = vn{} + 1e-7f * x;
      for (long it = 0; it < kIters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < NC; i++) acc[i] = acc[i] * m + c;  // one FMA each
      }
      for (int i = 0; i < NC; i++)
        for (int j = 0; j < W; j++) total += acc[i][j];  // every lane used: none is dropped
    }
    sink = total;
  });
  (void)sink;
  return omp_get_max_threads() * (double)kIters * NC * W * 2 / t / 1e9;
}

void run_bench(const BenchArgs& a) {
  set_threads(a.threads);
  check(a.repeats >= 1, "--repeats must be >= 1");
  check(a.batch >= 1, "--batch must be >= 1");
  if (!a.no_train) {  // the training batch must fit before minutes of decode measurements
    ModelConfig c = a.model.empty() ? ModelConfig{} : config_load_json(a.model + "/config.json");
    buffer_check_fits(train_graph_bytes(c, a.batch, c.n_ctx),
                      "--batch " + std::to_string(a.batch) + ": a training batch of " +
                          std::to_string(a.batch) + " x " + std::to_string(c.n_ctx) + " tokens");
  }
  double rss_start = peak_rss_mb();
  auto load = [&a] {
    Model m = a.model.empty() ? model_create(ModelConfig{}) : model_load(a.model);
    if (a.model.empty()) model_init_random(m, 1);
    return m;
  };
  // Decoding as the CLI does it: the model handed over, its matrices packed in place, once
  // (so the figures are the decode's own and the memory is what `generate` holds).
  const auto w32 = inference_weights_create(load(), Dtype::kF32);
  const Model& m = *w32->model;
  const ModelConfig& c = m.cfg;
  const int T = c.n_ctx, V = c.vocab_size;
  Rng rng = rng_init(7);
  auto random_ids = [&](int n) {
    std::vector<int> v(n);
    for (auto& x : v) x = (int)rng_below(rng, V);
    return v;
  };
  const double weights_mb = m.num_params * 4.0 / 1048576;
  const double kv_mb = 2.0 * c.n_layer * c.n_ctx * c.n_embd * 4.0 / 1048576;  // one sequence

  // single-stream decode from a one-token prompt to the context end: greedy; sampled with the
  // paper's filters (T 0.6, top-k 30, top-p 0.95, min-p 0.001); and soft thinking with the same
  // filters and max_topk 10 on every step (entropy-gate mode with a gate that never closes)
  int n_dec = a.decode_tokens > 0 ? std::min(a.decode_tokens, T - 1) : T - 1;
  std::vector<std::vector<int>> one = {{0}};
  GenerateParams greedy;
  greedy.sampler.temperature = 0;
  greedy.max_new_tokens = n_dec;
  GenerateParams sampled = greedy;
  sampled.sampler = SoftSamplerParams{}.after;
  GenerateParams soft = greedy;
  soft.soft.mode = ThinkMode::kEntropyGate;
  soft.soft.gate_threshold = 0;
  soft.soft.max_thinking_steps = n_dec;
  soft.soft.sampler.max_topk = 10;
  // the three in turn: the soft / sampled ratio is taken within rounds
  const auto dec = rounds_of(a.repeats, {[&] { generate(w32, one, greedy); },
                                         [&] { generate(w32, one, sampled); },
                                         [&] { generate(w32, one, soft); }});
  const double t_decode = median(dec[0]), t_sampled = median(dec[1]), t_soft = median(dec[2]);
  const double soft_ratio = median_ratio(dec[1], dec[2]);
  double rss_decode = peak_rss_mb();
  GenerateParams greedy16 = greedy;
  greedy16.dtype = Dtype::kBF16;
  double t_decode16, bf16_ratio;
  {
    // bf16 in turn with f32 again: its ratio taken within rounds as well
    const auto w16 = inference_weights_create(load(), Dtype::kBF16);
    const auto t = rounds_of(a.repeats, {[&] { generate(w32, one, greedy); },
                                         [&] { generate(w16, one, greedy16); }});
    t_decode16 = median(t[1]);
    bf16_ratio = median_ratio(t[0], t[1]);
  }
  // What one decode step streams: every weight once, the LM head as its transposed copy
  // (the embeddings of the prompt tokens and positions are a few rows).
  const double stream_bytes = 4.0 * (m.num_params - (size_t)c.n_ctx * c.n_embd);
  const double bw = read_bandwidth_gbs((size_t)stream_bytes, a.repeats);
  const double peak = fma_peak_gflops(a.repeats);

  // batched greedy decode: 8 and 32 independent sequences, each from its own 1-token prompt
  double batched_tps[2];
  const int batch_sizes[2] = {8, 32};
  for (int i = 0; i < 2; i++) {
    std::vector<std::vector<int>> prompts;
    for (int s = 0; s < batch_sizes[i]; s++) prompts.push_back({(int)rng_below(rng, V)});
    double t = median_seconds(a.repeats, [&] { generate(w32, prompts, greedy); });
    batched_tps[i] = batch_sizes[i] * n_dec / t;
  }

  // prefill of a full-context prompt
  Transformer tr = transformer_create(w32, 1);
  auto prompt = random_ids(T);
  std::vector<int> seq(T, 0), pos(T);
  for (int t = 0; t < T; t++) pos[t] = t;
  std::vector<float> logits(V);
  int last = T - 1;
  double t_prefill = median_seconds(a.repeats, [&] {
    transformer_forward_tokens(tr, T, seq.data(), pos.data(), prompt.data(), 1, &last,
                               logits.data());
  });

  // training step: forward + backward over [batch, n_ctx]
  double train_tps = 0, head_rows_tps = 0, self_feed_tps = 0, soft_targets_tps = 0, latent_tps[2] = {0, 0},
         latent_mb[2] = {0, 0};
  const int latent_steps[2] = {1, 3};
  // forward+backward FLOPs ~ 6 * params * tokens + attention (6 * L * T * C per token)
  double flops_per_tok = 6.0 * m.num_params + 6.0 * c.n_layer * T * c.n_embd;
  if (!a.no_train) {
    Model mt = load();  // row-major, as training keeps it
    TrainGraph g = train_graph_create(mt, a.batch, T);
    auto inp = random_ids(a.batch * T), tgt = random_ids(a.batch * T);
    double t_train = median_seconds(a.repeats, [&] {
      gpt2_forward(mt, g, inp.data(), tgt.data(), a.batch, T);
      gpt2_backward(mt, g);
    });
    train_tps = a.batch * T / t_train;
    {  // completion-only loss on a quarter of the positions (path: ~20 %), the LM head on the
       // targeted rows only (head_rows_only, as plain training runs)
      std::vector<int> part = tgt;
      for (size_t i = 0; i < part.size(); i++)
        if ((int)(i % T) < T - T / 4) part[i] = -1;
      TrainGraph gh = train_graph_create(mt, a.batch, T);
      gh.head_rows_only = true;
      double t = median_seconds(a.repeats, [&] {
        gpt2_forward(mt, gh, inp.data(), part.data(), a.batch, T);
        gpt2_backward(mt, gh);
      });
      head_rows_tps = a.batch * T / t;
    }
    // training-time soft thinking, on the same batch: self_feed with every position a
    // thinking input fed a concept (its most expensive case: a first pass, B*T concepts, the
    // soft-input step), and latent steps (n + 1 passes; hidden-state inputs at T/4 ...)
    std::vector<uint8_t> all((size_t)a.batch * T, 1);
    SoftTrainingConfig sf;
    std::vector<StepInput> soft;
    double t_self_feed = median_seconds(a.repeats, [&] {
      gpt2_forward(mt, g, inp.data(), nullptr, a.batch, T);
      Rng rng = rng_init(1);
      // the first pass's probabilities are read in place (as the trainer does)
      self_feed_inputs(sf, 1.0, g.a.logits, inp.data(), all, a.batch, T, V, rng, &soft);
      gpt2_forward_inputs(mt, g, soft.data(), tgt.data(), a.batch, T);
      gpt2_backward(mt, g);
    });
    self_feed_tps = a.batch * T / t_self_feed;
    {  // soft_targets: per row a prompt of T - 8 tokens, 4 hops of 4-entry target
       // distributions, every soft input self-fed (p = 1: a first pass, its costliest case)
      TrainConfig tc;
      tc.batch_size = a.batch;
      tc.seq_len = T;
      tc.soft.recipe = SoftRecipe::kSoftTargets;
      std::vector<Example> exs(a.batch);
      std::vector<const Example*> rows;
      for (int b = 0; b < a.batch; b++) {
        Example& e = exs[b];
        e.prompt.assign(inp.begin() + (size_t)b * T, inp.begin() + (size_t)b * T + T - 8);
        for (int h = 0; h < 4; h++) {
          e.soft.emplace_back();
          for (int k = 0; k < 4; k++) e.soft.back().push_back({(h * 4 + k + b) % V, 0.25f});
        }
        e.tail = {1 % V, 2 % V};
        rows.push_back(&e);
      }
      RecipeRunner rr;
      rr.full_length = true;  // all T positions, as the figure counts them
      StageLayout L;
      L.recipe = SoftRecipe::kSoftTargets;
      double t = median_seconds(a.repeats, [&] {
        Rng rng = rng_init(1);
        recipe_step(mt, tc, rr, L, rows, 3 % V, 0, 1.0, &rng, true);
      });
      soft_targets_tps = a.batch * T / t;
    }
    for (int i = 0; i < 2; i++) {
      const int n = latent_steps[i];
      LatentBatch lb;
      lb.B = a.batch, lb.T = T, lb.n_latent = n;
      for (int x : inp) lb.inputs.push_back(StepInput::of_token(x));
      lb.targets = tgt;
      for (int r = 0; r < a.batch; r++)
        for (int k = 0; k < n; k++) lb.latent_pos.push_back(std::max(1, T / 4) + k);
      LatentGraph lg = latent_graph_create(mt, a.batch, T, n);
      double t = median_seconds(a.repeats, [&] {
        latent_forward(mt, lg, lb, LatentKind::kHidden);
        latent_backward(mt, lg, lb, LatentKind::kHidden);
      });
      latent_tps[i] = a.batch * T / t;
      latent_mb[i] = (n + 1) * train_graph_bytes(c, a.batch, T) / 1e6;
    }
  }

  char date[32];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  nlohmann::json j = {
      {"date", date},
      {"model", a.model.empty() ? "reference config (random init)" : a.model},
      {"params", m.num_params},
      {"config", {{"vocab_size", V}, {"n_ctx", T}, {"n_embd", c.n_embd}, {"n_layer", c.n_layer},
                  {"n_head", c.n_head}}},
      {"threads", omp_get_max_threads()},
      {"vector_isa", kWideVectors ? "avx512" : "avx2"},
      {"fma_peak_gflops", peak},
      {"decode_tokens", n_dec},
      {"decode_tokens_per_s", n_dec / t_decode},
      {"decode_sampled_tokens_per_s", n_dec / t_sampled},
      {"decode_soft_tokens_per_s", n_dec / t_soft},
      {"soft_over_sampled", soft_ratio},
      {"decode_gflops", n_dec / t_decode * 2.0 * m.num_params / 1e9},
      {"decode_bf16_tokens_per_s", n_dec / t_decode16},
      {"bf16_over_f32", bf16_ratio},
      {"decode_weight_gbs", n_dec / t_decode * stream_bytes / 1e9},
      {"read_bandwidth_gbs", bw},
      {"decode_bound_tokens_per_s", bw * 1e9 / stream_bytes},
      {"batched_decode_8_tokens_per_s", batched_tps[0]},
      {"batched_decode_32_tokens_per_s", batched_tps[1]},
      {"prefill_tokens_per_s", T / t_prefill},
      {"prefill_gflops", T / t_prefill * 2.0 * m.num_params / 1e9},
      {"weights_mb", weights_mb},
      {"kv_cache_mb_per_sequence", kv_mb},
      {"peak_rss_decode_mb", rss_decode},
      {"rss_before_model_mb", rss_start},
      {"peak_rss_mb", peak_rss_mb()}};
  if (!a.no_train) {
    j["train_batch"] = a.batch;
    j["train_tokens_per_s"] = train_tps;
    j["train_quarter_targets_tokens_per_s"] = head_rows_tps;
    j["train_self_feed_tokens_per_s"] = self_feed_tps;
    j["train_soft_targets_tokens_per_s"] = soft_targets_tps;
    j["train_latent1_tokens_per_s"] = latent_tps[0];
    j["train_latent3_tokens_per_s"] = latent_tps[1];
    j["train_latent1_graph_mb"] = latent_mb[0];
    j["train_latent3_graph_mb"] = latent_mb[1];
    j["train_gflops"] = train_tps * flops_per_tok / 1e9;
  }
  if (a.json) {
    std::cout << json_dump(j) << "\n";
    return;
  }
  std::printf("softslm bench  %s  (%zu params, %d threads, median of %d after warm-up)\n",
              j["model"].get<std::string>().c_str(), m.num_params, omp_get_max_threads(),
              a.repeats);
  std::printf("  kernels built for %s; FMA peak measured %.0f GFLOP/s on these threads\n",
              kWideVectors ? "AVX-512 (16-float registers)" : "AVX2 (8-float registers)", peak);
  std::printf("  decode, single stream (%d tokens)\n", n_dec);
  std::printf("    greedy                           %10.0f tokens/s\n", n_dec / t_decode);
  std::printf("      weights streamed at %.1f GB/s; reading a buffer of their size runs at %.1f "
              "GB/s, a bound of %.0f tokens/s\n",
              n_dec / t_decode * stream_bytes / 1e9, bw, bw * 1e9 / stream_bytes);
  std::printf("    greedy, bf16 weights             %10.0f tokens/s  (%.2f x f32)\n",
              n_dec / t_decode16, bf16_ratio);
  std::printf("    sampled (T 0.6, top-k 30, ...)   %10.0f tokens/s\n", n_dec / t_sampled);
  std::printf("    soft thinking, max_topk 10       %10.0f tokens/s  (%.3f x sampled)\n",
              n_dec / t_soft, soft_ratio);
  std::printf("  decode, batched greedy, 8 seqs     %10.0f tokens/s in total\n", batched_tps[0]);
  std::printf("  decode, batched greedy, 32 seqs    %10.0f tokens/s in total\n", batched_tps[1]);
  const double prefill_gflops = T / t_prefill * 2.0 * m.num_params / 1e9;
  std::printf("  prefill (%d tokens)               %10.0f tokens/s  %6.1f GFLOP/s (%.0f %% of peak)\n",
              T, T / t_prefill, prefill_gflops, 100 * prefill_gflops / peak);
  if (!a.no_train) {
    const double train_gflops = train_tps * flops_per_tok / 1e9;
    std::printf("  training (fwd+bwd, batch %d x %d)  %10.0f tokens/s  %6.1f GFLOP/s (%.0f %% of peak)\n",
                a.batch, T, train_tps, train_gflops, 100 * train_gflops / peak);
    std::printf("    1/4 of positions targeted        %10.0f tokens/s  (%.2f x the time; the "
                "LM head on those rows only)\n", head_rows_tps, train_tps / head_rows_tps);
    std::printf("    self_feed (every input a concept) %9.0f tokens/s  (%.2f x the plain step's "
                "time)\n", self_feed_tps, train_tps / self_feed_tps);
    std::printf("    soft_targets (4 hops, self-fed)   %9.0f tokens/s  (%.2f x the time)\n",
                soft_targets_tps, train_tps / soft_targets_tps);
    for (int i = 0; i < 2; i++)
      std::printf("    latent, %d hidden-state steps     %10.0f tokens/s  (%.2f x the time; "
                  "graphs %.0f MB)\n", latent_steps[i], latent_tps[i], train_tps / latent_tps[i],
                  latent_mb[i]);
  }
  std::printf("  memory: weights %.1f MB, KV cache %.1f MB per sequence; peak RSS %.1f MB while "
              "decoding (%.1f MB before the model), %.1f MB overall\n",
              weights_mb, kv_mb, rss_decode, rss_start, peak_rss_mb());
}

}  // namespace

void register_bench(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* c = app.add_subcommand("bench", "Measure decode, prefill and training throughput and memory");
  c->add_option("-m,--model", a->model, "Model directory (default: reference config, random init)");
  c->add_option("--threads", a->threads, "Threads; 0 = all cores")->capture_default_str();
  c->add_option("--repeats", a->repeats, "Timed runs per measurement (median)")->capture_default_str();
  c->add_option("--batch", a->batch, "Training batch size (sequences of n_ctx tokens)")
      ->capture_default_str();
  c->add_option("--decode-tokens", a->decode_tokens, "Tokens to decode (default n_ctx - 1)");
  c->add_flag("--no-train", a->no_train, "Skip the training measurement");
  c->add_flag("--json", a->json, "Print one JSON object");
  c->callback([a] { run_bench(*a); });
}

}  // namespace softslm
