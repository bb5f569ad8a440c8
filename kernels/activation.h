// Element-wise activations over float32, per ISA (activation_simd.h, instantiated in
// activation_<isa>.cpp). Each primitive maps n values of x to y (y may equal x).
#pragma once
#include <cstdint>

#include "kernels/isa.h"

namespace normrt::kernels {

struct ActivationPrimitives {
  Isa isa;
  void (*erf)(const float* x, float* y, int64_t n);
};

const ActivationPrimitives& activation_primitives(Isa isa);

}  // namespace normrt::kernels
