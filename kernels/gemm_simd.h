// The SGEMM microkernel written once with xsimd; gemm_<isa>.cpp instantiates it with that ISA's
// flags. The tile is MR rows by two vectors: MR * 2 accumulators stay in registers for the whole
// kc loop, each step broadcasting one A value per row against two B vectors.
#pragma once
#include <algorithm>
#include <cmath>

#include <xsimd/xsimd.hpp>

#include "kernels/gemm.h"
#include "kernels/simd_fma.h"

namespace normrt::kernels::simd {

template <class Arch, int MR>
struct Gemm {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;
  static constexpr int64_t NR = 2 * W;

  // A from packed panels (a + p * MR + i) or, when Packed is false, read in place from row-major
  // memory (a + i * lda + p): the broadcasts cost the same either way while the rows sit in L1.
  template <bool Packed>
  static void tile(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate, int64_t rows,
                   int64_t cols) {
    B acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = B(0.0f), acc1[i] = B(0.0f);
    if constexpr (Packed) {
      for (int64_t p = 0; p < kc; ++p) {
        const B b0 = B::load_aligned(b + p * NR), b1 = B::load_aligned(b + p * NR + W);
        const float* ap = a + p * MR;
        for (int i = 0; i < MR; ++i) {
          const B ai(ap[i]);
          acc0[i] = fmadd(ai, b0, acc0[i]);
          acc1[i] = fmadd(ai, b1, acc1[i]);
        }
      }
    } else {
      const float* row[MR];  // rows past the edge repeat the last one (computed, never stored)
      for (int i = 0; i < MR; ++i) row[i] = a + std::min<int64_t>(i, rows - 1) * lda;
      for (int64_t p = 0; p < kc; ++p) {
        const B b0 = B::load_aligned(b + p * NR), b1 = B::load_aligned(b + p * NR + W);
        for (int i = 0; i < MR; ++i) {
          const B ai(row[i][p]);
          acc0[i] = fmadd(ai, b0, acc0[i]);
          acc1[i] = fmadd(ai, b1, acc1[i]);
        }
      }
    }
    if (rows == MR && cols == NR) {
      for (int i = 0; i < MR; ++i) {
        float* ci = c + i * ldc;
        if (accumulate) {
          acc0[i] += B::load_unaligned(ci);
          acc1[i] += B::load_unaligned(ci + W);
        }
        acc0[i].store_unaligned(ci);
        acc1[i].store_unaligned(ci + W);
      }
      return;
    }
    // Edge tile: through a buffer, writing only the valid part.
    alignas(64) float tile[MR * NR];
    for (int i = 0; i < MR; ++i) {
      acc0[i].store_aligned(tile + i * NR);
      acc1[i].store_aligned(tile + i * NR + W);
    }
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
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
                          int64_t cols) {
    tile<true>(kc, a, 0, b, c, ldc, accumulate, rows, cols);
  }

  // One row of A against packed B panels: each panel (kc x NR, contiguous) is streamed once. Each
  // output vector is one FMA chain over k, in the microkernel's order, so a row gives the same bits
  // whether it goes through here or through a tile; two panels at a time hide the FMA latency.
  static void row_times_panels(int64_t kc, const float* a, const float* panels, int64_t n_panels, float* c, int64_t cols,
                               bool accumulate) {
    auto store = [&](int64_t jr, B s0, B s1) {
      float* cj = c + jr * NR;
      const int64_t w = std::min<int64_t>(NR, cols - jr * NR);
      if (w == NR) {
        if (accumulate) s0 += B::load_unaligned(cj), s1 += B::load_unaligned(cj + W);
        s0.store_unaligned(cj);
        s1.store_unaligned(cj + W);
        return;
      }
      alignas(64) float buf[NR];
      s0.store_aligned(buf);
      s1.store_aligned(buf + W);
      for (int64_t j = 0; j < w; ++j) cj[j] = accumulate ? buf[j] + cj[j] : buf[j];
    };
    int64_t jr = 0;
    for (; jr + 2 <= n_panels; jr += 2) {
      const float* b0 = panels + jr * kc * NR;
      const float* b1 = b0 + kc * NR;
      B s0(0.0f), s1(0.0f), t0(0.0f), t1(0.0f);
      for (int64_t p = 0; p < kc; ++p) {
        const B ap(a[p]);
        s0 = fmadd(ap, B::load_aligned(b0 + p * NR), s0);
        s1 = fmadd(ap, B::load_aligned(b0 + p * NR + W), s1);
        t0 = fmadd(ap, B::load_aligned(b1 + p * NR), t0);
        t1 = fmadd(ap, B::load_aligned(b1 + p * NR + W), t1);
      }
      store(jr, s0, s1);
      store(jr + 1, t0, t1);
    }
    if (jr < n_panels) {
      const float* b0 = panels + jr * kc * NR;
      B s0(0.0f), s1(0.0f);
      for (int64_t p = 0; p < kc; ++p) {
        const B ap(a[p]);
        s0 = fmadd(ap, B::load_aligned(b0 + p * NR), s0);
        s1 = fmadd(ap, B::load_aligned(b0 + p * NR + W), s1);
      }
      store(jr, s0, s1);
    }
  }

  static void microkernel_rows(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate,
                               int64_t rows, int64_t cols) {
    tile<false>(kc, a, lda, b, c, ldc, accumulate, rows, cols);
  }

  static const GemmPrimitives& table(Isa isa) {
    static const GemmPrimitives t{isa, MR, static_cast<int>(NR), microkernel, microkernel_rows, row_times_matrix, row_times_panels};
    return t;
  }
};

}  // namespace normrt::kernels::simd
