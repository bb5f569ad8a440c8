// The SGEMM microkernel written once with xsimd; gemm_<isa>.cpp instantiates it with that ISA's
// flags. The tile is MR rows by two vectors: MR * 2 accumulators stay in registers for the whole
// kc loop, each step broadcasting one A value per row against two B vectors.
#pragma once
#include <xsimd/xsimd.hpp>

#include "kernels/gemm.h"

namespace normrt::kernels::simd {

template <class Arch, int MR>
struct Gemm {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;
  static constexpr int64_t NR = 2 * W;

  static void microkernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate, int64_t rows,
                          int64_t cols) {
    B acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) acc0[i] = B(0.0f), acc1[i] = B(0.0f);
    for (int64_t p = 0; p < kc; ++p) {
      const B b0 = B::load_aligned(b + p * NR), b1 = B::load_aligned(b + p * NR + W);
      const float* ap = a + p * MR;
      for (int i = 0; i < MR; ++i) {
        const B ai(ap[i]);
        acc0[i] = xsimd::fma(ai, b0, acc0[i]);
        acc1[i] = xsimd::fma(ai, b1, acc1[i]);
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

  static const GemmPrimitives& table(Isa isa) {
    static const GemmPrimitives t{isa, MR, static_cast<int>(NR), microkernel};
    return t;
  }
};

}  // namespace normrt::kernels::simd
