// Activations written once with xsimd (its vector erf); activation_<isa>.cpp instantiates them.
#pragma once
#include <cmath>

#include <xsimd/xsimd.hpp>

#include "kernels/activation.h"

namespace normrt::kernels::simd {

template <class Arch>
struct Activation {
  using B = xsimd::batch<float, Arch>;
  static constexpr int64_t W = B::size;

  static void erf(const float* x, float* y, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) xsimd::erf(B::load_unaligned(x + i)).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = std::erf(x[i]);
  }

  static const ActivationPrimitives& table(Isa isa) {
    static const ActivationPrimitives t{isa, erf};
    return t;
  }
};

}  // namespace normrt::kernels::simd
