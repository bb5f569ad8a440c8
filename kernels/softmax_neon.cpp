// NEON (AArch64) instantiation of the online softmax rows.
#include "kernels/softmax_simd.h"

namespace normrt::kernels {
const SoftmaxPrimitives& softmax_primitives_neon() { return simd::Softmax<xsimd::neon64>::table(Isa::Neon); }
}  // namespace normrt::kernels
