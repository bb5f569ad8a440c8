// AVX-512 instantiation of the activations.
#include "kernels/activation_simd.h"

namespace normrt::kernels {
const ActivationPrimitives& activation_primitives_avx512() { return simd::Activation<xsimd::avx512bw>::table(Isa::Avx512); }
}  // namespace normrt::kernels
