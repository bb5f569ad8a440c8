// NEON SGEMM microkernel: 8 x 8 tile (16 of the 32 q registers as accumulators), depth block 256.
#include "kernels/gemm_simd.h"

namespace normrt::kernels {
const GemmPrimitives& gemm_primitives_neon() { return simd::Gemm<xsimd::neon64, 8, 2, 256>::table(Isa::Neon); }
}  // namespace normrt::kernels
