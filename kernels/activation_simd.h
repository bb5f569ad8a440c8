// Activations written once with xsimd (erf from simd_math.h); activation_<isa>.cpp instantiates them.
#pragma once
#include <cmath>

#include <xsimd/xsimd.hpp>

#include "kernels/activation.h"
#include "kernels/simd_math.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Activation {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  static void erf(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) fast_erf(B::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = std::erf(x[i]);
  }

  static void tanh(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) xsimd::tanh(B::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = std::tanh(x[i]);
  }

  static void sigmoid(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) (B(1.0f) / (B(1.0f) + xsimd::exp(-B::load_unaligned(x + i)))).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
  }

  template <kernels::Activation A>
  static B apply(B x) {
    if constexpr (A == kernels::Activation::Relu) return xsimd::select(x < B(0.0f), B(0.0f), x);  // NaN compares false: kept
    else if constexpr (A == kernels::Activation::GeluErf) return B(0.5f) * x * (B(1.0f) + fast_erf(x * B(0.70710678118654752f)));
    else if constexpr (A == kernels::Activation::GeluTanh)
      return B(0.5f) * x * (B(1.0f) + xsimd::tanh(B(0.79788456080286536f) * (x + B(0.044715f) * x * x * x)));
    else return x;
  }

  // Column vector by column vector, each bias vector loaded once for all the rows.
  template <kernels::Activation A>
  static void bias_act_loop(float* y, int64_t ldy, int64_t rows, const float* bias, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) {
      const B bv = bias ? B::load_unaligned(bias + i) : B(0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        float* p = y + r * ldy + i;
        B v = B::load_unaligned(p);
        if (bias) v += bv;
        apply<A>(v).store_unaligned(p);
      }
    }
    for (; i < n; ++i)
      for (int64_t r = 0; r < rows; ++r) {
        float& v = y[r * ldy + i];
        v = kernels::activation_scalar(bias ? v + bias[i] : v, A);
      }
  }

  static void bias_act(float* y, int64_t ldy, int64_t rows, const float* bias, int64_t n, kernels::Activation act) {
    switch (act) {
      case kernels::Activation::Relu: return bias_act_loop<kernels::Activation::Relu>(y, ldy, rows, bias, n);
      case kernels::Activation::GeluErf: return bias_act_loop<kernels::Activation::GeluErf>(y, ldy, rows, bias, n);
      case kernels::Activation::GeluTanh: return bias_act_loop<kernels::Activation::GeluTanh>(y, ldy, rows, bias, n);
      case kernels::Activation::None: return bias_act_loop<kernels::Activation::None>(y, ldy, rows, bias, n);
    }
  }

  static const ActivationPrimitives& table(Isa isa) {
    static const ActivationPrimitives t{isa, erf, tanh, sigmoid, bias_act};
    return t;
  }
};

}  // namespace normrt::kernels::simd
