// AVX-512 SGEMM microkernel: 6 x 32 tile (12 zmm accumulators), depth block 768.
#include "kernels/gemm_simd.h"

namespace normrt::kernels {
const GemmPrimitives& gemm_primitives_avx512() { return simd::Gemm<xsimd::avx512bw, 6, 2, 768>::table(Isa::Avx512); }
}  // namespace normrt::kernels
