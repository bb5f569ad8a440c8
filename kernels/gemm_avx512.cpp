// AVX-512 SGEMM microkernel: 6 x 32 tile (12 zmm accumulators), up to 8 rows for a block's last
// tile (GemmPrimitives::mr_max), depth block 768.
#include "kernels/gemm_simd.h"

namespace normrt::kernels {
const GemmPrimitives& gemm_primitives_avx512() {
  return simd::Gemm<xsimd::avx512bw, 6, 2, 768, kGemmInPlaceMaxColumns, 8>::table(Isa::Avx512);
}
}  // namespace normrt::kernels
