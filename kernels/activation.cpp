#include "kernels/activation.h"

#include <cmath>

namespace normrt::kernels {

#if defined(__x86_64__)
const ActivationPrimitives& activation_primitives_avx2();
const ActivationPrimitives& activation_primitives_avx512();
#elif defined(__aarch64__)
const ActivationPrimitives& activation_primitives_neon();
#endif

namespace {
void scalar_erf(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
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
      static const ActivationPrimitives t{Isa::Scalar, scalar_erf};
      return t;
    }
  }
}

}  // namespace normrt::kernels
