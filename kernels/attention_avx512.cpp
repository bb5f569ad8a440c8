// AVX-512 instantiation of the attention row operations.
#include "kernels/attention_simd.h"

namespace normrt::kernels {
const AttentionPrimitives& attention_primitives_avx512() { return simd::Attention<xsimd::avx512bw>::table(Isa::Avx512); }
}  // namespace normrt::kernels
