// AVX2 + FMA SGEMM microkernel: 6 x 16 tile (12 ymm accumulators), depth block 768, A always packed
// (see GemmPrimitives::in_place_a_max_cols).
#include "kernels/gemm_simd.h"

namespace normrt::kernels {
const GemmPrimitives& gemm_primitives_avx2() { return simd::Gemm<xsimd::fma3<xsimd::avx2>, 6, 2, 768, 0>::table(Isa::Avx2); }
}  // namespace normrt::kernels
