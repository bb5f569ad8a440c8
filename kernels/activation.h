// Element-wise activations over float32, per ISA (activation_simd.h, instantiated in
// activation_<isa>.cpp). Each primitive maps n values of x to y (y may equal x).
#pragma once
#include <cstdint>

#include "kernels/isa.h"

namespace normrt::kernels {

// Activations a GEMM epilogue can apply while C is in cache.
enum class Activation { None, Relu, GeluErf, GeluTanh };

struct ActivationPrimitives {
  Isa isa;
  void (*erf)(const float* x, float* y, int64_t n);
  void (*tanh)(const float* x, float* y, int64_t n);
  void (*sigmoid)(const float* x, float* y, int64_t n);  // 1 / (1 + exp(-x))
  // y[r * ldy + i] = act(y[r * ldy + i] + bias[i]) for `rows` rows of n values (bias may be null):
  // the GEMM epilogue on a C tile, all its rows in one call (a call per row of a 6 x 16 tile had
  // made the epilogue 3.3% of wav2vec2-base's time).
  //   GeluErf: 0.5 x (1 + erf(x / sqrt 2)); GeluTanh: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
  void (*bias_act)(float* y, int64_t ldy, int64_t rows, const float* bias, int64_t n, Activation act);
};

// The scalar definition of each activation, shared by the scalar path and the reference.
float activation_scalar(float x, Activation act);

const ActivationPrimitives& activation_primitives(Isa isa);

}  // namespace normrt::kernels
