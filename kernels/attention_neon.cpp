// NEON (AArch64) instantiation of the attention row operations.
#include "kernels/attention_simd.h"

namespace normrt::kernels {
const AttentionPrimitives& attention_primitives_neon() { return simd::Attention<xsimd::neon64>::table(Isa::Neon); }
}  // namespace normrt::kernels
