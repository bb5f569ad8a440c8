// AVX2 + FMA instantiation of the normalization primitives (compiled with -mavx2 -mfma).
#include "kernels/norm_simd.h"

namespace normrt::kernels {
const NormPrimitives& norm_primitives_avx2() { return simd::Norm<xsimd::fma3<xsimd::avx2>>::table(Isa::Avx2); }
}  // namespace normrt::kernels
