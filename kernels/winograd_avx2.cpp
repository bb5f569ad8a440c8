// AVX2 + FMA instantiation of the Winograd F(4x4, 3x3) transforms.
#include <xsimd/xsimd.hpp>

#include "kernels/winograd_simd.h"

namespace normrt::kernels {
const WinogradPrimitives& winograd_primitives_avx2() { return simd::Winograd<xsimd::batch<float, xsimd::fma3<xsimd::avx2>>>::table(Isa::Avx2); }
}  // namespace normrt::kernels
