// Online softmax rows written once with xsimd; softmax_<isa>.cpp instantiates them per ISA.
#pragma once
#include <cmath>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "kernels/simd_math.h"
#include "kernels/softmax.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Softmax {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  static void row(const float* x, float* y, int64_t n, bool log_softmax) {
    constexpr float kNegInf = -std::numeric_limits<float>::infinity();
    // Pass 1: per-lane running max m and sum s of exp(x - m). A block of vectors first finds its
    // max; the running sum is rescaled only when that raises m, so each value costs one exp. Every
    // exp here has an argument <= 0 (or -inf, or NaN where the selects discard it), the range
    // fast_exp is exact on: xsimd::exp had cost 32 TSC cycles per vector of a row in L1 (Zen 3).
    B m(kNegInf), s(0.0f);
    xsimd::batch_bool<float, Arch> has_nan(false);  // max() may drop a NaN: remember it here
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const B v0 = B::load_unaligned(x + i), v1 = B::load_unaligned(x + i + W);
      const B m_new = xsimd::max(m, xsimd::max(v0, v1));
      // exp(m - m_new) is exp(-inf - -inf) = NaN while a lane has seen only -inf: keep 0 there.
      const B scale = xsimd::select(m_new == B(kNegInf), B(0.0f), fast_exp(m - m_new));
      s = s * scale + xsimd::select(m_new == B(kNegInf), B(0.0f), fast_exp(v0 - m_new) + fast_exp(v1 - m_new));
      has_nan = has_nan | (v0 != v0) | (v1 != v1);
      m = m_new;
    }
    float mx = kNegInf;
    alignas(64) float lm[W], ls[W];
    m.store_aligned(lm);
    s.store_aligned(ls);
    for (int64_t l = 0; l < W; ++l) mx = std::max(mx, lm[l]);
    for (int64_t j = i; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
    double sum = 0;
    bool nan = xsimd::any(has_nan);
    for (int64_t l = 0; l < W; ++l) {
      nan |= std::isnan(ls[l]);
      if (lm[l] != kNegInf) sum += double(ls[l]) * std::exp(double(lm[l]) - mx);
    }
    for (int64_t j = i; j < n; ++j) {
      nan |= std::isnan(x[j]);
      if (x[j] != kNegInf) sum += std::exp(double(x[j]) - mx);
    }
    if (nan || std::isnan(mx)) {
      for (int64_t j = 0; j < n; ++j) y[j] = std::numeric_limits<float>::quiet_NaN();
      return;
    }
    if (mx == kNegInf) {  // fully masked row
      for (int64_t j = 0; j < n; ++j) y[j] = log_softmax ? kNegInf : 0.0f;
      return;
    }
    // Pass 2: normalize.
    const B mv(mx);
    int64_t j = 0;
    if (log_softmax) {
      const float lse = static_cast<float>(std::log(sum));
      const B shift(lse);
      for (; j + W <= n; j += W) ((B::load_unaligned(x + j) - mv) - shift).store_unaligned(y + j);
      for (; j < n; ++j) y[j] = (x[j] - mx) - lse;
    } else {
      const float inv = static_cast<float>(1.0 / sum);
      const B iv(inv);
      for (; j + W <= n; j += W) (fast_exp(B::load_unaligned(x + j) - mv) * iv).store_unaligned(y + j);
      for (; j < n; ++j) y[j] = std::exp(x[j] - mx) * inv;
    }
  }

  static void rows(const float* x, float* y, int64_t n, bool log_softmax, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) row(x + r * n, y + r * n, n, log_softmax);
  }

  static const SoftmaxPrimitives& table(Isa isa) {
    static const SoftmaxPrimitives t{isa, rows};
    return t;
  }
};

}  // namespace normrt::kernels::simd
