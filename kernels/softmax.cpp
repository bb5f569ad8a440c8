#include "kernels/softmax.h"


namespace normrt::kernels {

#if defined(__x86_64__)
const SoftmaxPrimitives& softmax_primitives_avx2();
const SoftmaxPrimitives& softmax_primitives_avx512();
#elif defined(__aarch64__)
const SoftmaxPrimitives& softmax_primitives_neon();
#endif

namespace {
// The portable path: the strided loop with a stride of 1.
void scalar_rows(const float* x, float* y, int64_t n, bool log_softmax, int64_t r0, int64_t r1) {
  softmax_lanes_f32(x, y, n, 1, log_softmax, r0, r1);
}
}  // namespace

const SoftmaxPrimitives& softmax_primitives(Isa isa) {
  switch (checked_isa(isa)) {
#if defined(__x86_64__)
    case Isa::Avx512: return softmax_primitives_avx512();
    case Isa::Avx2: return softmax_primitives_avx2();
#elif defined(__aarch64__)
    case Isa::Neon: return softmax_primitives_neon();
#endif
    default: {
      static const SoftmaxPrimitives t{Isa::Scalar, scalar_rows};
      return t;
    }
  }
}

}  // namespace normrt::kernels
