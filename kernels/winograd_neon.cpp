// NEON instantiation of the Winograd F(4x4, 3x3) transforms.
#include <xsimd/xsimd.hpp>

#include "kernels/winograd_simd.h"

namespace normrt::kernels {
const WinogradPrimitives& winograd_primitives_neon() { return simd::Winograd<xsimd::batch<float, xsimd::neon64>>::table(Isa::Neon); }
}  // namespace normrt::kernels
