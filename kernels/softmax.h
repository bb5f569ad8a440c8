// Softmax / LogSoftmax. Contiguous rows (the axis is the last dim, the common case) run on per-ISA
// primitives (softmax_simd.h): one pass finds the max and the sum of exp(x - max) together,
// rescaling the running sum when a block raises the max (online softmax), and a second pass writes
// exp(x - max) / sum. A row that is all -inf (fully masked) gives zeros (log form: -inf); NaN in
// a row makes that row NaN. The strided form (axis not last) stays a plain loop.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/isa.h"

namespace normrt::kernels {

struct SoftmaxPrimitives {
  Isa isa;
  // Rows [r0, r1) of a [rows, n] matrix, contiguous.
  void (*rows)(const float* x, float* y, int64_t n, bool log_softmax, int64_t r0, int64_t r1);
};

const SoftmaxPrimitives& softmax_primitives(Isa isa);

// Lanes [lane_begin, lane_end) of the outer*inner lanes of a tensor seen as [outer, axis_len,
// inner], each a strided row of axis_len values.
inline void softmax_lanes_f32(const float* x, float* y, int64_t axis_len, int64_t inner, bool log_softmax,
                              int64_t lane_begin, int64_t lane_end) {
  for (int64_t lane = lane_begin; lane < lane_end; ++lane) {
    const int64_t base = (lane / inner) * axis_len * inner + lane % inner;
    const float* xr = x + base;
    float* yr = y + base;
    float mx = -std::numeric_limits<float>::infinity();
    bool has_nan = false;
    for (int64_t i = 0; i < axis_len; ++i) {
      float v = xr[i * inner];
      has_nan |= std::isnan(v);
      mx = v > mx ? v : mx;
    }
    if (has_nan) {
      for (int64_t i = 0; i < axis_len; ++i) yr[i * inner] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    if (mx == -std::numeric_limits<float>::infinity()) {
      for (int64_t i = 0; i < axis_len; ++i) yr[i * inner] = log_softmax ? mx : 0.0f;
      continue;
    }
    double sum = 0;
    for (int64_t i = 0; i < axis_len; ++i) sum += std::exp(double(xr[i * inner]) - mx);
    if (log_softmax) {
      const double lse = std::log(sum);
      for (int64_t i = 0; i < axis_len; ++i) yr[i * inner] = float(double(xr[i * inner]) - mx - lse);
    } else {
      const double inv = 1.0 / sum;
      for (int64_t i = 0; i < axis_len; ++i) yr[i * inner] = float(std::exp(double(xr[i * inner]) - mx) * inv);
    }
  }
}

}  // namespace normrt::kernels
