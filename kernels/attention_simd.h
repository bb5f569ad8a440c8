// The row operations of the attention loop written once with xsimd; attention_<isa>.cpp
// instantiates them with that ISA's flags. Contract in kernels/attention.h.
#pragma once
#include <cmath>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "kernels/attention.h"
#include "kernels/simd_fma.h"
#include "kernels/simd_math.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Attention {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  static void scale(float* s, int64_t n, float a) {
    const B av(a);
    int64_t j = 0;
    for (; j + W <= n; j += W) (B::load_unaligned(s + j) * av).store_unaligned(s + j);
    for (; j < n; ++j) s[j] *= a;
  }

  static void softcap(float* s, int64_t n, float cap) {
    const B c(cap), inv(1.0f / cap);
    int64_t j = 0;
    for (; j + W <= n; j += W) (c * xsimd::tanh(B::load_unaligned(s + j) * inv)).store_unaligned(s + j);
    for (; j < n; ++j) s[j] = cap * std::tanh(s[j] * (1.0f / cap));
  }

  static void add(float* s, const float* b, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) (B::load_unaligned(s + j) + B::load_unaligned(b + j)).store_unaligned(s + j);
    for (; j < n; ++j) s[j] += b[j];
  }

  static void add_constant(float* s, float c, int64_t n) {
    const B cv(c);
    int64_t j = 0;
    for (; j + W <= n; j += W) (B::load_unaligned(s + j) + cv).store_unaligned(s + j);
    for (; j < n; ++j) s[j] += c;
  }

  static void replace(float* s, const float* b, int64_t n) {
    int64_t j = 0;
    for (; j + W <= n; j += W) {
      const B bv = B::load_unaligned(b + j);
      xsimd::select(bv != B(0.0f), bv, B::load_unaligned(s + j)).store_unaligned(s + j);
    }
    for (; j < n; ++j)
      if (b[j] != 0.0f) s[j] = b[j];
  }

  static float max(const float* s, int64_t n) {
    B m(-std::numeric_limits<float>::infinity());
    xsimd::batch_bool<float, Arch> nan(false);  // xsimd::max may drop a NaN: remember it here
    int64_t j = 0;
    for (; j + W <= n; j += W) {
      const B v = B::load_unaligned(s + j);
      nan = nan | (v != v);
      m = xsimd::max(m, v);
    }
    if (xsimd::any(nan)) return std::numeric_limits<float>::quiet_NaN();
    alignas(64) float lanes[W];  // xsimd 8.1 has no horizontal max
    m.store_aligned(lanes);
    float r = lanes[0];
    for (int64_t l = 1; l < W; ++l) r = std::max(r, lanes[l]);
    for (; j < n; ++j) {
      if (std::isnan(s[j])) return s[j];
      r = std::max(r, s[j]);
    }
    return r;
  }

  static float exp_sum(float* s, int64_t n, float m) {
    const B mv(m);
    B acc0(0.0f), acc1(0.0f);
    int64_t j = 0;
    for (; j + 2 * W <= n; j += 2 * W) {
      const B e0 = fast_exp(B::load_unaligned(s + j) - mv), e1 = fast_exp(B::load_unaligned(s + j + W) - mv);
      e0.store_unaligned(s + j);
      e1.store_unaligned(s + j + W);
      acc0 += e0, acc1 += e1;
    }
    for (; j + W <= n; j += W) {
      const B e = fast_exp(B::load_unaligned(s + j) - mv);
      e.store_unaligned(s + j);
      acc0 += e;
    }
    float sum = xsimd::hadd(acc0 + acc1);
    for (; j < n; ++j) sum += (s[j] = std::exp(s[j] - m));
    return sum;
  }

  static void scale_add(float* o, const float* t, int64_t n, float alpha) {
    const B a(alpha);
    int64_t j = 0;
    for (; j + W <= n; j += W) fmadd(B::load_unaligned(o + j), a, B::load_unaligned(t + j)).store_unaligned(o + j);
    for (; j < n; ++j) o[j] = std::fma(o[j], alpha, t[j]);
  }

  static const AttentionPrimitives& table(Isa isa) {
    static const AttentionPrimitives t{isa, scale, softcap, add, add_constant, replace, max, exp_sum, scale_add};
    return t;
  }
};

}  // namespace normrt::kernels::simd
