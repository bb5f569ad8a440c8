// AVX2 + FMA instantiation of the attention row operations.
#include "kernels/attention_simd.h"

namespace normrt::kernels {
const AttentionPrimitives& attention_primitives_avx2() { return simd::Attention<xsimd::fma3<xsimd::avx2>>::table(Isa::Avx2); }
}  // namespace normrt::kernels
