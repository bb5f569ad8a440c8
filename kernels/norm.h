// Normalization kernels. This first version is the exact reference path: statistics in float64
// from sums shifted by the row's first element (so a large mean does not cancel the variance),
// then one normalize-and-affine sweep. The SIMD single-pass kernels build on the same contract.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/elementwise.h"

namespace normrt::kernels {

// Mean and 1/sqrt(var + eps) of n values, var being the population variance.
template <class T>
inline void row_moments(const T* x, int64_t n, double eps, double& mean, double& inv_std) {
  const double pivot = n > 0 ? double(compute_t<T>(x[0])) : 0.0;
  double s = 0, ss = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = double(compute_t<T>(x[i])) - pivot;
    s += v;
    ss += v * v;
  }
  const double m = n > 0 ? s / double(n) : 0.0;
  const double var = n > 0 ? std::max(ss / double(n) - m * m, 0.0) : 0.0;
  mean = pivot + m;
  inv_std = 1.0 / std::sqrt(var + eps);
  if (std::isnan(s) || std::isnan(ss)) mean = inv_std = std::nan("");  // NaN anywhere poisons the row
}

// LayerNormalization over rows [row_begin, row_end) of a [rows, d] matrix.
// scale and bias have d elements (bias may be null); mean / inv_std (may be null) one per row.
template <class T, class U>
void layer_norm_rows(const T* x, const T* scale, const T* bias, T* y, U* mean_out, U* inv_std_out, int64_t d,
                     double eps, int64_t row_begin, int64_t row_end) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    double mean, inv_std;
    row_moments(xr, d, eps, mean, inv_std);
    for (int64_t i = 0; i < d; ++i) {
      double v = (double(compute_t<T>(xr[i])) - mean) * inv_std * double(compute_t<T>(scale[i]));
      if (bias) v += double(compute_t<T>(bias[i]));
      yr[i] = T(static_cast<compute_t<T>>(v));
    }
    if (mean_out) mean_out[r] = U(static_cast<compute_t<U>>(mean));
    if (inv_std_out) inv_std_out[r] = U(static_cast<compute_t<U>>(inv_std));
  }
}

}  // namespace normrt::kernels
