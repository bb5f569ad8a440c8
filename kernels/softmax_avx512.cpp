// AVX-512 instantiation of the online softmax rows.
#include "kernels/softmax_simd.h"

namespace normrt::kernels {
const SoftmaxPrimitives& softmax_primitives_avx512() { return simd::Softmax<xsimd::avx512bw>::table(Isa::Avx512); }
}  // namespace normrt::kernels
