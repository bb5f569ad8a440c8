// Softmax / LogSoftmax along one axis of a tensor seen as [outer, axis_len, inner].
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace normrt::kernels {

// Lanes [lane_begin, lane_end) of the outer*inner lanes, each a strided row of axis_len values.
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
      // Every value is -inf (a fully masked row): zeros for softmax, -inf for log-softmax.
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
