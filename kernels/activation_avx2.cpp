// AVX2 + FMA instantiation of the activations.
#include "kernels/activation_simd.h"

namespace normrt::kernels {
const ActivationPrimitives& activation_primitives_avx2() { return simd::Activation<xsimd::fma3<xsimd::avx2>>::table(Isa::Avx2); }
}  // namespace normrt::kernels
