#include "ops/matmul.h"

#include "base/error.h"
#include "ops/bf16.h"
#include "ops/vec.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

namespace softslm {

namespace {

inline v16 load16(const float* p) { return v16_load(p); }
// bf16 panels hold each full group of 32 columns as 16 32-bit pairs: lane i has column i in
// its low half and column 16 + i in its high half, so one 64-byte load widens to the two
// vectors of the group with one shift and one mask (pack_panels_bf16 lays them out so).
#if defined(__AVX512F__)
inline v16 load16(const uint16_t* p) {
  typedef uint16_t u16x16 __attribute__((vector_size(32), aligned(2)));
  typedef uint32_t u32x16 __attribute__((vector_size(64)));
  return (v16)(__builtin_convertvector(*(const u16x16*)p, u32x16) << 16);
}
inline void load32(const uint16_t* p, v16& first, v16& second) {
  typedef uint32_t u32x16 __attribute__((vector_size(64), aligned(4)));
  const u32x16 w = *(const u32x16*)p;
  first = (v16)(w << 16), second = (v16)(w & 0xFFFF0000u);
}
#else
typedef uint32_t u32x8 __attribute__((vector_size(32), aligned(4)));
inline v8 widen8(const uint16_t* p) {
  typedef uint16_t u16x8 __attribute__((vector_size(16), aligned(2)));
  return (v8)(__builtin_convertvector(*(const u16x8*)p, u32x8) << 16);
}
inline v16 load16(const uint16_t* p) { return {widen8(p), widen8(p + 8)}; }
inline void load32(const uint16_t* p, v16& first, v16& second) {
  const u32x8 lo = *(const u32x8*)p, hi = *(const u32x8*)(p + 16);
  first = {(v8)(lo << 16), (v8)(hi << 16)};
  second = {(v8)(lo & 0xFFFF0000u), (v8)(hi & 0xFFFF0000u)};
}
#endif
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return bf16_to_f32(*p); }

constexpr int MR = kMatmulRows;  // rows of a per micro-tile (see tile_block)
constexpr int NR = 32;  // columns of b per micro-tile (two vectors)

// out[MI, 16*NV] (+)= a[MI, K] . b[K, 16*NV]: MI*NV vector accumulators, one broadcast of a
// per row and k, the k loop in order (each element a sequential FMA chain).
// TA: a is stored transposed, element (i, k) at a[k * lda + i].
// B: float, or uint16_t holding bfloat16 (widened exactly to float on load, so a bf16 product
// equals the float product with the widened matrix, bit for bit).
// PF: prefetch b kPrefetchRows rows ahead (the first pass over a strip that is in L3 or DRAM).
// Never inlined: inlined into its dispatchers (tile_upto), GCC gave them a large frame set up
// with a memset on every call (~9 % of a prefill in the profile, for one or two calls per tile).
constexpr int kPrefetchRows = 32;
template <int MI, int NV, bool TA = false, typename B = float, bool PF = false>
[[gnu::noinline]] void tile(float* out, int ldo, const float* a, int lda, const B* b, int ldb,
                            int K, bool acc) {
  // The chains start from out when accumulating, else from zeros: loaded either way (a
  // select per accumulator made GCC stage them all through the stack on every call).
  static const float zeros[16 * NV] = {};
  const float* init = acc ? out : zeros;
  const size_t ldi = acc ? ldo : 0;
  v16 c[MI][NV];
  for (int i = 0; i < MI; i++)
    for (int v = 0; v < NV; v++) c[i][v] = v16_load(init + i * ldi + 16 * v);
  for (int k = 0; k < K; k++) {
    if constexpr (PF)
      for (int v = 0; v < NV; v += 64 / (16 * (int)sizeof(B)))
        __builtin_prefetch(b + (size_t)(k + kPrefetchRows) * ldb + 16 * v);
    v16 bv[NV];
    if constexpr (std::is_same_v<B, uint16_t> && NV % 2 == 0) {
      for (int v = 0; v < NV; v += 2) load32(b + (size_t)k * ldb + 16 * v, bv[v], bv[v + 1]);
    } else {
      for (int v = 0; v < NV; v++) bv[v] = load16(b + (size_t)k * ldb + 16 * v);
    }
    for (int i = 0; i < MI; i++) {
      float s = TA ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k];
      for (int v = 0; v < NV; v++) c[i][v] += s * bv[v];
    }
  }
  for (int i = 0; i < MI; i++)
    for (int v = 0; v < NV; v++) v16_store(out + (size_t)i * ldo + 16 * v, c[i][v]);
}

// Columns past the last full vector: scalar FMA chains in the same k order.
template <bool TA, typename B>
inline void tile_scalar(float* out, int ldo, const float* a, int lda, const B* b, int ldb,
                        int K, int mi, int nj, bool acc) {
  for (int i = 0; i < mi; i++)
    for (int j = 0; j < nj; j++) {
      float* o = out + (size_t)i * ldo + j;
      float s = acc ? *o : 0.0f;
      for (int k = 0; k < K; k++)
        s = __builtin_fmaf(TA ? a[(size_t)k * lda + i] : a[(size_t)i * lda + k],
                           load1(b + (size_t)k * ldb + j), s);
      *o = s;
    }
}

// mi <= MI rows: the tile of exactly mi rows.
template <int MI, int NV, bool TA, typename B, bool PF = false>
inline void tile_upto(int mi, float* out, int ldo, const float* a, int lda, const B* b, int ldb,
                      int K, bool acc) {
  if constexpr (MI > 1)
    if (mi < MI) return tile_upto<MI - 1, NV, TA, B, PF>(mi, out, ldo, a, lda, b, ldb, K, acc);
  tile<MI, NV, TA, B, PF>(out, ldo, a, lda, b, ldb, K, acc);
}

// A block of mi <= MR rows and NR columns in the tiles that fit the registers. AVX-512: one
// 8 x 32 tile (16 of its 32 registers). AVX2 (16 registers of 8 floats): two 6 x 16 tiles
// (12 accumulators, 2 of b, 1 broadcast), or for bf16, whose paired columns need both halves
// of a group at once, 3 x 32 tiles. A row's FMA chains are the same in any tile, so the bits
// do not depend on the ISA.
template <bool TA, typename B, bool PF = false>
inline void tile_block(int mi, float* out, int ldo, const float* a, int lda, const B* b, int ldb,
                       int K, bool acc) {
  if constexpr (kWideVectors) {
    tile_upto<MR, 2, TA, B, PF>(mi, out, ldo, a, lda, b, ldb, K, acc);
  } else if constexpr (std::is_same_v<B, uint16_t>) {
    for (int i = 0; i < mi; i += 3)
      tile_upto<3, 2, TA, B, PF>(std::min(3, mi - i), out + (size_t)i * ldo, ldo,
                                 TA ? a + i : a + (size_t)i * lda, lda, b, ldb, K, acc);
  } else {
    tile_upto<MR, 1, TA, B, PF>(mi, out, ldo, a, lda, b, ldb, K, acc);
    tile_upto<MR, 1, TA, B, PF>(mi, out + 16, ldo, a, lda, b + 16, ldb, K, acc);
  }
}

// One micro-tile: rows [i0, i0+mi), columns [j0, j0+nj) with nj <= NR. a is [M, K] with row
// stride lda, or [K, M] (row stride lda) when TA.
// out has row stride ldo, b row stride ldb (N for a row-major b, a panel's width for panels).
template <bool TA = false, typename B = float>
inline void micro(float* out, int ldo, const float* a, int lda, const B* b, int ldb, int K,
                  int i0, int mi, int j0, int nj, bool acc) {
  float* o = out + (size_t)i0 * ldo + j0;
  const float* ap = TA ? a + i0 : a + (size_t)i0 * lda;
  const B* bp = b + j0;
  int done = 0;
  if (nj == NR) {
    tile_block<TA>(mi, o, ldo, ap, lda, bp, ldb, K, acc);
    done = NR;
  } else if (nj >= 16) {  // a last partial group: bf16 columns in order
    tile_upto<MR, 1, TA>(mi, o, ldo, ap, lda, bp, ldb, K, acc);
    done = 16;
  }
  if (done < nj) tile_scalar<TA>(o + done, ldo, ap, lda, bp + done, ldb, K, mi, nj - done, acc);
}

// Few rows (decode): wide tiles, so each k reads a long contiguous run of b (256-512 bytes
// per row instead of 128) and the column blocks still spread over threads.
constexpr int kSmallM = 4;
constexpr int NW = 128;  // columns per wide tile (8 vectors)
constexpr int kManyRows = 64;  // from here a column block is NW wide, read through strips

// a is [mi, K] with row stride lda.
template <typename B>
inline void micro_wide(float* out, int ldo, const float* a, int lda, const B* b, int ldb, int K,
                       int mi, int j0, int nj, bool acc) {
  float* o = out + j0;
  const B* bp = b + j0;
  if (nj == NW && !kWideVectors && mi == 1) {  // AVX2: 8 of 16 registers per half
    tile<1, 4>(o, ldo, a, lda, bp, ldb, K, acc);
    tile<1, 4>(o + 64, ldo, a, lda, bp + 64, ldb, K, acc);
    return;
  }
  if (nj == NW && kWideVectors) {
    switch (mi) {
      case 1: tile<1, 8>(o, ldo, a, lda, bp, ldb, K, acc); break;
      case 2: tile<2, 8>(o, ldo, a, lda, bp, ldb, K, acc); break;
      case 3:
        tile<3, 4>(o, ldo, a, lda, bp, ldb, K, acc);
        tile<3, 4>(o + 64, ldo, a, lda, bp + 64, ldb, K, acc);
        break;
      default:
        tile<4, 4>(o, ldo, a, lda, bp, ldb, K, acc);
        tile<4, 4>(o + 64, ldo, a, lda, bp + 64, ldb, K, acc);
        break;
    }
    return;
  }
  for (int j = 0; j < nj; j += NR)
    micro<false, B>(out, ldo, a, lda, b, ldb, K, 0, mi, j0 + j, std::min(NR, nj - j), acc);
}

// Strips of b that many-row products read instead of b itself: kStrip columns, a tile's
// width (32 with AVX-512; 16 with AVX2, whose tiles are 16 wide: tile_block), [kc, kStrip]
// contiguous, so a tile reads whole cache lines, not part of each row of a wider matrix
// whose stride maps a column strip to a few cache sets.
constexpr int kStrip = kWideVectors ? NR : 16;

// dst[kc, kStrip] = columns [j0, j0 + w) of b (row stride ldb) over rows [k0, k0 + kc), zero
// past w
inline void pack_strip(float* dst, const float* b, int ldb, int j0, int w, int k0, int kc) {
  for (int k = 0; k < kc; k++) {
    float* d = dst + (size_t)k * kStrip;
    const float* src = b + (size_t)(k0 + k) * ldb + j0;
    if (w == kStrip)
      std::memcpy(d, src, sizeof(float) * kStrip);  // a constant size: vector moves
    else
      for (int c = 0; c < kStrip; c++) d[c] = c < w ? src[c] : 0.0f;
  }
}

// Per-thread buffers: 0 a transposed weight (matmul_backward), 1 strips of b, 2 row tiles of a.
std::vector<float>& scratch(int which, size_t n) {
  static thread_local std::vector<float> bufs[3];
  if (bufs[which].size() < n) bufs[which].resize(n);
  return bufs[which];
}

// Many rows (training), BLIS-style. For each block of KC k's, b's rows are packed into
// strips ([kc, kStrip] each, zero-padded) and each thread packs a block of its rows of a into
// tiles of MR rows ([kc, MR] each: the transposed layout, one contiguous stream), then
// multiplies every strip (in L1) by every tile of its block (from L2).
// After the first k block the accumulators start from out, so an element is still one FMA
// chain over all k.
constexpr int KC = 4096 / kStrip;  // k per block: a strip is 16 KB
constexpr int MC = 96;  // rows of a packed block of a, at most (a multiple of MR)

// dst[kc, MR] = rows [i0, i0 + mi) of a over k in [k0, k0 + kc), zero past mi
template <bool TA>
inline void pack_tile(float* dst, const float* a, int lda, int i0, int mi, int k0, int kc) {
  if (mi < MR) {
    std::memset(dst, 0, sizeof(float) * MR * kc);
    for (int k = 0; k < kc; k++)
      for (int r = 0; r < mi; r++)
        dst[(size_t)k * MR + r] =
            TA ? a[(size_t)(k0 + k) * lda + i0 + r] : a[(size_t)(i0 + r) * lda + k0 + k];
    return;
  }
  if constexpr (TA) {
    for (int k = 0; k < kc; k++)
      std::memcpy(dst + (size_t)k * MR, a + (size_t)(k0 + k) * lda + i0, sizeof(float) * MR);
  } else {
    const float* rows[MR];  // the MR rows advance together: MR streams in flight
    for (int r = 0; r < MR; r++) rows[r] = a + (size_t)(i0 + r) * lda + k0;
    for (int k = 0; k < kc; k++)
      for (int r = 0; r < MR; r++) dst[(size_t)k * MR + r] = rows[r][k];
  }
}

// out[mi, w] (+)= packed tile . packed strip, mi < MR or w < kStrip: through a whole tile
[[gnu::noinline]] void packed_edge(float* out, int ldo, const float* ap, const float* bp, int kc,
                                   int mi, int w, bool acc) {
  float edge[MR * kStrip] = {};
  for (int i = 0; acc && i < mi; i++)
    std::memcpy(edge + i * kStrip, out + (size_t)i * ldo, sizeof(float) * w);
  tile<MR, kStrip / 16, true>(edge, kStrip, ap, MR, bp, kStrip, kc, acc);
  for (int i = 0; i < mi; i++)
    std::memcpy(out + (size_t)i * ldo, edge + i * kStrip, sizeof(float) * w);
}

// out[mi, w] (+)= packed tile [kc, MR] . packed strip [kc, kStrip]
inline void packed_tile(float* out, int ldo, const float* ap, const float* bp, int kc, int mi,
                        int w, bool acc) {
  if (mi == MR && w == kStrip)
    tile<MR, kStrip / 16, true>(out, ldo, ap, MR, bp, kStrip, kc, acc);
  else
    packed_edge(out, ldo, ap, bp, kc, mi, w, acc);
}

template <bool TA>
void gemm_packed(float* out, const float* a, int lda, const float* b, int M, int K, int N,
                 bool accumulate) {
  const int ST = (N + kStrip - 1) / kStrip, MT = (M + MR - 1) / MR;  // strips, row tiles
  // Work units (row block, group of strips) of near-equal size, handed to the threads as
  // they come free (a core slowed by another guest takes fewer). Row blocks: a multiple of
  // the threads, tiles [MT rb / RB, MT (rb + 1) / RB). A block's strips are split into groups
  // only when there are few blocks, and only into groups of 16 strips or more: each group's
  // thread packs the block's tiles again.
  const int nt = omp_get_max_threads();
  const int RB = ((MT + MC / MR - 1) / (MC / MR) + nt - 1) / nt * nt;
  const int G = std::max(1, std::min(ST / 16, (4 * nt + RB - 1) / RB));
  float* strips = scratch(1, (size_t)ST * kStrip * std::min(K, KC)).data();
#pragma omp parallel
  {
    float* tiles = scratch(2, (size_t)MC * KC).data();
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      const bool acc = accumulate || k0 > 0;
#pragma omp for schedule(static)
      for (int s = 0; s < ST; s++)
        pack_strip(strips + (size_t)s * kStrip * kc, b, N, s * kStrip,
                   std::min(kStrip, N - s * kStrip), k0, kc);
      int packed = -1;  // the row block in this thread's tiles
#pragma omp for schedule(dynamic, 1)
      for (int u = 0; u < RB * G; u++) {
        const int rb = u / G, g = u % G, b0 = MT * rb / RB, b1 = MT * (rb + 1) / RB;
        if (rb != packed)
          for (int t = b0; t < b1; t++)
            pack_tile<TA>(tiles + (size_t)(t - b0) * MR * kc, a, lda, t * MR,
                          std::min(MR, M - t * MR), k0, kc);
        packed = rb;
        for (int s = ST * g / G; s < ST * (g + 1) / G; s++)
          for (int t = b0; t < b1; t++)
            packed_tile(out + (size_t)t * MR * N + s * kStrip, N,
                        tiles + (size_t)(t - b0) * MR * kc, strips + (size_t)s * kStrip * kc, kc,
                        std::min(MR, M - t * MR), std::min(kStrip, N - s * kStrip), acc);
      }
    }
  }
}

}  // namespace

void matmul_nn_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float* o = out + (size_t)i * N + j;
      float s = accumulate ? *o : 0.0f;
      for (int k = 0; k < K; k++) s = std::fma(a[(size_t)i * K + k], b[(size_t)k * N + j], s);
      *o = s;
    }
}

// The paths of matmul_nn and matmul_tn by row count. a has row stride lda ([M, K], or [K, M]
// when TA).
template <bool TA>
void gemm(float* out, const float* a, int lda, const float* b, int M, int K, int N,
          bool accumulate) {
  const int MT = (M + MR - 1) / MR;
  const bool par = (long)M * N * K > (1 << 16);
  if (!TA && M <= kSmallM) {
    const int NT = (N + NW - 1) / NW;
#pragma omp parallel for schedule(static) if (par)
    for (int jt = 0; jt < NT; jt++)
      micro_wide(out, N, a, lda, b, N, K, M, jt * NW, std::min(NW, N - jt * NW), accumulate);
    return;
  }
  if (M < kManyRows || !par) {
    // Few row tiles (batched decode): column tiles outside, so each K x NR strip of b comes
    // from L3 once and serves every row tile from L1/L2; threads split the columns.
    const int NT = (N + NR - 1) / NR;
#pragma omp parallel for schedule(static) if (par)
    for (int jt = 0; jt < NT; jt++)
      for (int it = 0; it < MT; it++) {
        int i0 = it * MR, j0 = jt * NR;
        micro<TA>(out, N, a, lda, b, N, K, i0, std::min(MR, M - i0), j0, std::min(NR, N - j0),
                  accumulate);
      }
    return;
  }
  gemm_packed<TA>(out, a, lda, b, M, K, N, accumulate);
}

void matmul_nn(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate) {
  gemm<false>(out, a, K, b, M, K, N, accumulate);
}

int matmul_col_unit(int M) { return M <= kSmallM || M >= kManyRows ? NW : NR; }

// Columns [j0, j1) of out[M, ldo] (+)= a[M, K] . b[K, :] with b's row stride ldb.
template <typename B>
static void nn_cols(float* out, int ldo, const float* a, const B* b, int ldb, int M, int K,
                    int j0, int j1, bool accumulate) {
  if (M <= kSmallM) {
    for (int j = j0; j < j1; j += NW)
      micro_wide(out, ldo, a, K, b, ldb, K, M, j, std::min(NW, j1 - j), accumulate);
    return;
  }
  if (M < kManyRows) {  // few row tiles: each K x NR strip of b from L1 for all of them
    for (int j = j0; j < j1; j += NR) {
      int i0 = 0;
      if (j1 - j >= NR && M >= MR) {  // the first row tile fetches the strip: prefetch ahead
        tile_block<false, B, true>(MR, out + j, ldo, a, K, b + j, ldb, K, accumulate);
        i0 = MR;
      }
      for (; i0 < M; i0 += MR)
        micro<false, B>(out, ldo, a, K, b, ldb, K, i0, std::min(MR, M - i0), j,
                        std::min(NR, j1 - j), accumulate);
    }
    return;
  }
  // many rows (prefill)
  if constexpr (!kWideVectors && std::is_same_v<B, float>) {
    // AVX2: as in gemm_packed, per block of KC k's the columns packed into strips (a
    // panel's rows are 512 bytes apart: read in place, a tile would use half of each line
    // it fetches), each strip (in L1) multiplied by every row tile (from L2); the chains
    // continue through out from one k block to the next
    const int n = j1 - j0, NT = (n + kStrip - 1) / kStrip;
    float* strips = scratch(1, (size_t)std::min(K, KC) * NT * kStrip).data();
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      for (int jt = 0; jt < NT; jt++)
        pack_strip(strips + (size_t)jt * kStrip * kc, b, ldb, j0 + jt * kStrip,
                   std::min(kStrip, n - jt * kStrip), k0, kc);
      for (int jt = 0; jt < NT; jt++)
        for (int i0 = 0; i0 < M; i0 += MR)
          micro<false, B>(out + j0 + jt * kStrip, ldo, a + k0, K,
                          strips + (size_t)jt * kStrip * kc, kStrip, kc, i0, std::min(MR, M - i0),
                          0, std::min(kStrip, n - jt * kStrip), accumulate || k0 > 0);
    }
    return;
  }
  // AVX-512: a row tile of a stays in L1 across the columns, b's block in L2
  for (int i0 = 0; i0 < M; i0 += MR)
    for (int j = j0; j < j1; j += NR)
      micro<false, B>(out, ldo, a, K, b, ldb, K, i0, std::min(MR, M - i0), j,
                      std::min(NR, j1 - j), accumulate);
}

// slot(j, width): where column j of a panel row goes. Identity for float; for bf16 the full
// groups of 32 columns are paired (column i at slot 2i, column 16 + i at slot 2i + 1: see
// load32), a last partial group stays in order.
template <typename B>
static std::vector<B> pack(const float* w, int K, int N, B (*conv)(float),
                           int (*slot)(int j, int width)) {
  std::vector<B> p((size_t)K * N);
  for (int p0 = 0; p0 < N; p0 += kPanel) {
    const int width = std::min(kPanel, N - p0);
    B* dst = p.data() + (size_t)p0 * K;
    for (int k = 0; k < K; k++)
      for (int j = 0; j < width; j++)
        dst[(size_t)k * width + slot(j, width)] = conv(w[(size_t)k * N + p0 + j]);
  }
  return p;
}

std::vector<float> pack_panels(const float* w, int K, int N) {
  return pack<float>(w, K, N, [](float x) { return x; }, [](int j, int) { return j; });
}

int bf16_panel_slot(int j, int width) {
  const int g = j / 32 * 32, i = j - g;
  if (g + 32 > width) return j;  // the last, partial group
  return g + (i < 16 ? 2 * i : 2 * (i - 16) + 1);
}

std::vector<uint16_t> pack_panels_bf16(const float* w, int K, int N) {
  return pack<uint16_t>(w, K, N, f32_to_bf16, bf16_panel_slot);
}

// Each panel's share of [j0, j1) is a column range of a [K, width] matrix.
template <typename B>
static void panels_cols(float* out, const float* a, const B* panels, int M, int K, int N, int j0,
                        int j1, bool accumulate) {
  for (int p0 = j0 / kPanel * kPanel; p0 < j1; p0 += kPanel) {
    const int width = std::min(kPanel, N - p0);
    const int lo = std::max(j0, p0) - p0, hi = std::min(j1, p0 + width) - p0;
    nn_cols(out + p0, N, a, panels + (size_t)p0 * K, width, M, K, lo, hi, accumulate);
  }
}

void matmul_panels_cols(float* out, const float* a, const float* panels, int M, int K, int N,
                        int j0, int j1, bool accumulate) {
  panels_cols(out, a, panels, M, K, N, j0, j1, accumulate);
}

void matmul_panels_cols(float* out, const float* a, const uint16_t* panels, int M, int K, int N,
                        int j0, int j1, bool accumulate) {
  check(j0 % 32 == 0 && (j1 % 32 == 0 || j1 == N),
        "bf16 panel product: columns must split at multiples of 32 (got ", j0, "..", j1, ")");
  panels_cols(out, a, panels, M, K, N, j0, j1, accumulate);
}

template <bool TA>
static void block(float* out, int ldo, const float* a, int lda, const float* b, int ldb, int M,
                  int K, int N, bool accumulate) {
  for (int i0 = 0; i0 < M; i0 += MR)
    for (int j = 0; j < N; j += NR)
      micro<TA>(out, ldo, a, lda, b, ldb, K, i0, std::min(MR, M - i0), j, std::min(NR, N - j),
                accumulate);
}

void matmul_block(float* out, int ldo, const float* a, int lda, bool ta, const float* b, int ldb,
                  int M, int K, int N, bool accumulate) {
  if (ta)
    block<true>(out, ldo, a, lda, b, ldb, M, K, N, accumulate);
  else
    block<false>(out, ldo, a, lda, b, ldb, M, K, N, accumulate);
}

void matmul_tn(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate) {
  gemm<true>(out, a, M, b, M, K, N, accumulate);
}

void matmul_tn_ref(float* out, const float* a, const float* b, int M, int K, int N, bool accumulate) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float* o = out + (size_t)i * N + j;
      float s = accumulate ? *o : 0.0f;
      for (int k = 0; k < K; k++) s = std::fma(a[(size_t)k * M + i], b[(size_t)k * N + j], s);
      *o = s;
    }
}

void transpose(float* out, const float* in, int rows, int cols) {
  const int BS = 32;
#pragma omp parallel for collapse(2) schedule(static) if ((long)rows * cols > (1 << 16))
  for (int r0 = 0; r0 < rows; r0 += BS)
    for (int c0 = 0; c0 < cols; c0 += BS)
      for (int r = r0; r < std::min(rows, r0 + BS); r++)
        for (int c = c0; c < std::min(cols, c0 + BS); c++)
          out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int C,
                    int OC) {
  matmul_nn(out, inp, w, N, C, OC, false);
  if (bias) {
#pragma omp parallel for schedule(static) if ((long)N * OC > (1 << 16))
    for (int n = 0; n < N; n++)
      for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += bias[o];
  }
}

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp,
                     const float* w, int N, int C, int OC) {
  if (dinp) {
    // dinp[N, C] += dout[N, OC] . wT[OC, C]
    std::vector<float>& wT = scratch(0, (size_t)C * OC);
    transpose(wT.data(), w, C, OC);
    matmul_nn(dinp, dout, wT.data(), N, OC, C, true);
  }
  // dw[C, OC] += inp^T . dout[N, OC]
  matmul_tn(dw, inp, dout, C, N, OC, true);
  if (dbias) {
    int nt = omp_get_max_threads();
    std::vector<float> part((size_t)nt * OC, 0.0f);
#pragma omp parallel if ((long)N * OC > (1 << 16))
    {
      float* p = part.data() + (size_t)omp_get_thread_num() * OC;
#pragma omp for schedule(static)
      for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) p[o] += dout[(size_t)n * OC + o];
    }
    for (int t = 0; t < nt; t++)
      for (int o = 0; o < OC; o++) dbias[o] += part[(size_t)t * OC + o];
  }
}

}  // namespace softslm
