// AVX-512 instantiation of the normalization primitives (compiled with -mavx512f/bw/dq/vl -mfma).
#include "kernels/norm_simd.h"

namespace normrt::kernels {
const NormPrimitives& norm_primitives_avx512() { return simd::Norm<xsimd::avx512bw>::table(Isa::Avx512); }
}  // namespace normrt::kernels
