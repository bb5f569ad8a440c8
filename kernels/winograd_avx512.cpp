// AVX-512 instantiation of the Winograd F(4x4, 3x3) transforms.
#include <xsimd/xsimd.hpp>

#include "kernels/winograd_simd.h"

namespace normrt::kernels {
const WinogradPrimitives& winograd_primitives_avx512() { return simd::Winograd<xsimd::batch<float, xsimd::avx512bw>>::table(Isa::Avx512); }
}  // namespace normrt::kernels
