// AVX2 + FMA instantiation of the online softmax rows.
#include "kernels/softmax_simd.h"

namespace normrt::kernels {
const SoftmaxPrimitives& softmax_primitives_avx2() { return simd::Softmax<xsimd::fma3<xsimd::avx2>>::table(Isa::Avx2); }
}  // namespace normrt::kernels
