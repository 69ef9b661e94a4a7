// Kernels against their references, and every op's backward against finite differences.
#include <gtest/gtest.h>

#include "ops/bf16.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "ops/vec.h"
#include "test_util.h"

using namespace softslm;
using namespace softslm::testing;

static double dot_loss(const float* out, const std::vector<float>& w) {
  double s = 0;
  for (size_t i = 0; i < w.size(); i++) s += (double)out[i] * w[i];
  return s;
}

TEST(Ops, MatmulMatchesReferenceOnAwkwardShapes) {
  const int shapes[][3] = {{1, 1, 1},     {1, 7, 5},     {3, 17, 9},    {4, 16, 4},
                           {5, 33, 13},   {1, 256, 768}, {7, 255, 31},  {64, 64, 64},
                           {33, 100, 47}, {2, 1000, 3},  {9, 20, 48},   {130, 300, 1100},
                           {8, 5, 32},    {17, 3, 16},   {70, 1030, 40}, {2, 64, 300},
                           {3, 40, 260},  {4, 33, 128},  {1, 19, 129}, {70, 1500, 45},
                           {3, 1100, 130}, {200, 513, 70}};  // many rows: packed, k in blocks
  int seed = 1;
  for (auto& s : shapes) {
    int M = s[0], K = s[1], N = s[2];
    auto a = random_vec((size_t)M * K, seed++), b = random_vec((size_t)K * N, seed++);
    for (bool acc : {false, true}) {
      auto init = random_vec((size_t)M * N, seed++);
      std::vector<float> fast = init, ref = init;
      matmul_nn(fast.data(), a.data(), b.data(), M, K, N, acc);
      matmul_nn_ref(ref.data(), a.data(), b.data(), M, K, N, acc);
      for (size_t i = 0; i < fast.size(); i++)
        ASSERT_EQ(fast[i], ref[i]) << "M=" << M << " K=" << K << " N=" << N << " i=" << i;
    }
  }
}

TEST(Ops, TransposedMatmulMatchesReference) {
  // the packed path (many rows) with k in blocks, a partial last one
  const int shapes[][3] = {{1, 1, 1}, {8, 40, 32}, {13, 7, 50}, {256, 300, 70}, {9, 64, 17}, {70, 5, 100},
                           {70, 1500, 45}, {133, 600, 33}};
  int seed = 100;
  for (auto& s : shapes) {
    int M = s[0], K = s[1], N = s[2];
    auto a = random_vec((size_t)K * M, seed++), b = random_vec((size_t)K * N, seed++);
    for (bool acc : {false, true}) {
      auto init = random_vec((size_t)M * N, seed++);
      std::vector<float> fast = init, ref = init;
      matmul_tn(fast.data(), a.data(), b.data(), M, K, N, acc);
      matmul_tn_ref(ref.data(), a.data(), b.data(), M, K, N, acc);
      for (size_t i = 0; i < fast.size(); i++)
        ASSERT_EQ(fast[i], ref[i]) << "M=" << M << " K=" << K << " N=" << N << " i=" << i;
    }
  }
}

TEST(Ops, MatmulRowResultIndependentOfBatch) {
  // the row computed alone equals the row computed among others, bit for bit
  // row tails, column tails, chunked columns; then k in blocks (the packed path)
  for (int K : {77, 1100}) {
    const int M = 75, N = 129;
    auto a = random_vec((size_t)M * K, 3), b = random_vec((size_t)K * N, 4);
    std::vector<float> all((size_t)M * N), one(N);
    matmul_nn(all.data(), a.data(), b.data(), M, K, N, false);
    for (int i = 0; i < M; i++) {
      matmul_nn(one.data(), a.data() + (size_t)i * K, b.data(), 1, K, N, false);
      for (int j = 0; j < N; j++) ASSERT_EQ(one[j], all[(size_t)i * N + j]) << K << ":" << i << "," << j;
    }
  }
}

TEST(Ops, PackPanelsIsAPermutationIntoColumnPanels) {
  const int K = 5, N = 2 * kPanel + 37;  // two full panels and a narrower last one
  auto w = random_vec((size_t)K * N, 29);
  auto p = pack_panels(w.data(), K, N);
  ASSERT_EQ(p.size(), w.size());
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) {
      const int p0 = j / kPanel * kPanel, width = std::min(kPanel, N - p0);
      ASSERT_EQ(p[(size_t)p0 * K + (size_t)k * width + (j - p0)], w[(size_t)k * N + j]) << k << "," << j;
    }
  // bf16: the same panels, each full group of 32 columns paired (i, 16 + i), a partial
  // last group in order
  auto p16 = pack_panels_bf16(w.data(), K, N);
  EXPECT_EQ(bf16_panel_slot(0, kPanel), 0);
  EXPECT_EQ(bf16_panel_slot(16, kPanel), 1);
  EXPECT_EQ(bf16_panel_slot(1, kPanel), 2);
  EXPECT_EQ(bf16_panel_slot(47, kPanel), 32 + 30);
  EXPECT_EQ(bf16_panel_slot(63, kPanel), 63);
  EXPECT_EQ(bf16_panel_slot(32 + 3, 37), 32 + 3);  // partial group: in order
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) {
      const int p0 = j / kPanel * kPanel, width = std::min(kPanel, N - p0);
      ASSERT_EQ(p16[(size_t)p0 * K + (size_t)k * width + bf16_panel_slot(j - p0, width)],
                f32_to_bf16(w[(size_t)k * N + j]));
    }
}

TEST(Ops, PanelColumnsEqualTheWholeProduct) {
  // any split of the columns of a panel product gives the bits of matmul_nn, for few and
  // many rows, splits inside panels and a last panel narrower than the others
  for (int M : {1, 3, 4, 5, 19, 70}) {
    int K = 77, N = 2 * kPanel + 45;
    auto a = random_vec((size_t)M * K, 30 + M), b = random_vec((size_t)K * N, 31);
    auto panels = pack_panels(b.data(), K, N);
    std::vector<float> all((size_t)M * N), parts((size_t)M * N, -1.0f);
    matmul_nn(all.data(), a.data(), b.data(), M, K, N, false);
    const int unit = matmul_col_unit(M);
    std::vector<int> cuts = {0, unit, 2 * unit, 2 * unit + 16, 250, N};
    std::sort(cuts.begin(), cuts.end());
    for (int i = 0; i + 1 < 6; i++)
      matmul_panels_cols(parts.data(), a.data(), panels.data(), M, K, N, cuts[i], cuts[i + 1],
                         false);
    for (size_t i = 0; i < all.size(); i++) ASSERT_EQ(parts[i], all[i]) << "M=" << M << " i=" << i;
  }
}

TEST(Ops, Bf16ConversionRoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1)
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);  // halfway, odd below: rounds up
  EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256 + 1.0f / 4096), 0x3f81);  // above halfway
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  auto v = random_vec(1000, 40);
  for (float x : v) {
    float y = bf16_to_f32(f32_to_bf16(x));
    EXPECT_LE(std::fabs(y - x), std::fabs(x) / 256) << x;  // half a unit in the last place
    EXPECT_EQ(f32_to_bf16(y), f32_to_bf16(x));              // representable values are kept
  }
}

TEST(Ops, Bf16MatmulEqualsFloatMatmulOfWidenedWeights) {
  for (int M : {1, 2, 4, 6, 17}) {
    int K = 45, N = 275;
    auto a = random_vec((size_t)M * K, 50 + M), b = random_vec((size_t)K * N, 51);
    std::vector<float> wide(b.size());
    for (size_t i = 0; i < b.size(); i++) wide[i] = bf16_to_f32(f32_to_bf16(b[i]));
    auto b16 = pack_panels_bf16(b.data(), K, N);
    std::vector<float> ref((size_t)M * N), got((size_t)M * N), exact((size_t)M * N);
    matmul_nn(ref.data(), a.data(), wide.data(), M, K, N, false);
    matmul_nn_ref(exact.data(), a.data(), wide.data(), M, K, N, false);
    const int cut = matmul_col_unit(M) + 32;  // bf16 splits fall on groups of 32 columns
    matmul_panels_cols(got.data(), a.data(), b16.data(), M, K, N, 0, cut, false);
    matmul_panels_cols(got.data(), a.data(), b16.data(), M, K, N, cut, N, false);
    for (size_t i = 0; i < ref.size(); i++) {
      ASSERT_EQ(got[i], ref[i]) << "M=" << M << " i=" << i;
      ASSERT_NEAR(got[i], exact[i], 1e-4 * (1 + std::fabs(exact[i])) * std::sqrt((double)K));
    }
  }
}

TEST(Ops, TransposeMatchesDefinition) {
  int R = 37, C = 45;
  auto in = random_vec((size_t)R * C, 5);
  std::vector<float> out((size_t)R * C);
  transpose(out.data(), in.data(), R, C);
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) ASSERT_EQ(out[(size_t)c * R + r], in[(size_t)r * C + c]);
}

TEST(Ops, MatmulBackwardFiniteDifferences) {
  int N = 5, C = 19, OC = 7;
  auto inp = random_vec(N * C, 10), w = random_vec(C * OC, 11, 0.5f), b = random_vec(OC, 12);
  auto R = random_vec(N * OC, 13);
  std::vector<float> out(N * OC), dinp(N * C), dw(OC * C), db(OC);
  matmul_backward(dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(), N, C, OC);
  auto loss = [&] {
    matmul_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
    return dot_loss(out.data(), R);
  };
  expect_grad_close(loss, inp.data(), dinp.data(), all_indices(inp.size()), "dinp");
  expect_grad_close(loss, w.data(), dw.data(), all_indices(w.size()), "dw");
  expect_grad_close(loss, b.data(), db.data(), all_indices(b.size()), "dbias");
}

TEST(Ops, LayerNormBackwardFiniteDifferences) {
  int N = 4, C = 13;
  auto inp = random_vec(N * C, 20, 2.0f), w = random_vec(C, 21), b = random_vec(C, 22);
  auto R = random_vec(N * C, 23);
  std::vector<float> out(N * C), mean(N), rstd(N), dinp(N * C), dw(C), db(C);
  layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C,
                    1e-5f);
  layernorm_backward(dinp.data(), dw.data(), db.data(), R.data(), inp.data(), w.data(),
                     mean.data(), rstd.data(), N, C);
  auto loss = [&] {
    layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C,
                      1e-5f);
    return dot_loss(out.data(), R);
  };
  expect_grad_close(loss, inp.data(), dinp.data(), all_indices(inp.size()), "dinp");
  expect_grad_close(loss, w.data(), dw.data(), all_indices(C), "dw");
  expect_grad_close(loss, b.data(), db.data(), all_indices(C), "db");
}

TEST(Ops, GeluBackwardFiniteDifferences) {
  int n = 40;
  auto inp = random_vec(n, 30, 2.0f), R = random_vec(n, 31);
  std::vector<float> out(n), dinp(n);
  gelu_backward(dinp.data(), inp.data(), R.data(), n);
  auto loss = [&] {
    gelu_forward(out.data(), inp.data(), n);
    return dot_loss(out.data(), R);
  };
  expect_grad_close(loss, inp.data(), dinp.data(), all_indices(n), "dinp");
  // gelu_new reference values (Hugging Face NewGELUActivation)
  float x[3] = {-1.0f, 0.5f, 2.0f}, y[3];
  gelu_forward(y, x, 3);
  EXPECT_NEAR(y[0], -0.158808f, 1e-5);
  EXPECT_NEAR(y[1], 0.345714f, 1e-5);
  EXPECT_NEAR(y[2], 1.954598f, 1e-5);
}

TEST(Ops, ResidualAndEncoderBackward) {
  int B = 2, T = 3, C = 5, V = 7;
  std::vector<int> inp = {1, 4, 1, 6, 0, 1};  // repeated ids accumulate
  auto wte = random_vec(V * C, 40), wpe = random_vec(T * C, 41), R = random_vec(B * T * C, 42);
  std::vector<float> out(B * T * C), dwte(V * C), dwpe(T * C);
  encoder_backward(dwte.data(), dwpe.data(), R.data(), inp.data(), B, T, C);
  auto loss = [&] {
    encoder_forward(out.data(), inp.data(), wte.data(), wpe.data(), B, T, C);
    return dot_loss(out.data(), R);
  };
  expect_grad_close(loss, wte.data(), dwte.data(), all_indices(wte.size()), "dwte");
  expect_grad_close(loss, wpe.data(), dwpe.data(), all_indices(wpe.size()), "dwpe");
  auto a = random_vec(10, 43), b = random_vec(10, 44), d = random_vec(10, 45);
  std::vector<float> o(10), da(10), db(10);
  residual_backward(da.data(), db.data(), d.data(), 10);
  auto loss2 = [&] {
    residual_forward(o.data(), a.data(), b.data(), 10);
    return dot_loss(o.data(), d);
  };
  expect_grad_close(loss2, a.data(), da.data(), all_indices(10), "da");
  expect_grad_close(loss2, b.data(), db.data(), all_indices(10), "db");
}

TEST(Ops, AttentionBackwardFiniteDifferences) {
  int B = 2, T = 5, C = 8, NH = 2;
  auto qkv = random_vec(B * T * 3 * C, 50), R = random_vec(B * T * C, 51);
  std::vector<float> out(B * T * C), att(B * NH * T * T), dqkv(qkv.size());
  attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
  attention_backward(dqkv.data(), R.data(), qkv.data(), att.data(), B, T, C, NH);
  // causal: future weights are zero, rows sum to one
  for (int t = 0; t < T; t++) {
    float s = 0;
    for (int t2 = 0; t2 < T; t2++) {
      if (t2 > t) {
        EXPECT_EQ(att[t * T + t2], 0.0f);
      }
      s += att[t * T + t2];
    }
    EXPECT_NEAR(s, 1.0f, 1e-6);
  }
  auto loss = [&] {
    attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH);
    return dot_loss(out.data(), R);
  };
  expect_grad_close(loss, qkv.data(), dqkv.data(), all_indices(qkv.size()), "dqkv");
}

// The blocked attention against the row-at-a-time reference: T not a multiple of the row
// block (8) or the score tile (32), heads of 4, 24 (a vector and a scalar tail), 32 and 64.
TEST(Ops, BlockedAttentionMatchesReference) {
  struct Shape { int B, T, C, NH; };
  for (Shape s : {Shape{2, 5, 8, 2}, Shape{1, 37, 96, 3}, Shape{2, 70, 48, 2}, Shape{1, 256, 64, 2},
                  Shape{3, 33, 128, 2}}) {
    SCOPED_TRACE(::testing::Message() << "B " << s.B << " T " << s.T << " C " << s.C << " NH " << s.NH);
    const int n = s.B * s.T * s.C;
    auto qkv = random_vec(3 * n, 70, 2.0f), R = random_vec(n, 71);
    std::vector<float> out(n), ref_out(n), att((size_t)s.B * s.NH * s.T * s.T, 7.0f),
        ref_att(att.size(), -7.0f);
    attention_forward(out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    attention_forward_ref(ref_out.data(), ref_att.data(), qkv.data(), s.B, s.T, s.C, s.NH);
    for (size_t i = 0; i < att.size(); i++) ASSERT_NEAR(att[i], ref_att[i], 1e-6) << i;
    for (int i = 0; i < n; i++) ASSERT_NEAR(out[i], ref_out[i], 1e-5 * (1 + std::fabs(ref_out[i]))) << i;
    // both accumulate into dqkv: start from the same non-zero gradient
    auto dqkv = random_vec(3 * n, 72), ref_dqkv = dqkv;
    attention_backward(dqkv.data(), R.data(), qkv.data(), ref_att.data(), s.B, s.T, s.C, s.NH);
    attention_backward_ref(ref_dqkv.data(), R.data(), qkv.data(), ref_att.data(), s.B, s.T, s.C,
                           s.NH);
    for (int i = 0; i < 3 * n; i++)
      ASSERT_NEAR(dqkv[i], ref_dqkv[i], 2e-5 * (1 + std::fabs(ref_dqkv[i]))) << i;
  }
}

TEST(Ops, SoftmaxCrossEntropyBackwardFiniteDifferences) {
  int N = 6, V = 9;
  std::vector<int> tgt = {3, -1, 0, 8, 8, -1};
  auto logits = random_vec(N * V, 60, 3.0f);
  std::vector<float> buf(N * V), losses(N);
  auto loss = [&] {
    buf = logits;
    int cnt;
    return (double)softmax_crossentropy_forward(buf.data(), losses.data(), tgt.data(), N, V, &cnt);
  };
  double l0 = loss();
  // mean over the 4 counted rows, each -log softmax
  double ref = 0;
  for (int n = 0; n < N; n++) {
    if (tgt[n] < 0) continue;
    double mx = -1e30, s = 0;
    for (int v = 0; v < V; v++) mx = std::max(mx, (double)logits[n * V + v]);
    for (int v = 0; v < V; v++) s += std::exp(logits[n * V + v] - mx);
    ref += std::log(s) - (logits[n * V + tgt[n]] - mx);
  }
  EXPECT_NEAR(l0, ref / 4, 1e-5);
  EXPECT_EQ(losses[1], 0.0f);
  softmax_crossentropy_backward(buf.data(), tgt.data(), N, V, 1.0f / 4);
  std::vector<float> grad = buf;
  expect_grad_close(loss, logits.data(), grad.data(), all_indices(logits.size()), "dlogits");
}

TEST(Ops, FastExpMatchesStdExpAndItsVectorForm) {
  double max_rel = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.0173f) {
    double want = std::exp((double)x);
    max_rel = std::max(max_rel, std::fabs(exp_fast(x) - want) / want);
    float in[16];
    for (int i = 0; i < 16; i++) in[i] = x + 0.001f * i;
    v16 v = exp_fast(v16_load(in));
    for (int i = 0; i < 16; i++) ASSERT_EQ(v[i], exp_fast(in[i])) << in[i];
  }
  EXPECT_LT(max_rel, 3e-7);
  EXPECT_LT(exp_fast(-INFINITY), 1e-37f);  // clamped: exp(-inf) -> ~0, never NaN
  EXPECT_TRUE(std::isfinite(exp_fast(1000.0f)));
  EXPECT_NEAR(v16_hsum(v16_set1(0.5f)), 8.0f, 0);
}
