#include "kernels/activation.h"

#include <cmath>

namespace normrt::kernels {

#if defined(__x86_64__)
const ActivationPrimitives& activation_primitives_avx2();
const ActivationPrimitives& activation_primitives_avx512();
#elif defined(__aarch64__)
const ActivationPrimitives& activation_primitives_neon();
#endif

float activation_scalar(float x, Activation act) {
  switch (act) {
    case Activation::Relu: return x > 0.0f ? x : (x == x ? 0.0f : x);  // NaN stays NaN
    case Activation::GeluErf: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::GeluTanh: return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Activation::None: break;
  }
  return x;
}

namespace {
void scalar_erf(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
}
void scalar_tanh(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void scalar_sigmoid(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}
void scalar_bias_act(float* y, int64_t ldy, int64_t rows, const float* bias, int64_t n, Activation act) {
  for (int64_t r = 0; r < rows; ++r, y += ldy)
    for (int64_t i = 0; i < n; ++i) y[i] = activation_scalar(bias ? y[i] + bias[i] : y[i], act);
}
}  // namespace

const ActivationPrimitives& activation_primitives(Isa isa) {
  switch (checked_isa(isa)) {
#if defined(__x86_64__)
    case Isa::Avx512: return activation_primitives_avx512();
    case Isa::Avx2: return activation_primitives_avx2();
#elif defined(__aarch64__)
    case Isa::Neon: return activation_primitives_neon();
#endif
    default: {
      static const ActivationPrimitives t{Isa::Scalar, scalar_erf, scalar_tanh, scalar_sigmoid, scalar_bias_act};
      return t;
    }
  }
}

}  // namespace normrt::kernels
