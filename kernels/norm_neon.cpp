// NEON (AArch64) instantiation of the normalization primitives.
#include "kernels/norm_simd.h"

namespace normrt::kernels {
const NormPrimitives& norm_primitives_neon() { return simd::Norm<xsimd::neon64>::table(Isa::Neon); }
}  // namespace normrt::kernels
