// The SGEMM microkernel written once with xsimd; gemm_<isa>.cpp instantiates it with that ISA's
// flags. The tile is MR rows by NV vectors: MR * NV accumulators stay in registers for the whole
// kc loop, each step broadcasting one A value per row against NV B vectors.
#pragma once
#include <algorithm>
#include <cmath>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "kernels/gemm.h"
#include "kernels/gemm_tile_6x16_fma3.h"
#include "kernels/simd_fma.h"

namespace normrt::kernels::simd {

// MRX: the most rows one tile takes (GemmPrimitives::mr_max), MR or up to MR + 2; rows past MR
// come from the next packed A panel.
template <class Arch, int MR, int NV, int KC, int64_t InPlaceCols = kGemmInPlaceMaxColumns, int MRX = MR>
struct Gemm {
  static_assert(MRX >= MR && MRX <= MR + 2, "a tall tile takes at most two rows of the next panel");
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;
  static constexpr int64_t NR = NV * W;

  // A from packed panels (a + p * MR + i) or, when Packed is false, read in place from row-major
  // memory (a + i * lda + p): the broadcasts cost the same either way while the rows sit in L1.
  // NVE: the vectors actually computed (NV, or 1 for an edge tile at most one vector wide: a head
  // size of 40 leaves an 8-column tile after a full one, which then costs half the FMAs).
  template <bool Packed, int NVE = NV, int MRE = MR>
  static void tile(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate, int64_t rows,
                   int64_t cols, const float* pf = nullptr) {
    if constexpr (NVE > 1)
      if (cols <= W) return tile<Packed, 1, MRE>(kc, a, lda, b, c, ldc, accumulate, rows, cols, pf);
    // MRE: the rows actually computed. An edge tile of at most 4 (or 2) rows runs a 4- (or 2-)
    // row tile instead of all MR: a 128-row product (BERT and GPT-2 at sequence 128) ends in a tile
    // of 2 rows, which cost as much as a full one, 3% of every product's tiles. Paired runs on Zen 3:
    // BERT-base s128 1.030x at 1 thread and 1.024x at 2, GPT-2 s128 1.018x and 1.013x. Same bits
    // (each value is the same chain of multiply-adds).
    if constexpr (MRE == MR && MRX > MR)
      if (rows > MR) return tile<Packed, NVE, MRX>(kc, a, lda, b, c, ldc, accumulate, rows, cols, pf);
    if constexpr (MRE == MR && MR > 4)
      if (rows <= 4) return rows <= 2 ? tile<Packed, NVE, 2>(kc, a, lda, b, c, ldc, accumulate, rows, cols, pf)
                                      : tile<Packed, NVE, 4>(kc, a, lda, b, c, ldc, accumulate, rows, cols, pf);
    // C's rows are asked for now, while the k loop runs, not when the result is stored: with a
    // depth split (K = 3072 in 4 blocks) each block reloads the tile, and C (a whole row block,
    // 132 x 768 floats and more) is no longer in L1 or L2 by then; the first block's stores find
    // their lines in place too. Paired runs on Zen 3: GPT-2 s512 1.08x, BERT-base s128 1.03x (1.04x
    // at 2 threads), [4096, 3072] x [3072, 768] 1.04-1.05x; ViT-B/16 1.00-1.11x (1 thread).
    for (int64_t i = 0; i < rows; ++i) {
      __builtin_prefetch(c + i * ldc, 1, 3);
      __builtin_prefetch(c + i * ldc + cols - 1, 1, 3);  // a row that straddles two lines
    }
    B acc[MRE][NVE];
#if defined(NORMRT_GEMM_TILE_6X16_FMA3)
    // AVX2's full tile runs its k loop in assembly (gemm_tile_6x16_fma3.h says why).
    // In-place A with rows past the edge (they repeat the last row) stays on the portable loop.
    if constexpr (MRE == 6 && NVE == 2 && std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) {
      if (Packed || rows == MRE) {
        // A whole tile goes straight to C; an edge tile's sums through a buffer.
        const bool whole = rows == MRE && cols == NR;
        alignas(32) float sums[MRE * NR];
        float* out = whole ? c : sums;
        const int64_t ldo = whole ? ldc : NR;
        if constexpr (Packed) gemm_tile_6x16_fma3(kc, a, b, pf, out, ldo, whole && accumulate);
        else gemm_tile_6x16_fma3_rows(kc, a, lda, b, pf, out, ldo, whole && accumulate);
        if (whole) return;
        for (int i = 0; i < MRE; ++i)
          for (int v = 0; v < NVE; ++v) acc[i][v] = B::load_aligned(sums + i * NR + v * W);
        return store_tile(acc, c, ldc, accumulate, rows, cols);
      }
    }
#endif
    for (int i = 0; i < MRE; ++i)
      for (int v = 0; v < NVE; ++v) acc[i][v] = B(0.0f);
    const float* row[MRE];  // in-place A: rows past the edge repeat the last one (computed, never stored)
    if constexpr (!Packed)
      for (int i = 0; i < MRE; ++i) row[i] = a + std::min<int64_t>(i, rows - 1) * lda;
    auto step = [&](int64_t p) {
      B bv[NVE];
      for (int v = 0; v < NVE; ++v) bv[v] = B::load_aligned(b + p * NR + v * W);
      for (int i = 0; i < MRE; ++i) {
        const B ai(Packed ? (i < MR ? a[p * MR + i] : a[(kc + p) * MR + i - MR]) : row[i][p]);
        for (int v = 0; v < NVE; ++v) acc[i][v] = fmadd(ai, bv[v], acc[i][v]);
      }
    };
    // Four steps of k per iteration, written out: the compiler kept the loop rolled, and its counter,
    // branch and prefetch test per step cost 7-9% end to end on BERT-base and ViT-B/16 (measured
    // run by run in one process; unrolling by 8 measured the same as by 4).
    int64_t p = 0;
    if (pf)
      for (; p + 4 <= kc; p += 4) {
        // One line of the next panel per 4 steps, into every cache level: measured 1-3% faster end
        // to end than into L2 only (paired runs: BERT-base s128 1.027x, GPT-2 s128 1.019x, ViT
        // 1.011x at 1 thread), though the panel outgrows L1.
        __builtin_prefetch(pf + p * 4, 0, 3);
        step(p), step(p + 1), step(p + 2), step(p + 3);
      }
    else
      for (; p + 4 <= kc; p += 4) step(p), step(p + 1), step(p + 2), step(p + 3);
    for (; p < kc; ++p) step(p);
    store_tile(acc, c, ldc, accumulate, rows, cols);
  }

  // The tile's accumulators into C (added to what it holds when accumulate); an edge tile stores
  // only its valid rows, and of them the valid columns.
  template <int MRE, int NVE>
  static void store_tile(B (&acc)[MRE][NVE], float* c, int64_t ldc, bool accumulate, int64_t rows, int64_t cols) {
    if (rows == MRE && cols == NVE * W) {
      for (int i = 0; i < MRE; ++i) {
        float* ci = c + i * ldc;
        for (int v = 0; v < NVE; ++v) {
          if (accumulate) acc[i][v] += B::load_unaligned(ci + v * W);
          acc[i][v].store_unaligned(ci + v * W);
        }
      }
      return;
    }
    for (int64_t i = 0; i < rows; ++i) store_row(acc[i], c + i * ldc, cols, accumulate);
  }

  // One row of accumulators (N vectors) into c[0, cols), cols <= N * W, added to what c holds when
  // accumulate: whole vectors directly, a partial last one through a buffer.
  template <int N>
  static void store_row(B (&acc)[N], float* c, int64_t cols, bool accumulate) {
    const int64_t full = std::min<int64_t>(N, cols / W), rest = cols - full * W;
    for (int v = 0; v < full; ++v) {
      if (accumulate) acc[v] += B::load_unaligned(c + v * W);
      acc[v].store_unaligned(c + v * W);
    }
    if (rest > 0) {
      alignas(64) float buf[W];
      acc[full].store_aligned(buf);
      float* cj = c + full * W;
      for (int64_t j = 0; j < rest; ++j) cj[j] = accumulate ? cj[j] + buf[j] : buf[j];
    }
  }

  static void row_times_matrix(const float* a, int64_t k, const float* b, int64_t ldb, float* c, int64_t n) {
    int64_t j = 0;
    // Four vectors of columns at a time, accumulated over all of k in registers.
    for (; j + 4 * W <= n; j += 4 * W) {
      B c0(0.0f), c1(0.0f), c2(0.0f), c3(0.0f);
      for (int64_t p = 0; p < k; ++p) {
        const B ap(a[p]);
        const float* bp = b + p * ldb + j;
        c0 = fmadd(ap, B::load_unaligned(bp), c0);
        c1 = fmadd(ap, B::load_unaligned(bp + W), c1);
        c2 = fmadd(ap, B::load_unaligned(bp + 2 * W), c2);
        c3 = fmadd(ap, B::load_unaligned(bp + 3 * W), c3);
      }
      c0.store_unaligned(c + j), c1.store_unaligned(c + j + W), c2.store_unaligned(c + j + 2 * W), c3.store_unaligned(c + j + 3 * W);
    }
    for (; j + W <= n; j += W) {
      B c0(0.0f);
      for (int64_t p = 0; p < k; ++p) c0 = fmadd(B(a[p]), B::load_unaligned(b + p * ldb + j), c0);
      c0.store_unaligned(c + j);
    }
    for (; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t p = 0; p < k; ++p) acc = std::fma(a[p], b[p * ldb + j], acc);
      c[j] = acc;
    }
  }

  static void microkernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate, int64_t rows,
                          int64_t cols, const float* pf) {
    tile<true>(kc, a, 0, b, c, ldc, accumulate, rows, cols, pf);
  }

  // One row of A against packed B panels: each panel (kc x NR, contiguous) is streamed once. Each
  // output vector is one FMA chain over k, in the tile's order, so a row gives the same bits whether
  // it goes through here or through a tile. kRowPanels panels go side by side: one panel's NV
  // chains alone wait on the FMA latency every step (M = 1 at 0.77x oneDNN on Zen 3, 2 chains of
  // 4-cycle FMAs); four panels give 4 * NV independent chains.
  static constexpr int kRowPanels = 4;
  template <int G>
  static void row_times_panel_group(int64_t kc, const float* a, const float* bp, float* c, int64_t cols, bool accumulate) {
    B s[G][NV];
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < NV; ++v) s[g][v] = B(0.0f);
    for (int64_t p = 0; p < kc; ++p) {
      const B ap(a[p]);
      for (int g = 0; g < G; ++g)
        for (int v = 0; v < NV; ++v) s[g][v] = fmadd(ap, B::load_aligned(bp + g * kc * NR + p * NR + v * W), s[g][v]);
    }
    for (int g = 0; g < G; ++g) store_row(s[g], c + g * NR, std::min<int64_t>(NR, cols - g * NR), accumulate);
  }
  static void row_times_panels(int64_t kc, const float* a, const float* panels, int64_t n_panels, float* c, int64_t cols,
                               bool accumulate) {
    int64_t jr = 0;
    for (; jr + kRowPanels <= n_panels; jr += kRowPanels)
      row_times_panel_group<kRowPanels>(kc, a, panels + jr * kc * NR, c + jr * NR, cols - jr * NR, accumulate);
    for (; jr < n_panels; ++jr) row_times_panel_group<1>(kc, a, panels + jr * kc * NR, c + jr * NR, cols - jr * NR, accumulate);
  }

  // Rows [0, rows) of a row-major A (row i at a + i * lda) into one MR-row panel of kc steps,
  // zero-padded: with MR known here the copy unrolls into straight loads and stores (on AVX2 after
  // pack_a_panel_6x8 has done 8 steps at a time).
  static void pack_a_panel(const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
    int64_t p = 0;
#if defined(__AVX2__)
    if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>> && MR == 6) p = pack_a_panel_6x8(a, lda, rows, kc, out);
#endif
    const float* row[MR];
    for (int i = 0; i < MR; ++i) row[i] = i < rows ? a + i * lda : nullptr;
    if (rows == MR) {
      for (; p < kc; ++p)
        for (int i = 0; i < MR; ++i) out[p * MR + i] = row[i][p];
      return;
    }
    for (; p < kc; ++p)
      for (int i = 0; i < MR; ++i) out[p * MR + i] = row[i] ? row[i][p] : 0.0f;
  }

#if defined(__AVX2__)
  // The 8 x 8 block r (row i in r[i]) transposed in place: r[p] becomes column p. Pairs of rows
  // interleaved (t), then four rows per step with steps p and p + 4 in the two 128-bit halves
  // (u), then the halves joined.
  static void transpose_8x8(__m256 (&r)[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
  }

  // AVX2's 6-row panel, 8 steps of k at a time: the 6 x 8 block is loaded as 6 vectors (missing
  // rows are zeros), transposed as an 8 x 8 block with two zero rows, and each step's 6 values
  // stored with a whole-vector store whose 2 extra lanes the next step's store overwrites (the
  // eighth step's 6 go out as 4 + 2, so nothing is written past the block). Against copying value
  // by value (6 loads and 6 stores per step), interleaved trials on Zen 3 with A in cache:
  // [128, 768] and [128, 3072] 2.6x faster. In BERT-base s128 at 1 thread, where A mostly comes
  // from L2 or L3 just after the op that wrote it, `perf` put packing at 2.0% of the samples before
  // and 1.6% after; paired runs 1.018x (p10 0.984, p90 1.089), within this host's noise. Returns
  // the steps done; the caller copies the rest.
  static int64_t pack_a_panel_6x8(const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8, out += 8 * MR) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(a + i * lda + p) : _mm256_setzero_ps();  // rows <= MR = 6
      transpose_8x8(r);
      for (int q = 0; q < 7; ++q) _mm256_storeu_ps(out + q * MR, r[q]);
      _mm_storeu_ps(out + 7 * MR, _mm256_castps256_ps128(r[7]));
      _mm_storel_pi(reinterpret_cast<__m64*>(out + 7 * MR + 4), _mm256_extractf128_ps(r[7], 1));
    }
    return p;
  }
#endif

  static void pack_b_panel_transposed(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* out) {
    int64_t j = 0;
#if defined(__AVX2__)
    if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) j = pack_b_panel_transposed_8x8(b, ldb, cols, kc, out);
#endif
    pack_b_panel_transposed_from<NR>(b, ldb, cols, kc, out, j);
  }

#if defined(__AVX2__)
  // AVX2: eight source rows by eight steps of k at a time, transposed in registers (transpose_8x8:
  // 8 loads, 24 shuffles, 8 stores where the portable path makes 64 loads and 16 four-float
  // stores). With the keys in cache, 1.4-2.4x faster than the portable path compiled as gemm.cpp is
  // (interleaved trials, Zen 3, keys [128, 64], [197, 64], [2048, 64]); in the Attention op the keys
  // mostly come from L2 or beyond and it measured 1.012-1.014x at sequence 128 (paired runs),
  // ViT-B/16 1.023x (p10 0.959), both within this host's noise.
  // Returns the source rows done, all kc steps of them; the portable path takes the rest.
  static int64_t pack_b_panel_transposed_8x8(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* out) {
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
      const float* src = b + j * ldb;
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ldb + p);
        transpose_8x8(r);
        for (int q = 0; q < 8; ++q) _mm256_storeu_ps(out + (p + q) * NR + j, r[q]);
      }
      for (; p < kc; ++p)
        for (int i = 0; i < 8; ++i) out[p * NR + j + i] = src[i * ldb + p];
    }
    return j;
  }
#endif

  static void microkernel_rows(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate,
                               int64_t rows, int64_t cols, const float* pf) {
    tile<false>(kc, a, lda, b, c, ldc, accumulate, rows, cols, pf);
  }

  static const GemmPrimitives& table(Isa isa) {
    static const GemmPrimitives t{isa,         MR,         static_cast<int>(NR), MRX,          KC,          InPlaceCols,
                                  microkernel, microkernel_rows, row_times_matrix,  row_times_panels, pack_a_panel,
                                  pack_b_panel_transposed};
    return t;
  }
};

}  // namespace normrt::kernels::simd
