// NEON (AArch64) instantiation of the activations.
#include "kernels/activation_simd.h"

namespace normrt::kernels {
const ActivationPrimitives& activation_primitives_neon() { return simd::Activation<xsimd::neon64>::table(Isa::Neon); }
}  // namespace normrt::kernels
